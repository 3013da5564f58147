using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using HdrHistogram;

namespace MarginGrid.Load;

/// <summary>Latency quantiles in milliseconds (HdrHistogram, microsecond resolution).</summary>
public sealed record Latency(long Count, double P50, double P99, double P999, double Max)
{
    public static Latency None { get; } = new(0, 0, 0, 0, 0);

    public static Latency Of(HistogramBase h) => h.TotalCount == 0
        ? new Latency(0, 0, 0, 0, 0)
        : new Latency(
            h.TotalCount,
            h.GetValueAtPercentile(50) / 1000.0,
            h.GetValueAtPercentile(99) / 1000.0,
            h.GetValueAtPercentile(99.9) / 1000.0,
            h.GetMaxValue() / 1000.0);
}

public sealed record BaselineResult(
    double Seconds,
    long Evaluations,
    double EvaluationsPerSecond,
    long Misses,
    long Extras,
    IReadOnlyList<string> Examples,
    decimal InsuranceFund,
    decimal SocializedLoss)
{
    /// <summary>Liquidation closes the baseline decided, and the time its domain spent deciding and applying them (one thread).</summary>
    public long LiquidationCloses { get; init; }

    public double LiquidationSeconds { get; init; }

    /// <summary>
    /// The ceiling: closes per second of a single thread liquidating the same accounts' steps with the domain alone
    /// (<c>StepLiquidation.Run</c> and applying its outcomes; no evaluation, grains, storage or messages).
    /// </summary>
    public double? CeilingClosesPerSecond => LiquidationSeconds > 0 ? LiquidationCloses / LiquidationSeconds : null;
}

/// <summary>One point per update: when it settled, its latency, accounts by status, the fund.</summary>
public sealed record SeriesPoint(double Seconds, double LatencyMs, long[] AccountsByStatus, decimal InsuranceFund, decimal SocializedLoss);

/// <summary>What a load run measured; written as report.json (schema: docs/load-report.md) and report.md.</summary>
public sealed record LoadReport
{
    public required string Scenario { get; init; }
    public required string FanOut { get; init; }

    /// <summary>The running cluster's HTTP API addresses; null for the embedded grid.</summary>
    public string? Target { get; init; }
    public int Accounts { get; init; }
    public int Markets { get; init; }
    public int Shards { get; init; }
    public int Seed { get; init; }
    public double RequestedRate { get; init; }
    public int Updates { get; init; }
    public double GridSeconds { get; init; }
    public double UpdatesPerSecond { get; init; }
    public long AccountTicksDecided { get; init; }
    public long HolderTicksDecided { get; init; }
    public long AccountEvaluations { get; init; }
    public double EvaluationsPerSecond { get; init; }
    public double CoveragePerSecond { get; init; }
    public double CpuCoresUsed { get; init; }
    public double MemoryPerAccountBytes { get; init; }
    public Latency TickDecision { get; init; } = Latency.None;
    public double WarmupSeconds { get; init; }
    public Latency TickDecisionSteady { get; init; } = Latency.None;
    public Latency TickMarginCall { get; init; } = Latency.None;
    public Latency TickMarginCallSteady { get; init; } = Latency.None;
    public Latency TickLiquidation { get; init; } = Latency.None;
    public long MarginCalls { get; init; }
    public long Liquidations { get; init; }
    public long CollateralSales { get; init; }
    public long Bankruptcies { get; init; }
    public decimal InsuranceFundStart { get; init; }
    public decimal InsuranceFund { get; init; }
    public decimal BadDebt { get; init; }
    public bool ConservationHolds { get; init; }
    public decimal ConservationDifference { get; init; }
    public long GridEvents { get; init; }

    /// <summary>Account evaluations that failed in the grid (logged by the silo); null where not observed (a remote cluster: its logs and metrics).</summary>
    public long? EvaluationFailures { get; init; }

    public BaselineResult? Baseline { get; init; }

    /// <summary>Closes per step, slippage, deferrals and guarded steps of the grid run (with a baseline); what --compare reads.</summary>
    public Mechanics? Mechanics { get; init; }

    /// <summary>Grid coverage (account-updates decided per second) over the baseline's evaluations per second.</summary>
    public double? CoverageRatio => Baseline is { EvaluationsPerSecond: > 0 } b ? CoveragePerSecond / b.EvaluationsPerSecond : null;

    /// <summary>Liquidation closes per second of grid time (from the first update to the last settled).</summary>
    public double ClosesPerSecond => GridSeconds > 0 ? Liquidations / GridSeconds : 0;

    /// <summary>The grid's closes per second over the single-thread, domain-only ceiling of the same run.</summary>
    public double? CeilingRatio => Baseline?.CeilingClosesPerSecond is { } c && c > 0 ? ClosesPerSecond / c : null;

    /// <summary>
    /// The grid settled the updates as fast as they were sent (within 2 %): its figures per second are the feed's, and
    /// <see cref="ClosesPerSecond"/> is a lower bound of what it can close, not its capacity (run at a higher rate for that).
    /// </summary>
    public bool FeedBound => RequestedRate > 0 && UpdatesPerSecond >= 0.98 * RequestedRate;

    [JsonIgnore]
    public IReadOnlyList<SeriesPoint> Series { get; init; } = [];

    public IReadOnlyList<string> Failures { get; init; } = [];

    public double? Figure(string threshold) => threshold switch
    {
        "tick-decision-p99-ms" => TickDecisionSteady.Count > 0 ? TickDecisionSteady.P99 : TickDecision.P99,
        "margin-call-p99-ms" => TickMarginCallSteady.Count > 0 ? TickMarginCallSteady.P99 : TickMarginCall.P99,
        "liquidation-max-ms" => TickLiquidation.Max,
        "memory-per-account-bytes" => MemoryPerAccountBytes,
        "coverage-ratio" => CoverageRatio,
        "ticks-per-second" => UpdatesPerSecond,
        _ => null,
    };

    /// <summary>The run's checks: zero misses and extras, conservation, and every --fail-on threshold.</summary>
    public LoadReport Checked(IReadOnlyDictionary<string, double> failOn)
    {
        var failures = new List<string>();
        if (!ConservationHolds)
        {
            failures.Add($"money conservation fails by {ConservationDifference}");
        }

        if (EvaluationFailures is > 0)
        {
            failures.Add($"{EvaluationFailures} account evaluations failed in the grid (each is in the log)");
        }

        if (Baseline is { } b && (b.Misses > 0 || b.Extras > 0))
        {
            failures.Add($"grid and exhaustive evaluation disagree: {b.Misses} missed, {b.Extras} extra events");
        }

        foreach (var (name, limit) in failOn)
        {
            var figure = Figure(name);
            var upper = Thresholds.UpperBound[name];
            if (figure is null || (upper ? figure > limit : figure < limit))
            {
                failures.Add($"{name} = {figure?.ToString("G4", CultureInfo.InvariantCulture) ?? "n/a"}, threshold {(upper ? "≤" : "≥")} {limit.ToString(CultureInfo.InvariantCulture)}");
            }
        }

        return this with { Failures = failures };
    }

    public string ToJson() => JsonSerializer.Serialize(this, new JsonSerializerOptions
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    });

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        md.AppendLine(inv, $"# MarginGrid load report: {Scenario}, {FanOut} fan-out");
        md.AppendLine();
        md.AppendLine(inv, $"{Accounts:N0} accounts, {Markets} markets, {Shards} shards per market, seed {Seed}; {Updates:N0} price updates requested at {RequestedRate:N0}/s.");
        md.AppendLine();
        md.AppendLine("| figure | value |");
        md.AppendLine("| --- | --- |");
        md.AppendLine(inv, $"| updates settled per second | {UpdatesPerSecond:N1} |");
        md.AppendLine(inv, $"| account evaluations per second (grid) | {EvaluationsPerSecond:N0} |");
        md.AppendLine(inv, $"| account-updates decided per second (grid coverage) | {CoveragePerSecond:N0} |");
        if (Baseline is { } b)
        {
            md.AppendLine(inv, $"| exhaustive baseline evaluations per second (1 thread) | {b.EvaluationsPerSecond:N0} |");
            md.AppendLine(inv, $"| coverage ÷ baseline | {CoverageRatio:N2} |");
            var bound = FeedBound ? "; the grid kept up with the feed, so this is a lower bound: raise --rate for its capacity" : "";
            md.AppendLine(inv, $"| liquidation closes per second: grid / ceiling (1 thread, domain only: {b.LiquidationCloses:N0} closes in {b.LiquidationSeconds:N3} s) | {ClosesPerSecond:N0} / {b.CeilingClosesPerSecond:N0} (ratio {CeilingRatio:N4}{bound}) |");
            md.AppendLine(inv, $"| zero-miss check | {(b.Misses == 0 && b.Extras == 0 ? "pass" : "FAIL")}: {b.Misses} missed, {b.Extras} extra |");
        }

        md.AppendLine(inv, $"| tick→decision p50 / p99 / p99.9 / max (ms), all updates | {Q(TickDecision)} |");
        md.AppendLine(inv, $"| tick→decision p50 / p99 / p99.9 / max (ms), after {WarmupSeconds:F0} s warm-up | {Q(TickDecisionSteady)} |");
        md.AppendLine(inv, $"| tick→margin-call p50 / p99 / p99.9 / max (ms), all updates | {Q(TickMarginCall)} |");
        md.AppendLine(inv, $"| tick→margin-call p50 / p99 / p99.9 / max (ms), after {WarmupSeconds:F0} s warm-up | {Q(TickMarginCallSteady)} |");
        md.AppendLine(inv, $"| liquidatable tick→liquidation p50 / p99 / p99.9 / max (ms) | {Q(TickLiquidation)} |");
        md.AppendLine(inv, $"| margin calls / liquidations / collateral sales / bankruptcies | {MarginCalls:N0} / {Liquidations:N0} / {CollateralSales:N0} / {Bankruptcies:N0} |");
        md.AppendLine(inv, $"| insurance fund | {InsuranceFundStart:N2} → {InsuranceFund:N2} |");
        md.AppendLine(inv, $"| bad debt (socialized) | {BadDebt:N2} |");
        if (Target is null)
        {
            md.AppendLine(inv, $"| memory per account (heap, after opening) | {MemoryPerAccountBytes:N0} B |");
            md.AppendLine(inv, $"| CPU cores used while ticking | {CpuCoresUsed:N2} |");
            md.AppendLine(inv, $"| account evaluations that failed | {EvaluationFailures:N0} |");
        }
        else
        {
            md.AppendLine(inv, $"| cluster | {Target} (memory and CPU: see its /metrics) |");
        }
        md.AppendLine(inv, $"| money conservation | {(ConservationHolds ? "holds" : $"FAILS by {ConservationDifference}")} |");
        md.AppendLine();
        md.AppendLine(Failures.Count == 0 ? "All checks passed." : "Failed checks:\n\n" + string.Join("\n", Failures.Select(f => $"- {f}")));
        if (Baseline is { Examples.Count: > 0 } bad)
        {
            md.AppendLine();
            md.AppendLine("Disagreements (first ones):");
            md.AppendLine();
            foreach (var e in bad.Examples)
            {
                md.AppendLine(inv, $"- {e}");
            }
        }

        return md.ToString();

        static string Q(Latency l) => l.Count == 0 ? "n/a" : string.Create(CultureInfo.InvariantCulture, $"{l.P50:F2} / {l.P99:F2} / {l.P999:F2} / {l.Max:F2} ({l.Count:N0} updates)");
    }
}
