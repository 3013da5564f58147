using System.Collections.Immutable;

namespace MarginGrid.Load;

public enum LoadScenario
{
    Calm,
    Crash20200312,
    Wick,
    OracleAttack,
    Cascade,
}

/// <summary>One price update the load generator publishes, at <see cref="At"/> after the start.</summary>
public sealed record PlannedTick(int Index, TimeSpan At, string Market, string Source, decimal Price, DateTimeOffset Timestamp);

/// <summary>
/// The seeded price updates of a scenario: <paramref name="rate"/> updates per second for <paramref name="duration"/>,
/// markets in turn, each following a random walk plus the scenario's shape:
/// <list type="bullet">
/// <item><c>calm</c>: the random walk only.</item>
/// <item><c>crash-2020-03-12</c>: −30 % over 60 s (or 60 % of a shorter run) from 10 % in, with decaying aftershocks.</item>
/// <item><c>wick</c>: −15 % over 2 s and back over 3 s, 30 % in (compressed for short runs).</item>
/// <item><c>oracle-attack</c>: three sources; from 30 % to 60 % in, source <c>feed-c</c> reports the first market 40 % low.</item>
/// <item><c>cascade</c>: every market −15 % at once at 40 % in, and it stays there.</item>
/// </list>
/// </summary>
public static class TickPlan
{
    public static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <param name="sources">oracle-attack only: how many sources (2 or 3; the last one, <c>feed-c</c>, lies).</param>
    /// <param name="lie">oracle-attack only: false leaves the lie out (the honest run the attack is measured against).</param>
    public static ImmutableArray<PlannedTick> Build(
        LoadScenario scenario, IReadOnlyList<(string Symbol, decimal Price)> markets, double rate, TimeSpan duration, int seed, int sources = 3, bool lie = true)
    {
        var rng = new Random(seed);
        var count = Math.Max(1, (int)(rate * duration.TotalSeconds));
        var logs = new double[markets.Count];
        var depth = markets.Select(_ => 0.25 + (rng.NextDouble() * 0.1)).ToArray();
        string[] feeds = scenario != LoadScenario.OracleAttack ? ["feed-a"] : sources == 2 ? ["feed-a", "feed-c"] : ["feed-a", "feed-b", "feed-c"];
        var ticks = ImmutableArray.CreateBuilder<PlannedTick>(count);
        var total = duration.TotalSeconds;
        for (var k = 0; k < count; k++)
        {
            var at = TimeSpan.FromSeconds(k / rate);
            var m = k % markets.Count;
            logs[m] += (rng.NextDouble() - 0.5) * 0.001;
            var t = at.TotalSeconds;
            var shape = Shape(scenario, t, total, depth[m]);
            var source = feeds[(k / markets.Count) % feeds.Length];
            var lying = lie && scenario == LoadScenario.OracleAttack && m == 0 && source == "feed-c" && t >= 0.3 * total && t < 0.6 * total
                ? Math.Log(0.6)
                : 0.0;
            var (symbol, start) = markets[m];
            var price = Math.Round(start * (decimal)Math.Exp(logs[m] + shape + lying), start >= 100m ? 2 : 4);
            ticks.Add(new PlannedTick(k, at, symbol, source, Math.Max(price, 0.0001m), Epoch + at));
        }

        return ticks.MoveToImmutable();
    }

    private static double Shape(LoadScenario scenario, double t, double total, double depth)
    {
        switch (scenario)
        {
            case LoadScenario.Crash20200312:
            {
                var start = 0.1 * total;
                var length = Math.Min(60.0, 0.6 * total);
                if (t < start)
                {
                    return 0;
                }

                var progress = Math.Min(1.0, (t - start) / length);
                var after = Math.Max(0.0, t - start - length);
                var aftershock = after > 0 ? 0.04 * Math.Sin(after * 2.0) * Math.Exp(-after / Math.Max(1.0, 0.1 * total)) : 0.0;
                return Math.Log(1 - (depth * 0.857 * progress)) + aftershock; // ≈ −30 % on average
            }

            case LoadScenario.Wick:
            {
                var start = 0.3 * total;
                var down = Math.Min(2.0, 0.05 * total);
                var up = Math.Min(3.0, 0.075 * total);
                var x = t < start ? 0 : t < start + down ? (t - start) / down : t < start + down + up ? 1 - ((t - start - down) / up) : 0;
                return Math.Log(1 - (0.15 * x));
            }

            case LoadScenario.Cascade:
                return t >= 0.4 * total ? Math.Log(0.85) : 0.0;
            default:
                return 0.0;
        }
    }

    public static LoadScenario Parse(string name) => name switch
    {
        "calm" => LoadScenario.Calm,
        "crash-2020-03-12" => LoadScenario.Crash20200312,
        "wick" => LoadScenario.Wick,
        "oracle-attack" => LoadScenario.OracleAttack,
        "cascade" => LoadScenario.Cascade,
        _ => throw new ArgumentException($"unknown scenario '{name}': calm, crash-2020-03-12, wick, oracle-attack or cascade"),
    };

    public static string Name(LoadScenario scenario) => scenario switch
    {
        LoadScenario.Crash20200312 => "crash-2020-03-12",
        LoadScenario.OracleAttack => "oracle-attack",
        _ => scenario.ToString().ToLowerInvariant(),
    };
}
