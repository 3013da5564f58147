using MarginGrid.Client;
using MarginGrid.Grains;

namespace MarginGrid.Load;

public sealed record LoadOptions
{
    public LoadScenario Scenario { get; init; } = LoadScenario.Crash20200312;

    public int Accounts { get; init; } = 10_000;

    public int Markets { get; init; } = 8;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>Price updates per second, all markets together.</summary>
    public double Rate { get; init; } = 200;

    public int Seed { get; init; } = 42;

    public FanOutMode FanOut { get; init; } = FanOutMode.Gated;

    public int Shards { get; init; } = 8;

    /// <summary>Updates before this are left out of the steady-state tick→decision and tick→margin-call figures (JIT, first GCs, first bands).</summary>
    public TimeSpan? Warmup { get; init; }

    public TimeSpan EffectiveWarmup => Warmup ?? TimeSpan.FromSeconds(Math.Min(5, Duration.TotalSeconds * 0.25));

    public bool Baseline { get; init; } = true;

    /// <summary>
    /// A running cluster only: this long with nothing sent between opening the accounts and the scenario's first
    /// update — a quiet market before the crash, so that what an account keeps only for a while after its last
    /// command (its audit reminder: a minute and more) has lapsed when the crash comes, as it would have in production.
    /// </summary>
    public TimeSpan Quiet { get; init; }

    /// <summary>A running cluster's HTTP API base addresses; empty: an embedded grid in this process (or <see cref="Orleans"/>).</summary>
    public IReadOnlyList<Uri> Targets { get; init; } = [];

    /// <summary>A running cluster's gateways, reached through the native client (<c>--target orleans://host:port,…</c>).</summary>
    public MarginGridClientOptions? Orleans { get; init; }

    /// <summary>Whether the run drives a running cluster (over HTTP or through the native client) rather than an embedded grid.</summary>
    public bool IsRemote => Targets.Count > 0 || Orleans is not null;

    /// <summary>API keys for a running cluster (from MarginGrid__Load__AdminKey, …FeedKey, …TraderKey, …ReaderKey).</summary>
    public LoadKeys Keys { get; init; } = LoadKeys.FromEnvironment();

    /// <summary>Prefix of the simulated account ids on a running cluster, so that runs do not collide.</summary>
    public string RunId { get; init; } = $"load-{DateTimeOffset.UtcNow:yyyyMMddHHmmss}";

    /// <summary>How prices reach the grid: one after another (each settled before the next), or per market on schedule.</summary>
    public FeedMode Feed { get; init; } = FeedMode.Sequential;

    /// <summary>
    /// <c>v2</c>: instead of one load run, the side-by-side variants of issue 11 (oracle guard, netting with impact,
    /// caps), written as compare-v2.md/.json; null: a load run.
    /// </summary>
    public string? Compare { get; init; }

    /// <summary>Where the comparison's variants run: <c>model</c> (ModelEngine, sequential) or <c>grid</c> (the embedded grid, checked against it).</summary>
    public string CompareEngine { get; init; } = "model";

    /// <summary><c>--compare v3</c>: how many simulated keepers bid in the auctions (1–100).</summary>
    public int Keepers { get; init; } = 5;

    /// <summary>oracle-attack: 2 or 3 sources (a --compare variant).</summary>
    internal int OracleSources { get; init; } = 3;

    /// <summary>oracle-attack: false leaves the lie out (a --compare variant).</summary>
    internal bool Lie { get; init; } = true;

    /// <summary>A --compare variant's configuration (the v2 wire fields), applied to the simulated markets'.</summary>
    internal Func<RiskConfigSnapshot, RiskConfigSnapshot>? Configure { get; init; }

    public string Output { get; init; } = "load-report";

    public bool Plain { get; init; }

    /// <summary>The embedded grid logs at information (default: warnings and errors only).</summary>
    public bool Verbose { get; init; }

    public IReadOnlyDictionary<string, double> FailOn { get; init; } = new Dictionary<string, double>();

    public string? Validate()
    {
        if (Accounts is < 1 or > 1_000_000)
        {
            return $"--accounts must be between 1 and 1000000, got {Accounts}";
        }

        if (Markets is < 1 or > 64)
        {
            return $"--markets must be between 1 and 64, got {Markets}";
        }

        if (Duration <= TimeSpan.Zero || Duration > TimeSpan.FromHours(2))
        {
            return $"--duration must be between 0 and 7200 seconds, got {Duration.TotalSeconds}";
        }

        if (Rate is <= 0 or > 100_000)
        {
            return $"--rate must be between 0 and 100000 updates/s, got {Rate}";
        }

        if (Shards is < 1 or > 256)
        {
            return $"--shards must be between 1 and 256, got {Shards}";
        }

        if (Targets.Count > 0 && Orleans is not null)
        {
            return "--target takes either http(s) addresses or one orleans:// target, not both";
        }

        if (Orleans?.Validate() is { } orleans)
        {
            return $"--target: {orleans}";
        }

        if (Quiet < TimeSpan.Zero || Quiet > TimeSpan.FromHours(1))
        {
            return $"--quiet must be between 0 and 3600 seconds, got {Quiet.TotalSeconds}";
        }

        if (Quiet > TimeSpan.Zero && !IsRemote)
        {
            return "--quiet is for a running cluster (--target): the embedded grid keeps no reminders";
        }

        if (IsRemote && Baseline)
        {
            return "--target drives a running cluster that other clients may change too, so there is no exhaustive baseline: add --no-baseline";
        }

        if (Feed == FeedMode.PerMarket && Baseline)
        {
            return "--feed per-market lets the grid conflate prices, so its decisions cannot be compared tick by tick with the exhaustive baseline: add --no-baseline";
        }

        if (Compare is not null and not "v2" and not "v3")
        {
            return $"--compare knows v2 and v3, got '{Compare}'";
        }

        if (Keepers is < 1 or > 100)
        {
            return $"--keepers must be between 1 and 100, got {Keepers}";
        }

        if (CompareEngine is not "model" and not "grid")
        {
            return $"--compare-on must be model or grid, got '{CompareEngine}'";
        }

        if (Compare is not null && IsRemote)
        {
            return "--compare runs its variants in this process: leave out --target";
        }

        var unknown = FailOn.Keys.Except(Thresholds.Known).ToList();
        return unknown.Count > 0 ? $"--fail-on: unknown threshold(s) {string.Join(", ", unknown)}; known: {string.Join(", ", Thresholds.Known)}" : null;
    }
}

/// <summary>API keys by role for a running cluster; null where the cluster runs without keys.</summary>
public sealed record LoadKeys(string? Admin, string? Feed, string? Trader, string? Reader)
{
    public static LoadKeys FromEnvironment() => new(
        Environment.GetEnvironmentVariable("MarginGrid__Load__AdminKey"),
        Environment.GetEnvironmentVariable("MarginGrid__Load__FeedKey"),
        Environment.GetEnvironmentVariable("MarginGrid__Load__TraderKey"),
        Environment.GetEnvironmentVariable("MarginGrid__Load__ReaderKey"));
}

public enum FeedMode
{
    /// <summary>One update at a time, each settled before the next: every update is a step, in the plan's order.</summary>
    Sequential,

    /// <summary>
    /// One feeder per market publishes each update at its planned time without waiting for the previous one; a market
    /// that is still settling conflates what arrives meanwhile into its next step. How an exchange's feed behaves.
    /// </summary>
    PerMarket,
}

/// <summary>The thresholds `--fail-on name=value` can set; each says whether the figure must stay below or above it.</summary>
public static class Thresholds
{
    public static readonly IReadOnlyDictionary<string, bool> UpperBound = new Dictionary<string, bool>
    {
        ["tick-decision-p99-ms"] = true,
        ["margin-call-p99-ms"] = true,
        ["liquidation-max-ms"] = true,
        ["memory-per-account-bytes"] = true,
        ["coverage-ratio"] = false,
        ["ticks-per-second"] = false,
    };

    public static IEnumerable<string> Known => UpperBound.Keys;
}
