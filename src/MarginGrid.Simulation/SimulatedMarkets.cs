using System.Collections.Immutable;

namespace MarginGrid.Simulation;

/// <summary>The simulated markets and collateral, with Binance-like brackets.</summary>
public static class SimulatedMarkets
{
    public static ImmutableArray<(string Symbol, decimal Price, decimal Lot)> All { get; } =
    [
        ("BTC-PERP", 60_000m, 0.001m),
        ("ETH-PERP", 3_000m, 0.01m),
        ("SOL-PERP", 150m, 0.1m),
        ("XRP-PERP", 0.6m, 1m),
        ("DOGE-PERP", 0.15m, 10m),
        ("BNB-PERP", 550m, 0.01m),
        ("ADA-PERP", 0.45m, 1m),
        ("AVAX-PERP", 35m, 0.1m),
    ];

    /// <summary>The named markets first, then synthetic "ALTnn-PERP" markets priced at 10, as many as asked for.</summary>
    public static ImmutableArray<(string Symbol, decimal Price, decimal Lot)> Take(int markets) =>
        [.. All.Take(markets), .. Enumerable.Range(All.Length + 1, Math.Max(0, markets - All.Length)).Select(i => ($"ALT{i:D2}-PERP", 10m, 0.1m))];

    public static RiskConfigSnapshot Config(int markets) => new(
        0,
        [
            .. Take(markets).Select(m => new MarketConfig(
                m.Symbol,
                m.Lot,
                0.004m,
                [
                    new BracketConfig(0m, 0.01m, 0.02m),
                    new BracketConfig(100_000m, 0.02m, 0.04m),
                    new BracketConfig(1_000_000m, 0.05m, 0.10m),
                ])),
        ],
        [
            new CollateralConfig("BTC", 0.95m, "BTC-PERP", 0.02m),
            .. markets > 1 ? [new CollateralConfig("ETH", 0.9m, "ETH-PERP", 0.03m)] : ImmutableArray<CollateralConfig>.Empty,
        ],
        new RiskRatios(1.25m, 1.10m));
}
