using BenchmarkDotNet.Attributes;
using MarginGrid.Domain;

namespace MarginGrid.Benchmarks;

/// <summary>
/// The per-account costs behind the grid's numbers: one evaluation (what the exhaustive baseline does per account per
/// tick), the safe-band computation (what a gated account does when it re-bands), and one liquidation.
/// </summary>
[MemoryDiagnoser]
public class DomainBenchmarks
{
    private RiskConfiguration _config = null!;
    private MarkBook _marks = null!;
    private MarkBook _crashed = null!;
    private Portfolio _portfolio = null!;

    [Params(1, 3)]
    public int Positions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Bracket[] brackets = [new(0m, 0.01m, 0.02m), new(100_000m, 0.02m, 0.04m), new(1_000_000m, 0.05m, 0.10m)];
        var markets = new[] { ("BTC-PERP", 60_000m, 0.001m), ("ETH-PERP", 3_000m, 0.01m), ("SOL-PERP", 150m, 0.1m) };
        _config = RiskConfiguration.Create(
            [.. markets.Select(m => new MarketSpec(m.Item1, m.Item3, 0.004m, brackets))],
            [new CollateralSpec("BTC", 0.95m, "BTC-PERP", 0.02m)]);
        _marks = new MarkBook(markets.Select(m => KeyValuePair.Create(m.Item1, m.Item2)));
        _crashed = new MarkBook(markets.Select(m => KeyValuePair.Create(m.Item1, m.Item2 * 0.88m)));
        _portfolio = Build();
    }

    [Benchmark(Description = "evaluate one account")]
    public AccountHealth Evaluate() => MarginCalculator.Evaluate(_portfolio, _marks, _config);

    [Benchmark(Description = "safe bands of one account")]
    public IReadOnlyDictionary<string, SafeBand>? Bands() => SafeBands.For(_portfolio, _marks, _config);

    [Benchmark(Description = "liquidate one account (12% crash)")]
    public LiquidationResult Liquidate() => Liquidator.Liquidate(Build(), _crashed, _config);

    private Portfolio Build()
    {
        var positions = new[] { ("BTC-PERP", 2m, 60_000m), ("ETH-PERP", 30m, 3_000m), ("SOL-PERP", 500m, 150m) }
            .Take(Positions)
            .Select(p => KeyValuePair.Create(p.Item1, new Position(p.Item2, p.Item3)));
        return Portfolio.Restore([KeyValuePair.Create("USD", 10_000m * Positions), KeyValuePair.Create("BTC", 0.05m)], positions);
    }
}
