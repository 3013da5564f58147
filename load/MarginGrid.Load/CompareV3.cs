using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;
using Spectre.Console;

namespace MarginGrid.Load;

/// <summary>
/// <c>--compare v3</c> (issue 13): a crash three ways on the same accounts and prices — collateral sold to the system
/// at the fixed discount (v1), Dutch auctions of collateral bought by a population of simulated keepers
/// (<see cref="KeeperPopulation"/>), and auto-deleveraging — with the insurance fund's drawdown, the bad debt socialized
/// and what the keepers earned. Through <see cref="ModelEngine"/> (sequential), or with <c>--compare-on grid</c> through
/// the embedded grid in lockstep with it (<see cref="GridLockstep"/>): the same price steps and the same bids, every
/// step's events compared.
/// </summary>
public static class CompareV3
{
    /// <summary>The collateral auctions: top at the mark, −1 % every 0.5 s, at most 60 s, down to half.</summary>
    public static AuctionConfig Auction { get; } = new(Buf: 1m, Step: 0.5m, Cut: 0.99m, Tail: 60m, Cusp: 0.5m);

    public const string GridAgrees = "grid (embedded, lockstep), agrees with model";

    public static async Task<CompareReport> RunAsync(LoadOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var keepers = KeeperPopulation.Create(options.Keepers, options.Seed);
        var onGrid = options.CompareEngine == "grid";
        var variants = new List<VariantResult>();
        var earnings = new List<string>();
        foreach (var scenario in new[] { LoadScenario.Crash20200312, LoadScenario.Cascade })
        {
            var setup = LoadSetup.Build(options with { Scenario = scenario }, "acct");
            var name = TickPlan.Name(scenario);
            var auctions = setup.Config with { Collateral = [.. setup.Config.Collateral.Select(c => c with { Auction = Auction })] };
            var adl = setup.Config with { Risk = setup.Config.Risk with { BankruptcyResolution = BankruptcyResolutions.Adl } };
            foreach (var (variant, config, bids) in new[]
            {
                ("v1: collateral sold at the fixed discount", setup.Config, false),
                ("auctions, keepers bid", auctions, true),
                ("ADL on (fixed-discount sales)", adl, false),
            })
            {
                cancellationToken.ThrowIfCancellationRequested();
                console.WriteLine($"{name}: {variant} ({(onGrid ? "grid, lockstep with the model" : CompareRun.ModelSequential)}) …");
                var (result, byKeeper) = await RunVariantAsync(name, variant, config, setup, keepers, bids, onGrid, cancellationToken);
                variants.Add(result);
                if (bids)
                {
                    earnings.Add($"{name}, keepers' takes and earnings: " + string.Join("; ", keepers.Select(k =>
                        byKeeper.TryGetValue(k.Id, out var e) ? string.Create(CultureInfo.InvariantCulture, $"{k.Id} {e.Takes} / {e.Earned:N2}") : $"{k.Id} 0")) + ".");
                }
            }
        }

        List<string> notes =
        [
            onGrid
                ? $"engine \"{GridAgrees}\": the embedded grid driven step by step with ModelEngine (the same price steps at the same engine-clock instants, the same keeper bids as command steps); every step's events are compared, and the fund, the socialized loss and conservation are read back through the grains."
                : $"engine \"{CompareRun.ModelSequential}\": ModelEngine, the domain's step code one step at a time; the keepers bid through its bid step. --compare-on grid runs the grid in lockstep with it.",
            string.Create(CultureInfo.InvariantCulture, $"auctions: every collateral asset (BTC, ETH) with buf {Auction.Buf}, step {Auction.Step} s, cut {Auction.Cut}, tail {Auction.Tail} s, cusp {Auction.Cusp}."),
            $"keepers ({keepers.Length}, seed {options.Seed}): {string.Join(", ", keepers)}. After every price step, over the running auctions by account id, the fastest keeper whose reaction time has passed and whose discount the price gives bids for the whole remaining lot at the current price (the domain's DutchAuction.Price); then the next, until nobody bids. Earnings: Σ quantity × (mark − price) at each purchase.",
            "ADL: risk bankruptcyResolution \"adl\": the deficit the fund does not cover is taken from the bankrupt account's profitable counterparties at the bankruptcy price.",
            "Fund drawdown: the insurance fund's start minus its lowest point during the run.",
            .. earnings,
        ];
        return new CompareReport("v3", options.Accounts, options.Markets, options.Seed, options.Duration.TotalSeconds, options.Rate, notes, variants);
    }

    /// <summary>One variant: the model step by step (the keepers bid after each price step), the grid in lockstep if asked.</summary>
    private static async Task<(VariantResult Result, Dictionary<string, (long Takes, decimal Earned)> ByKeeper)> RunVariantAsync(
        string comparison, string variant, RiskConfigSnapshot config, LoadSetup setup, ImmutableArray<Keeper> keepers, bool bids, bool onGrid, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var engine = new ReferenceEngine(
            config.ToDomain(),
            [.. setup.Ids.Select((id, i) => ReferenceEngine.Seed(id, setup.Seeds[i])), .. keepers.Select(KeeperPopulation.Seed)],
            LoadRun.InitialFund,
            LoadRun.InitialPriceTime);
        var tally = new CompareRun.Tally(LoadRun.InitialFund);
        var byKeeper = new Dictionary<string, (long Takes, decimal Earned)>(StringComparer.Ordinal);
        var initial = engine.Initialize(setup.StartPrices, LoadRun.InitialSource);
        tally.Add(engine);

        GridLockstep? grid = null;
        if (onGrid)
        {
            var (started, gridInitial) = await GridLockstep.StartAsync(
                config,
                [.. setup.Ids.Select((id, i) => (id, setup.Seeds[i])), .. keepers.Select(k => (k.Id, KeeperPopulation.AccountSeed(k)))],
                setup.StartPrices,
                cancellationToken);
            grid = started;
            grid.Compare(initial, gridInitial, "initial");
        }

        try
        {
            foreach (var tick in setup.Plan)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var want = engine.Step(tick);
                tally.Add(engine);
                if (grid is not null)
                {
                    grid.Compare(want, await grid.TickAsync(tick), $"update {tick.Index} ({tick.Market} {tick.Price})");
                }

                var tried = new HashSet<(string, string)>();
                while (bids && KeeperPopulation.NextBid(engine.Engine, keepers, tried) is { } bid)
                {
                    var took = engine.Bid(bid);
                    tally.Add(engine);
                    Earn(engine, byKeeper);
                    if (grid is not null)
                    {
                        grid.Compare(took, await grid.BidAsync(bid), $"bid of {bid.Account} on {bid.Target} after update {tick.Index}");
                    }
                }
            }

            var result = CompareRun.Result(comparison, variant, CompareRun.ModelSequential, setup.Plan.Length, tally, engine, clock);
            if (grid is null)
            {
                return (result, byKeeper);
            }

            var audit = await grid.AuditAsync([.. setup.Ids, .. keepers.Select(k => k.Id)]);
            var agrees = grid.Misses == 0 && grid.Extras == 0
                && audit.Fund.InsuranceFund == engine.Ledger.Fund && audit.Fund.SocializedLoss == engine.Ledger.SocializedLoss;
            return (result with
            {
                Engine = agrees
                    ? GridAgrees
                    : $"grid (embedded, lockstep), DISAGREES with model: {grid.Misses} missed, {grid.Extras} extra; {string.Join(" | ", grid.Examples.Take(2))}",
                InsuranceFund = audit.Fund.InsuranceFund,
                BadDebt = audit.Fund.SocializedLoss,
                ConservationHolds = audit.Conservation.Holds,
                Seconds = clock.Elapsed.TotalSeconds,
            }, byKeeper);
        }
        finally
        {
            if (grid is not null)
            {
                await grid.DisposeAsync();
            }
        }
    }

    private static void Earn(ReferenceEngine engine, Dictionary<string, (long Takes, decimal Earned)> byKeeper)
    {
        foreach (var e in engine.LastEvents.Where(e => e.Type == ModelEventType.AuctionTake && e.Liquidator is not null))
        {
            var earned = engine.Engine.Config.TryGetCollateral(e.Asset!, out var spec) && spec.PriceMarket is { } market
                ? e.Quantity!.Value * (MarginCalculator.Mark(engine.Engine.Marks, market) - e.Price!.Value)
                : 0m;
            var (takes, sum) = byKeeper.GetValueOrDefault(e.Liquidator!);
            byKeeper[e.Liquidator!] = (takes + 1, sum + earned);
        }
    }
}
