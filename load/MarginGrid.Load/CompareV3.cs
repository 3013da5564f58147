using System.Collections.Immutable;
using System.Globalization;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;
using Spectre.Console;

namespace MarginGrid.Load;

/// <summary>
/// <c>--compare v3</c> (issue 13): a crash three ways on the same accounts and prices — collateral sold to the system
/// at the fixed discount (v1), Dutch auctions of collateral bought by simulated keepers, and auto-deleveraging — with
/// the insurance fund's drawdown, the bad debt socialized and the keepers' earnings. Through <see cref="ModelEngine"/>
/// (sequential): keepers bid through the model's bid step, which the grid's API does not offer to the load tool.
/// </summary>
public static class CompareV3
{
    /// <summary>A keeper bids once an auction has run this long (seconds of the clock)…</summary>
    public const decimal ReactionSeconds = 2m;

    /// <summary>…and its price is at most the oracle's mark × (1 − this).</summary>
    public const decimal RequiredDiscount = 0.03m;

    /// <summary>The collateral auctions: top at the mark, −1 % every 0.5 s, at most 60 s, down to half.</summary>
    public static AuctionConfig Auction { get; } = new(Buf: 1m, Step: 0.5m, Cut: 0.99m, Tail: 60m, Cusp: 0.5m);

    public const string Keeper = "keeper-0";

    public static CompareReport Run(LoadOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var variants = new List<VariantResult>();
        foreach (var scenario in new[] { LoadScenario.Crash20200312, LoadScenario.Cascade })
        {
            var setup = LoadSetup.Build(options with { Scenario = scenario }, "acct");
            var name = TickPlan.Name(scenario);
            ModelAccountSeed[] keepers = [new(Keeper, new Dictionary<string, decimal> { [Assets.Usd] = 1_000_000_000m }, new Dictionary<string, Position>())];
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
                console.WriteLine($"{name}: {variant} …");
                variants.Add(CompareRun.RunModel(name, variant, config, setup, extra: keepers, afterStep: bids ? Bid : null));
            }
        }

        var inv = CultureInfo.InvariantCulture;
        List<string> notes =
        [
            $"engine \"{CompareRun.ModelSequential}\": ModelEngine, the domain's step code one step at a time; the keepers bid through its bid step.",
            string.Create(inv, $"auctions: every collateral asset (BTC, ETH) with buf {Auction.Buf}, step {Auction.Step} s, cut {Auction.Cut}, tail {Auction.Tail} s, cusp {Auction.Cusp}. A keeper (one account with 1e9 USD) bids for the whole lot at the current price once the auction has run {ReactionSeconds} s and its price is ≤ mark × (1 − {RequiredDiscount}); its earnings are Σ quantity × (mark − price) at the purchase."),
            "ADL: risk bankruptcyResolution \"adl\": the deficit the fund does not cover is taken from the bankrupt account's profitable counterparties at the bankruptcy price.",
            "Fund drawdown: the insurance fund's start minus its lowest point during the run.",
        ];
        return new CompareReport("v3", options.Accounts, options.Markets, options.Seed, options.Duration.TotalSeconds, options.Rate, notes, variants);
    }

    /// <summary>After a price step: the keeper bids on every auction (by account id) that is old and cheap enough.</summary>
    private static void Bid(ReferenceEngine engine, CompareRun.Tally tally)
    {
        var model = engine.Engine;
        foreach (var (target, a) in model.Auctions.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            if (model.Now - a.Start < ReactionSeconds || !model.Config.TryGetCollateral(a.Asset, out var spec) || spec.PriceMarket is not { } market)
            {
                continue;
            }

            var steps = decimal.Floor((model.Now - a.Start) / Auction.Step);
            var price = a.Top;
            for (var i = 0m; i < steps; i++)
            {
                price *= Auction.Cut;
            }

            if (price <= MarginCalculator.Mark(model.Marks, market) * (1m - RequiredDiscount))
            {
                engine.Bid(new ModelBidStep(Keeper, target, a.Asset, a.Lot, price));
                tally.Add(engine);
            }
        }
    }
}
