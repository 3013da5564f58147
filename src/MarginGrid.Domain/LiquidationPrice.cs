namespace MarginGrid.Domain;

/// <summary>
/// The liquidation price of a position: the mark of its market at which <c>E = MM</c>, every other price fixed.
/// Equity is linear in that mark (the position's PnL plus any collateral priced by the same market); MM is piecewise
/// linear by bracket, so each bracket gives at most one root. The root nearest the current mark is the one the market
/// reaches first.
/// </summary>
public static class LiquidationPrice
{
    public static decimal? For(Portfolio portfolio, string market, IMarks marks, RiskConfiguration config)
    {
        if (portfolio.PositionIn(market) is not { } position)
        {
            return null;
        }

        var spec = config.Market(market);
        var current = MarginCalculator.Mark(marks, market);
        var health = MarginCalculator.Evaluate(portfolio, marks, config);
        var size = Math.Abs(position.Size);

        // E(M) = E0 + slope × (M − M0)
        var slope = position.Size;
        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q > 0m && config.TryGetCollateral(asset, out var c) && c.PriceMarket == market)
            {
                slope += c.Weight * q;
            }
        }

        // MM(M) = otherMm + size × M × mmr_k − cum_k
        var multiplier = marks.Multiplier(market); // held fixed: k only changes when the mark is set
        var otherMm = health.MaintenanceMargin - MarginCalculator.PositionMaintenance(spec, position, current, multiplier);
        var constant = health.Equity - (slope * current);

        decimal? best = null;
        for (var k = 0; k < spec.Brackets.Count; k++)
        {
            var denominator = slope - MarginCalculator.Scale(multiplier, size * spec.Brackets[k].Mmr);
            if (denominator == 0m)
            {
                continue;
            }

            var root = (otherMm - MarginCalculator.Scale(multiplier, spec.MaintenanceCumulative(k)) - constant) / denominator;
            if (root <= 0m || !InBracket(spec, k, size * root))
            {
                continue;
            }

            if (best is null || Math.Abs(root - current) < Math.Abs(best.Value - current))
            {
                best = root;
            }
        }

        return best;
    }

    private static bool InBracket(MarketSpec spec, int k, decimal notional)
    {
        // A root on a floor solves both neighbouring brackets (MM is continuous there); allow rounding either side.
        const decimal tolerance = 0.000000000001m;
        var floor = spec.Brackets[k].Floor;
        var lowerOk = notional >= floor - (tolerance * Math.Max(1m, floor));
        if (k + 1 == spec.Brackets.Count)
        {
            return lowerOk;
        }

        var next = spec.Brackets[k + 1].Floor;
        return lowerOk && notional < next + (tolerance * next);
    }
}
