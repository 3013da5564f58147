namespace MarginGrid.Domain;

/// <summary>A price interval of one market: strictly inside it, that market alone cannot use up its share of headroom.</summary>
public readonly record struct SafeBand(decimal Low, decimal High)
{
    /// <summary>Strictly inside: a price on a bound is treated as crossed.</summary>
    public bool Contains(decimal price) => price > Low && price < High;
}

/// <summary>
/// Safe bands (DESIGN.md §2). For a Healthy account, <c>f = E − c·MM</c> is a sum of one term per market (its positions'
/// PnL and MM, and the collateral it prices) plus a constant. Give each market an equal share <c>h = f / k</c> of the
/// headroom. The slope of a market's term in its price lies in <c>[s + wq − c·|s|·mmr_max, s + wq − c·|s|·mmr_1]</c>, so
/// the term cannot lose more than <c>h</c> while the price stays within <c>h / slope</c> of the mark on either side.
/// While every market is strictly inside its band, <c>f &gt; 0</c>: the account is provably still Healthy, and a tick that
/// stays inside needs no evaluation. Not Healthy (or no headroom): no bands, every tick is evaluated.
/// </summary>
public static class SafeBands
{
    public static IReadOnlyDictionary<string, SafeBand>? For(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var health = MarginCalculator.Evaluate(portfolio, marks, config);
        var c = config.Risk.MarginCallRatio;
        var headroom = health.Equity - (c * health.MaintenanceMargin);
        if (health.Status != AccountStatus.Healthy || headroom <= 0m)
        {
            return null;
        }

        // Without positions the threshold is E > 0 when USD is negative, and nothing can change the status otherwise.
        var slopes = new Dictionary<string, (decimal Min, decimal Max)>(StringComparer.Ordinal);
        foreach (var (market, position) in portfolio.Positions)
        {
            var spec = config.Market(market);
            var size = Math.Abs(position.Size);
            var k = marks.Multiplier(market); // MMᵢ scales by the market's multiplier, so does its slope
            var steepest = MarginCalculator.Scale(k, c * size * spec.Brackets[^1].Mmr);
            var flattest = MarginCalculator.Scale(k, c * size * spec.Brackets[0].Mmr);
            Add(slopes, market, position.Size - steepest, position.Size - flattest);
        }

        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q > 0m && config.TryGetCollateral(asset, out var spec) && spec.PriceMarket is { } market)
            {
                var w = spec.Weight * q;
                Add(slopes, market, w, w);
            }
        }

        var share = headroom / Math.Max(1, slopes.Count);
        var bands = new Dictionary<string, SafeBand>(slopes.Count, StringComparer.Ordinal);
        foreach (var (market, (min, max)) in slopes)
        {
            var mark = MarginCalculator.Mark(marks, market);
            var low = max > 0m ? mark - (share / max) : 0m;       // falling: the term loses at most max × Δ
            var high = min < 0m ? mark + (share / -min) : decimal.MaxValue; // rising: at most −min × Δ
            bands[market] = new SafeBand(Math.Max(0m, low), high);
        }

        return bands;
    }

    private static void Add(Dictionary<string, (decimal Min, decimal Max)> slopes, string market, decimal min, decimal max)
    {
        var (m0, m1) = slopes.GetValueOrDefault(market);
        slopes[market] = (m0 + min, m1 + max);
    }
}
