using System.Collections.Immutable;
using HdrHistogram;
using MarginGrid.Simulation;

namespace MarginGrid.Load;

/// <summary>
/// A run's latency histograms, from each update's scheduled time to its step's answer: every update, those after the
/// warm-up, those whose step made a margin call (all / after the warm-up) and those whose step liquidated.
/// </summary>
internal sealed class LatencyRecorder(TimeSpan warmup)
{
    private readonly LongHistogram _decision = New();
    private readonly LongHistogram _steady = New();
    private readonly LongHistogram _marginCall = New();
    private readonly LongHistogram _marginCallSteady = New();
    private readonly LongHistogram _liquidation = New();

    public TimeSpan Warmup => warmup;

    public void Record(TimeSpan scheduledAt, TimeSpan latency, bool marginCall, bool liquidation)
    {
        var micros = Math.Max(1, (long)latency.TotalMicroseconds);
        var steady = scheduledAt >= warmup;
        _decision.RecordValue(micros);
        if (steady)
        {
            _steady.RecordValue(micros);
        }

        if (marginCall)
        {
            _marginCall.RecordValue(micros);
            if (steady)
            {
                _marginCallSteady.RecordValue(micros);
            }
        }

        if (liquidation)
        {
            _liquidation.RecordValue(micros);
        }
    }

    /// <summary>The report's latency figures.</summary>
    public LoadReport Into(LoadReport report) => report with
    {
        TickDecision = Latency.Of(_decision),
        WarmupSeconds = warmup.TotalSeconds,
        TickDecisionSteady = Latency.Of(_steady),
        TickMarginCall = Latency.Of(_marginCall),
        TickMarginCallSteady = Latency.Of(_marginCallSteady),
        TickLiquidation = Latency.Of(_liquidation),
    };

    private static LongHistogram New() => new(TimeStamp.Seconds(60), 3);
}

/// <summary>What a run simulates: the markets and configuration, the accounts and their seeded portfolios, the prices.</summary>
internal sealed record LoadSetup(
    RiskConfigSnapshot Config,
    IReadOnlyDictionary<string, decimal> StartPrices,
    ImmutableArray<string> Ids,
    AccountSeed[] Seeds,
    ImmutableArray<PlannedTick> Plan)
{
    public static LoadSetup Build(LoadOptions options, string idPrefix, int sources = 3, bool lie = true)
    {
        var markets = SimulatedMarkets.Take(options.Markets);
        var config = SimulatedMarkets.Config(options.Markets);
        var startPrices = markets.ToDictionary(m => m.Symbol, m => m.Price, StringComparer.Ordinal);
        var rng = new Random(options.Seed);
        var ids = Enumerable.Range(0, options.Accounts).Select(i => $"{idPrefix}-{i:D7}").ToImmutableArray();
        var seeds = ids.Select(_ => PortfolioGenerator.Generate(rng, config, startPrices)).ToArray();
        var plan = TickPlan.Build(options.Scenario, [.. markets.Select(m => (m.Symbol, m.Price))], options.Rate, options.Duration, options.Seed, sources, lie);
        return new LoadSetup(config, startPrices, ids, seeds, plan);
    }
}
