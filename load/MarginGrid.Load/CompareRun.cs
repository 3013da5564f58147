using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;
using MarginGrid.Simulation;
using Spectre.Console;

namespace MarginGrid.Load;

/// <summary>What one variant of a comparison measured over the whole run.</summary>
public sealed record VariantResult(
    string Comparison,
    string Variant,
    string Engine,
    int Updates,
    long Liquidations,
    long CollateralSales,
    long Bankruptcies,
    long Deferred,
    long PriceStale,
    long PriceHeld,
    long PeakClosesPerStep,
    decimal PeakClosedNotionalPerStep,
    decimal ClosedNotional,
    decimal Slippage,
    decimal InsuranceFundStart,
    decimal InsuranceFundLow,
    decimal InsuranceFund,
    decimal BadDebt,
    bool ConservationHolds,
    double Seconds)
{
    /// <summary>v3: bankruptcy deficits recovered from counterparties by auto-deleveraging, and its closes.</summary>
    public decimal AdlRecovered { get; init; }

    public long AdlCloses { get; init; }

    /// <summary>v3: auction purchases by the simulated keepers, and what they earned (Σ quantity × (mark − price)).</summary>
    public long AuctionTakes { get; init; }

    public decimal KeeperEarnings { get; init; }
}

/// <summary>The side-by-side runs of <c>--compare v2</c> (issue 11), with the configuration each variant changes.</summary>
public sealed record CompareReport(
    string Set,
    int Accounts,
    int Markets,
    int Seed,
    double DurationSeconds,
    double Rate,
    IReadOnlyList<string> Notes,
    IReadOnlyList<VariantResult> Variants)
{
    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    });

    public string ToMarkdown()
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine(inv, $"# MarginGrid: what each {Set} mechanism buys (`--compare {Set}`)");
        md.AppendLine();
        md.AppendLine(inv, $"{Accounts:N0} accounts, {Markets} markets, seed {Seed}, {DurationSeconds:0.#} s of updates at {Rate:N0}/s; the same accounts and prices for every variant of a comparison. Insurance fund {LoadRun.InitialFund:N0} at the start.");
        md.AppendLine();
        if (Set == "v3")
        {
            md.AppendLine("| comparison | variant | engine | liquidations | collateral sales | bankruptcies | fund low → end | fund drawdown (start − low) | bad debt socialized | ADL recovered / closes | auction takes | keepers' earnings | conservation |");
            md.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
            foreach (var v in Variants)
            {
                md.AppendLine(inv, $"| {v.Comparison} | {v.Variant} | {v.Engine} | {v.Liquidations:N0} | {v.CollateralSales:N0} | {v.Bankruptcies:N0} | {v.InsuranceFundLow:N2} → {v.InsuranceFund:N2} | {v.InsuranceFundStart - v.InsuranceFundLow:N2} | {v.BadDebt:N2} | {v.AdlRecovered:N2} / {v.AdlCloses:N0} | {v.AuctionTakes:N0} | {v.KeeperEarnings:N2} | {(v.ConservationHolds ? "holds" : "FAILS")} |");
            }

            md.AppendLine();
            foreach (var note in Notes)
            {
                md.AppendLine(inv, $"- {note}");
            }

            return md.ToString();
        }

        md.AppendLine("| comparison | variant | engine | liquidations | collateral sales | bankruptcies | deferred | price stale / held | peak closes per step | peak closed notional per step | slippage | fund low → end | bad debt (socialized) | conservation |");
        md.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        foreach (var v in Variants)
        {
            md.AppendLine(inv, $"| {v.Comparison} | {v.Variant} | {v.Engine} | {v.Liquidations:N0} | {v.CollateralSales:N0} | {v.Bankruptcies:N0} | {v.Deferred:N0} | {v.PriceStale:N0} / {v.PriceHeld:N0} | {v.PeakClosesPerStep:N0} | {v.PeakClosedNotionalPerStep:N0} | {v.Slippage:N2} | {v.InsuranceFundLow:N2} → {v.InsuranceFund:N2} | {v.BadDebt:N2} | {(v.ConservationHolds ? "holds" : "FAILS")} |");
        }

        md.AppendLine();
        foreach (var note in Notes)
        {
            md.AppendLine(inv, $"- {note}");
        }

        return md.ToString();
    }
}

/// <summary>
/// <c>--compare v2</c> (issue 11): runs each v2 mechanism with and without it on the same accounts and prices, side by
/// side — the oracle guard against a lying source, batch netting with impact against closing each account alone at the
/// same impact, liquidation caps in a crash. Each variant is a <see cref="RiskConfigSnapshot"/> (the wire fields
/// <see cref="MarketConfig.Oracle"/>, <see cref="MarketConfig.LiquidationCap"/>, <see cref="MarketConfig.Impact"/>,
/// <see cref="MarketConfig.MaxImpact"/>) run through <see cref="ModelEngine"/>: sequential, the domain's step code,
/// labelled "model, sequential" — the grains do not run v2 yet.
/// </summary>
public static class CompareRun
{
    public const string ModelSequential = "model, sequential";

    /// <summary>The oracle guard of the comparison: sources fresher than 10 s, within 5 % of their median, at least two.</summary>
    public static OracleConfig Guard { get; } = new(MaxAge: 10m, MaxDeviation: 0.05m, MinSources: 2m, MaxMove: null);

    /// <summary>Impact κ (per USD of residual notional: 10 M USD moves the price 1 %) and its bound.</summary>
    public const decimal Kappa = 0.000_000_001m;

    public const decimal MaxImpact = 0.10m;

    /// <summary>The cap per step of each market, as a share of its gross open notional at the start.</summary>
    public const decimal CapShare = 0.001m;

    public static async Task<CompareReport> RunAsync(LoadOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        if (options.Compare == "v3")
        {
            return await CompareV3.RunAsync(options, console, cancellationToken);
        }

        if (options.Compare != "v2")
        {
            throw new ArgumentException($"--compare knows v2 and v3, got '{options.Compare}'");
        }

        var variants = new List<VariantResult>();
        var notes = new List<string>();
        async Task Run(string comparison, string variant, LoadScenario scenario, Func<RiskConfigSnapshot, LoadSetup, RiskConfigSnapshot> configure, int sources = 3, bool lie = true, LiquidationNetting net = LiquidationNetting.Batch)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var setup = LoadSetup.Build(options with { Scenario = scenario }, "acct", sources, lie);
            var config = configure(setup.Config, setup);
            var onGrid = options.CompareEngine == "grid" && net == LiquidationNetting.Batch; // the grid only nets across accounts (the model)
            console.WriteLine($"{comparison}: {variant} ({(onGrid ? "grid" : ModelSequential)}) …");
            variants.Add(onGrid
                ? await RunGridAsync(comparison, variant, options with { Scenario = scenario, OracleSources = sources, Lie = lie, Configure = _ => config, Feed = FeedMode.Sequential, Baseline = true, Plain = true }, cancellationToken)
                : (await RunStepByStepAsync(comparison, variant, config, setup, [], bids: false, onGrid: false, cancellationToken, net)).Result);
        }

        static RiskConfigSnapshot Plain(RiskConfigSnapshot c, LoadSetup _) => c;
        static RiskConfigSnapshot Guarded(RiskConfigSnapshot c, LoadSetup _) => Markets(c, (m, _) => m with { Oracle = Guard });
        static RiskConfigSnapshot Impact(RiskConfigSnapshot c, LoadSetup _) => Markets(c, (m, _) => m with { Impact = Kappa, MaxImpact = MaxImpact });
        static RiskConfigSnapshot Capped(RiskConfigSnapshot c, LoadSetup s) => Markets(c, (m, _) => m with { LiquidationCap = Cap(s, m.Symbol) });

        foreach (var sources in new[] { 3, 2 })
        {
            var name = $"oracle-attack, {sources} sources";
            await Run(name, "honest (no lie), no guard", LoadScenario.OracleAttack, Plain, sources, lie: false);
            await Run(name, "lie, no guard", LoadScenario.OracleAttack, Plain, sources);
            await Run(name, "honest (no lie), guard", LoadScenario.OracleAttack, Guarded, sources, lie: false);
            await Run(name, "lie, guard", LoadScenario.OracleAttack, Guarded, sources);
        }

        await Run("cascade", "no impact (v1)", LoadScenario.Cascade, Plain);
        await Run("cascade", "impact, batch netting", LoadScenario.Cascade, Impact);
        await Run("cascade", "impact, each account alone", LoadScenario.Cascade, Impact, net: LiquidationNetting.EachAccountAlone);
        await Run("cascade", "impact, no netting (gross)", LoadScenario.Cascade, Impact, net: LiquidationNetting.Gross);
        await Run("crash-2020-03-12", "no caps", LoadScenario.Crash20200312, Plain);
        await Run("crash-2020-03-12", "caps", LoadScenario.Crash20200312, Capped);

        notes.Add(string.Create(CultureInfo.InvariantCulture, $"engine \"{ModelSequential}\": ModelEngine, the domain's step code applied one step at a time; \"grid\": the embedded grid (--compare-on grid) configured through RiskConfigSnapshot/MarketConfig, each run checked event by event against ModelEngine (its zero-miss result is in the column). \"each account alone\" and \"no netting (gross)\" are not the model, so they always run on ModelEngine."));
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"oracle-attack: from 30 % to 60 % of the run source feed-c reports the first market 40 % low; \"2 sources\" has feed-a and feed-c only. Guard: maxAge {Guard.MaxAge} s, maxDeviation {Guard.MaxDeviation}, minSources {Guard.MinSources}. What the lie caused is the lie run minus the honest run of the same configuration."));
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"cascade: impact κ = {Kappa} per USD of residual notional on every market, maxImpact {MaxImpact}. \"each account alone\" (not the model) nets each account's closes only with its own, at the same κ; \"no netting (gross)\" (not the model) trades each side's whole volume at the impact of that side's total. Slippage: Σ quantity × |execution price − mark| over liquidation closes."));
        notes.Add(string.Create(CultureInfo.InvariantCulture, $"crash-2020-03-12: caps per market and step = {CapShare:P1} of the market's gross open notional at the start. Peak closes per step: liquidation events in one step; peak closed notional: Σ quantity × mark in one step."));
        foreach (var g in variants.GroupBy(v => v.Comparison).Where(g => g.Key.StartsWith("oracle-attack", StringComparison.Ordinal)))
        {
            var r = g.ToDictionary(v => v.Variant);
            string Caused(string lie, string honest) => string.Create(CultureInfo.InvariantCulture,
                $"{r[lie].Liquidations - r[honest].Liquidations:+#,0;-#,0;0} liquidations, {r[lie].Bankruptcies - r[honest].Bankruptcies:+#,0;-#,0;0} bankruptcies, bad debt {r[lie].BadDebt - r[honest].BadDebt:+#,0.00;-#,0.00;0}, fund {r[lie].InsuranceFund - r[honest].InsuranceFund:+#,0.00;-#,0.00;0}");
            notes.Add($"{g.Key}: caused by the lie without the guard: {Caused("lie, no guard", "honest (no lie), no guard")}; with the guard: {Caused("lie, guard", "honest (no lie), guard")}.");
        }

        return new CompareReport("v2", options.Accounts, options.Markets, options.Seed, options.Duration.TotalSeconds, options.Rate, notes, variants);
    }

    /// <summary>One variant through the embedded grid (a load run with its baseline); the figures come from the grid's events and audit.</summary>
    internal static async Task<VariantResult> RunGridAsync(string comparison, string variant, LoadOptions options, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var quiet = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });
        var r = await LoadRun.RunAsync(options, quiet, cancellationToken);
        var m = r.Mechanics!;
        var b = r.Baseline!;
        var agree = b.Misses == 0 && b.Extras == 0 && r.InsuranceFund == b.InsuranceFund && r.BadDebt == b.SocializedLoss;
        return new VariantResult(
            comparison,
            variant,
            agree ? "grid (embedded), agrees with model" : $"grid (embedded), DISAGREES with model: {b.Misses} missed, {b.Extras} extra",
            r.Updates,
            r.Liquidations,
            r.CollateralSales,
            r.Bankruptcies,
            m.Deferred,
            m.PriceStale,
            m.PriceHeld,
            m.PeakClosesPerStep,
            m.PeakClosedNotionalPerStep,
            m.ClosedNotional,
            m.Slippage,
            r.InsuranceFundStart,
            Math.Min(m.InsuranceFundLow, r.InsuranceFundStart),
            r.InsuranceFund,
            r.BadDebt,
            r.ConservationHolds,
            clock.Elapsed.TotalSeconds);
    }

    /// <summary>Every market of the configuration changed by <paramref name="change"/>.</summary>
    public static RiskConfigSnapshot Markets(RiskConfigSnapshot config, Func<MarketConfig, int, MarketConfig> change) =>
        config with { Markets = [.. config.Markets.Select(change)] };

    private static decimal Cap(LoadSetup setup, string market)
    {
        var gross = setup.Seeds.SelectMany(s => s.Positions).Where(p => p.Market == market).Sum(p => Math.Abs(p.Size)) * setup.StartPrices[market];
        return Math.Max(1_000m, decimal.Round(gross * CapShare, 0));
    }

    /// <summary>
    /// One variant through <see cref="ModelEngine"/> (via <see cref="ReferenceEngine"/>), one step per planned update; v3:
    /// the <paramref name="keepers"/> bid after each price step (with <paramref name="bids"/>); with
    /// <paramref name="onGrid"/> the embedded grid runs in lockstep with it (<see cref="GridLockstep"/>).
    /// </summary>
    internal static async Task<(VariantResult Result, Dictionary<string, (long Takes, decimal Earned)> ByKeeper)> RunStepByStepAsync(
        string comparison,
        string variant,
        RiskConfigSnapshot config,
        LoadSetup setup,
        ImmutableArray<Keeper> keepers,
        bool bids,
        bool onGrid,
        CancellationToken cancellationToken,
        LiquidationNetting netting = LiquidationNetting.Batch)
    {
        var clock = Stopwatch.StartNew();
        var engine = new ReferenceEngine(
            config.ToDomain(),
            [.. setup.Ids.Select((id, i) => ReferenceEngine.Seed(id, setup.Seeds[i])), .. keepers.Select(KeeperPopulation.Seed)],
            LoadRun.InitialFund,
            LoadRun.InitialPriceTime,
            netting);
        var tally = new Tally(LoadRun.InitialFund);
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

            var result = Result(comparison, variant, ModelSequential, setup.Plan.Length, tally, engine, clock);
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
                    ? CompareV3.GridAgrees
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

    /// <summary>A variant's row from its tally and the model's end state (fund, socialized loss, conservation).</summary>
    internal static VariantResult Result(string comparison, string variant, string engineName, int updates, Tally tally, ReferenceEngine engine, Stopwatch clock)
    {
        var m = engine.Engine;
        return new VariantResult(
            comparison,
            variant,
            engineName,
            updates,
            tally.Liquidations,
            tally.Sales,
            tally.Bankruptcies,
            tally.Deferred,
            tally.Stale,
            tally.Held,
            tally.PeakCloses,
            decimal.Round(tally.PeakNotional, 2),
            decimal.Round(tally.Notional, 2),
            decimal.Round(tally.Slippage, 2),
            m.InitialFund,
            tally.FundLow,
            m.Ledger.Fund,
            m.Ledger.SocializedLoss,
            m.Conservation().Holds,
            clock.Elapsed.TotalSeconds)
        {
            AdlRecovered = decimal.Round(tally.AdlRecovered, 2),
            AdlCloses = tally.AdlCloses,
            AuctionTakes = tally.AuctionTakes,
            KeeperEarnings = decimal.Round(tally.KeeperEarnings, 2),
        };
    }

    internal sealed class Tally(decimal fund)
    {
        public decimal AdlRecovered { get; private set; }
        public long AdlCloses { get; private set; }
        public long AuctionTakes { get; private set; }
        public decimal KeeperEarnings { get; private set; }

        public long Liquidations { get; private set; }
        public long Sales { get; private set; }
        public long Bankruptcies { get; private set; }
        public long Deferred { get; private set; }
        public long Stale { get; private set; }
        public long Held { get; private set; }
        public long PeakCloses { get; private set; }
        public decimal PeakNotional { get; private set; }
        public decimal Notional { get; private set; }
        public decimal Slippage { get; private set; }
        public decimal FundLow { get; private set; } = fund;

        public void Add(ReferenceEngine engine)
        {
            var marks = engine.Engine.Marks;
            long closes = 0;
            var notional = 0m;
            foreach (var e in engine.LastEvents)
            {
                switch (e.Type)
                {
                    case ModelEventType.Liquidation:
                        var mark = MarginCalculator.Mark(marks, e.Market!);
                        closes++;
                        notional += e.Quantity!.Value * mark;
                        Slippage += e.Quantity!.Value * Math.Abs(e.Price!.Value - mark);
                        break;
                    case ModelEventType.CollateralLiquidation:
                        Sales++;
                        break;
                    case ModelEventType.Bankruptcy:
                        Bankruptcies++;
                        AdlRecovered += e.AdlRecovered ?? 0m;
                        break;
                    case ModelEventType.Adl:
                        AdlCloses++;
                        break;
                    case ModelEventType.AuctionTake:
                        AuctionTakes++;
                        var spec = engine.Engine.Config.TryGetCollateral(e.Asset!, out var c) ? c : null;
                        if (spec?.PriceMarket is { } pm)
                        {
                            KeeperEarnings += e.Quantity!.Value * (MarginCalculator.Mark(marks, pm) - e.Price!.Value);
                        }

                        break;
                    case ModelEventType.LiquidationDeferred:
                        Deferred++;
                        break;
                    case ModelEventType.PriceStale:
                        Stale++;
                        break;
                    case ModelEventType.PriceHeld:
                        Held++;
                        break;
                }
            }

            Liquidations += closes;
            Notional += notional;
            PeakCloses = Math.Max(PeakCloses, closes);
            PeakNotional = Math.Max(PeakNotional, notional);
            FundLow = Math.Min(FundLow, engine.Ledger.Fund);
        }
    }
}
