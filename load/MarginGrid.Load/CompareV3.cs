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
                var (result, byKeeper) = await CompareRun.RunStepByStepAsync(name, variant, config, setup, keepers, bids, onGrid, cancellationToken);
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
}
