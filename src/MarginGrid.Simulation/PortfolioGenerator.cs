using System.Collections.Immutable;

namespace MarginGrid.Simulation;

/// <summary>Seeded random portfolios: cross-margined positions in several markets, leverage spread over the brackets.</summary>
public static class PortfolioGenerator
{
    /// <summary>Share of accounts generated close to a margin call, so that even a calm market produces some.</summary>
    public const double HotShare = 0.01;

    public static AccountSeed Generate(Random rng, RiskConfigSnapshot config, IReadOnlyDictionary<string, decimal> prices)
    {
        var equity = Math.Round((decimal)Math.Exp(rng.NextDouble() * Math.Log(100)) * 1_000m, 2); // 1k … 100k USD, log-uniform
        var collateral = ImmutableDictionary.CreateBuilder<string, decimal>(StringComparer.Ordinal);
        var usd = equity;
        if (rng.NextDouble() < 0.15 && config.Collateral.FirstOrDefault(c => c.Asset == "BTC") is { PriceMarket: { } btcMarket })
        {
            var value = equity * (decimal)(0.2 + (0.3 * rng.NextDouble()));
            collateral["BTC"] = Math.Round(value / prices[btcMarket], 6);
            usd -= value;
        }

        collateral["USD"] = Math.Round(usd, 2);

        var markets = config.Markets.OrderBy(_ => rng.Next()).Take(1 + rng.Next(Math.Min(3, config.Markets.Length))).ToList();
        var leverage = 1.0 + (rng.NextDouble() * rng.NextDouble() * 14.0); // skewed towards low leverage, up to 15x
        var positions = ImmutableArray.CreateBuilder<PositionSnapshot>();
        foreach (var market in markets)
        {
            var notional = equity * (decimal)(leverage / markets.Count);
            var price = prices[market.Symbol];
            var lots = decimal.Floor(notional / price / market.LotSize);
            if (lots < 1m)
            {
                continue;
            }

            var side = rng.NextDouble() < 0.65 ? 1m : -1m;
            var entry = Math.Round(price * (decimal)(1.0 + ((rng.NextDouble() - 0.5) * 0.02)), 6);
            positions.Add(new PositionSnapshot(market.Symbol, side * lots * market.LotSize, entry));
        }

        if (positions.Count > 0 && rng.NextDouble() < HotShare)
        {
            // A trader running hot: health 1.3 … 1.6 at the start, above the margin-call ratio of 1.25.
            var health = 1.3m + ((decimal)rng.NextDouble() * 0.3m);
            var mm = positions.Sum(p =>
            {
                var spec = config.Markets.First(m => m.Symbol == p.Market);
                var market = new MarginGrid.Domain.MarketSpec(spec.Symbol, spec.LotSize, spec.LiquidationPenalty, [.. spec.Brackets.Select(b => new MarginGrid.Domain.Bracket(b.Floor, b.Mmr, b.Imr))]);
                return market.MaintenanceRequirement(Math.Abs(p.Size) * prices[p.Market]);
            });
            var other = positions.Sum(p => p.Size * (prices[p.Market] - p.EntryPrice))
                + collateral.Where(c => c.Key != "USD").Sum(c => config.Collateral.First(x => x.Asset == c.Key) is { PriceMarket: { } pm } spec ? spec.Weight * c.Value * prices[pm] : 0m);
            collateral["USD"] = Math.Round((health * mm) - other, 2, MidpointRounding.ToPositiveInfinity);
        }

        return new AccountSeed(collateral.ToImmutable(), positions.ToImmutable());
    }
}

/// <summary>
/// A seeded price path per market: a random walk, then a crash (−15 % … −25 % over 15 % of the run), then a partial
/// rebound. <see cref="At"/> gives the price at any fraction of the run.
/// </summary>
public sealed class PricePath
{
    private readonly decimal[] _prices;

    public PricePath(decimal start, int points, Random rng, double crashStart = 0.35, double crashEnd = 0.5)
    {
        _prices = new decimal[points + 1];
        var depth = 0.15 + (rng.NextDouble() * 0.10);
        var log = 0.0;
        var walk = 0.0;
        for (var i = 0; i <= points; i++)
        {
            var t = (double)i / points;
            walk += (rng.NextDouble() - 0.5) * 0.002;
            var crash = t < crashStart ? 0.0
                : t < crashEnd ? Math.Log(1 - (depth * (t - crashStart) / (crashEnd - crashStart)))
                : Math.Log(1 - depth) + (Math.Log(1 + (depth * 0.4)) * Math.Min(1.0, (t - crashEnd) / 0.2));
            log = walk + crash;
            _prices[i] = Math.Round(start * (decimal)Math.Exp(log), Scale(start));
        }
    }

    public decimal At(int index) => _prices[Math.Clamp(index, 0, _prices.Length - 1)];

    private static int Scale(decimal price) => price >= 100m ? 2 : price >= 1m ? 4 : 6;
}
