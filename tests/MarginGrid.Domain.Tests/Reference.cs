namespace MarginGrid.Domain.Tests;

/// <summary>
/// An independent re-statement of MARGIN-MODEL.md used as an oracle. The tiered requirement is written as the
/// integral of the marginal rate (rate_k over the part of N inside bracket k), which equals
/// <c>N × rate_k − cum_k</c> but shares no code with <see cref="MarketSpec"/>.
/// </summary>
public static class Reference
{
    public static decimal Requirement(IReadOnlyList<Bracket> brackets, decimal notional, bool initial)
    {
        var total = 0m;
        for (var k = 0; k < brackets.Count; k++)
        {
            var lo = brackets[k].Floor;
            if (notional <= lo)
            {
                break;
            }

            var hi = k + 1 < brackets.Count ? Math.Min(notional, brackets[k + 1].Floor) : notional;
            total += (initial ? brackets[k].Imr : brackets[k].Mmr) * (hi - lo);
        }

        return total;
    }

    /// <summary>The formula of bracket k, <c>N × rate_k − cum_k</c>, with cum computed from the spec's recurrence.</summary>
    public static decimal Formula(IReadOnlyList<Bracket> brackets, int k, decimal notional, bool initial)
    {
        decimal Rate(int i) => initial ? brackets[i].Imr : brackets[i].Mmr;
        var cum = 0m;
        for (var i = 1; i <= k; i++)
        {
            cum += brackets[i].Floor * (Rate(i) - Rate(i - 1));
        }

        return (notional * Rate(k)) - cum;
    }

    public static decimal Equity(Portfolio p, IMarks marks, RiskConfiguration config)
    {
        var e = 0m;
        foreach (var (asset, q) in p.Balances)
        {
            if (asset == Assets.Usd)
            {
                e += q;
            }
            else if (q > 0m)
            {
                Assert.True(config.TryGetCollateral(asset, out var spec));
                Assert.True(marks.TryGetMark(spec.PriceMarket!, out var price));
                e += spec.Weight * q * price;
            }
        }

        foreach (var (market, pos) in p.Positions)
        {
            Assert.True(marks.TryGetMark(market, out var mark));
            e += pos.Size * (mark - pos.Entry);
        }

        return e;
    }

    public static (decimal Mm, decimal Im) Requirements(Portfolio p, IMarks marks, RiskConfiguration config)
    {
        decimal mm = 0m, im = 0m;
        foreach (var (market, pos) in p.Positions)
        {
            Assert.True(marks.TryGetMark(market, out var mark));
            var brackets = config.Market(market).Brackets;
            mm += Requirement(brackets, Math.Abs(pos.Size) * mark, initial: false);
            im += Requirement(brackets, Math.Abs(pos.Size) * mark, initial: true);
        }

        return (mm, im);
    }

    /// <summary>Σ USD + fund − socialized: the quantity the conservation rule is about.</summary>
    public static decimal Money(IEnumerable<Portfolio> accounts, InsuranceLedger ledger) =>
        accounts.Sum(a => a.Usd) + ledger.Fund - ledger.SocializedLoss;

    /// <summary>Realized PnL + collateral sold value + net USD transfers: what money may change by.</summary>
    public static decimal Sources(IEnumerable<Portfolio> accounts) =>
        accounts.Sum(a => a.RealizedPnl + a.CollateralSoldValue + a.NetUsdTransfers);

    public static void Near(decimal expected, decimal actual, decimal relative = 0.000000001m)
    {
        var tolerance = relative * Math.Max(1m, Math.Max(Math.Abs(expected), Math.Abs(actual)));
        Assert.True(Math.Abs(expected - actual) <= tolerance, $"expected {expected}, got {actual} (tolerance {tolerance})");
    }
}
