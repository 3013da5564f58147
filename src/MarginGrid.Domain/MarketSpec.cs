namespace MarginGrid.Domain;

/// <summary>
/// A linear perpetual market and its tiered requirements.
/// <c>requirement(N) = N × rate_k − cum_k</c> with <c>cum_k = cum_{k−1} + floor_k × (rate_k − rate_{k−1})</c>,
/// which makes the requirement continuous in notional.
/// </summary>
public sealed class MarketSpec
{
    private readonly decimal[] _mmCum;
    private readonly decimal[] _imCum;

    public MarketSpec(string symbol, decimal lotSize, decimal liquidationPenalty, IReadOnlyList<Bracket> brackets)
    {
        Symbol = symbol;
        LotSize = lotSize;
        LiquidationPenalty = liquidationPenalty;
        Brackets = brackets;
        _mmCum = Cumulative(brackets, static b => b.Mmr);
        _imCum = Cumulative(brackets, static b => b.Imr);
    }

    public string Symbol { get; }

    public decimal LotSize { get; }

    /// <summary>φ: fraction of the closed notional charged as a liquidation penalty.</summary>
    public decimal LiquidationPenalty { get; }

    public IReadOnlyList<Bracket> Brackets { get; }

    /// <summary>v2 oracle guard; null: the mark is the median of every source's latest price.</summary>
    public OracleSpec? Oracle { get; init; }

    /// <summary>v2 volatility-scaled margin; null: the multiplier is 1.</summary>
    public VolatilitySpec? Volatility { get; init; }

    /// <summary>v2: notional that liquidations may close in this market per step; null: no cap.</summary>
    public decimal? LiquidationCap { get; init; }

    /// <summary>v2 price impact κ of a batch's residual (0: closes execute at the mark).</summary>
    public decimal Impact { get; init; }

    /// <summary>v2 upper bound of the impact fraction (default 0.5).</summary>
    public decimal MaxImpact { get; init; } = DefaultMaxImpact;

    public const decimal DefaultMaxImpact = 0.5m;

    /// <summary>
    /// The market's bounds (issue 9): no accepted price, fill or position exceeds them, so no evaluation can overflow.
    /// The account aggregate refuses a command whose result would take a position beyond them.
    /// </summary>
    public MarketLimits Limits { get; init; } = MarketLimits.Default;

    /// <summary>Maintenance requirement of a position of the given notional (≥ 0).</summary>
    public decimal MaintenanceRequirement(decimal notional)
    {
        var k = BracketIndex(notional);
        return (notional * Brackets[k].Mmr) - _mmCum[k];
    }

    /// <summary>Initial requirement of a position of the given notional (≥ 0).</summary>
    public decimal InitialRequirement(decimal notional)
    {
        var k = BracketIndex(notional);
        return (notional * Brackets[k].Imr) - _imCum[k];
    }

    /// <summary>The maintenance "amount" subtracted in bracket k (exposed for the liquidation-price solver).</summary>
    public decimal MaintenanceCumulative(int bracket) => _mmCum[bracket];

    /// <summary>Index of the bracket with <c>floor_k ≤ N &lt; floor_{k+1}</c>.</summary>
    public int BracketIndex(decimal notional)
    {
        var k = 0;
        for (var i = 1; i < Brackets.Count; i++)
        {
            if (Brackets[i].Floor <= notional)
            {
                k = i;
            }
            else
            {
                break;
            }
        }

        return k;
    }

    private static decimal[] Cumulative(IReadOnlyList<Bracket> brackets, Func<Bracket, decimal> rate)
    {
        var cum = new decimal[brackets.Count];
        for (var k = 1; k < brackets.Count; k++)
        {
            cum[k] = cum[k - 1] + (brackets[k].Floor * (rate(brackets[k]) - rate(brackets[k - 1])));
        }

        return cum;
    }
}
