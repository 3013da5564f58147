namespace MarginGrid.Domain;

public enum AccountStatus
{
    Healthy = 0,
    MarginCall = 1,
    Liquidatable = 2,
    Bankrupt = 3,
}

/// <summary>Mark prices by market symbol.</summary>
public interface IMarks
{
    bool TryGetMark(string market, out decimal mark);

    /// <summary>
    /// The volatility multiplier k ≥ 1 of a market (MARGIN-MODEL.md v2): every MMᵢ and IMᵢ of a position in it is
    /// multiplied by k. 1 unless the market has <c>volatility</c> configured and enough returns.
    /// </summary>
    decimal Multiplier(string market) => 1m;
}

/// <summary>A dictionary-backed set of marks.</summary>
public sealed class MarkBook : IMarks
{
    private readonly Dictionary<string, decimal> _marks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, decimal> _multipliers = new(StringComparer.Ordinal);
    private readonly HashSet<string> _stale = new(StringComparer.Ordinal);

    public MarkBook()
    {
    }

    public MarkBook(IEnumerable<KeyValuePair<string, decimal>> marks)
    {
        foreach (var (market, price) in marks)
        {
            Set(market, price);
        }
    }

    public IReadOnlyDictionary<string, decimal> All => _marks;

    public void Set(string market, decimal price)
    {
        if (price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(price), $"mark of {market} must be positive, got {price}");
        }

        _marks[market] = price;
    }

    public bool TryGetMark(string market, out decimal mark) => _marks.TryGetValue(market, out mark);

    /// <summary>v2: the markets that are stale at the step's time (no fresh source).</summary>
    public IReadOnlySet<string> Stale => _stale;

    public void MarkStale(string market) => _stale.Add(market);

    /// <summary>Multipliers other than 1, by market.</summary>
    public IReadOnlyDictionary<string, decimal> Multipliers => _multipliers;

    public decimal Multiplier(string market) => _multipliers.TryGetValue(market, out var k) ? k : 1m;

    /// <summary>Sets the volatility multiplier k (≥ 1) of a market.</summary>
    public void SetMultiplier(string market, decimal multiplier)
    {
        if (multiplier < 1m)
        {
            throw new ArgumentOutOfRangeException(nameof(multiplier), $"multiplier of {market} must be at least 1, got {multiplier}");
        }

        if (multiplier == 1m)
        {
            _multipliers.Remove(market);
        }
        else
        {
            _multipliers[market] = multiplier;
        }
    }
}

/// <summary>The health of an account at a set of marks.</summary>
public readonly record struct AccountHealth(
    decimal Equity,
    decimal MaintenanceMargin,
    decimal InitialMargin,
    AccountStatus Status,
    bool HasPositions)
{
    /// <summary><c>E / MM</c>; null without positions (unbounded).</summary>
    public decimal? Health => HasPositions && MaintenanceMargin > 0m ? Equity / MaintenanceMargin : null;

    public bool NeedsLiquidation => Status is AccountStatus.Liquidatable or AccountStatus.Bankrupt;
}

/// <summary>Equity, requirements and status of an account (MARGIN-MODEL.md, "Account health").</summary>
public static class MarginCalculator
{
    public static decimal Mark(IMarks marks, string market) =>
        marks.TryGetMark(market, out var mark) ? mark : throw new MissingMarkException(market);

    /// <summary>Value of a collateral balance towards equity: <c>w × q × P</c> for q &gt; 0, USD debt at weight 1.</summary>
    public static decimal CollateralValue(string asset, decimal quantity, IMarks marks, RiskConfiguration config)
    {
        if (asset == Assets.Usd)
        {
            return quantity;
        }

        if (quantity <= 0m)
        {
            return 0m;
        }

        if (!config.TryGetCollateral(asset, out var spec) || spec.PriceMarket is null)
        {
            throw new InvalidOperationException($"asset '{asset}' is not a configured collateral asset");
        }

        return spec.Weight * quantity * Mark(marks, spec.PriceMarket);
    }

    public static decimal Equity(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var equity = 0m;
        foreach (var (asset, q) in portfolio.Balances)
        {
            equity += CollateralValue(asset, q, marks, config);
        }

        foreach (var (market, pos) in portfolio.Positions)
        {
            equity += pos.Size * (Mark(marks, market) - pos.Entry);
        }

        return equity;
    }

    public static decimal PositionMaintenance(MarketSpec market, Position position, decimal mark) =>
        market.MaintenanceRequirement(Math.Abs(position.Size) * mark);

    /// <summary>MMᵢ of a position scaled by its market's multiplier k.</summary>
    public static decimal PositionMaintenance(MarketSpec market, Position position, decimal mark, decimal multiplier) =>
        Scale(multiplier, market.MaintenanceRequirement(Math.Abs(position.Size) * mark));

    /// <summary><c>k × requirement</c>; exactly the requirement when k = 1 (v1 arithmetic untouched).</summary>
    public static decimal Scale(decimal multiplier, decimal requirement) =>
        multiplier == 1m ? requirement : multiplier * requirement;

    public static AccountHealth Evaluate(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var equity = Equity(portfolio, marks, config);
        var mm = 0m;
        var im = 0m;
        foreach (var (symbol, pos) in portfolio.Positions)
        {
            var market = config.Market(symbol);
            var notional = Math.Abs(pos.Size) * Mark(marks, symbol);
            var k = marks.Multiplier(symbol);
            mm += Scale(k, market.MaintenanceRequirement(notional));
            im += Scale(k, market.InitialRequirement(notional));
        }

        var status = Classify(portfolio.HasPositions, portfolio.Usd, equity, mm, config.Risk);
        return new AccountHealth(equity, mm, im, status, portfolio.HasPositions);
    }

    /// <summary>The status rule of the model: the first that applies wins.</summary>
    public static AccountStatus Classify(bool hasPositions, decimal usd, decimal equity, decimal mm, RiskParameters risk)
    {
        if (!hasPositions && usd >= 0m)
        {
            return AccountStatus.Healthy;
        }

        if (equity <= 0m)
        {
            return AccountStatus.Bankrupt;
        }

        if (!hasPositions)
        {
            return AccountStatus.Healthy;
        }

        if (equity < mm)
        {
            return AccountStatus.Liquidatable;
        }

        return equity < risk.MarginCallRatio * mm ? AccountStatus.MarginCall : AccountStatus.Healthy;
    }

    /// <summary>
    /// Liquidation order key of the model: accounts without positions first, then health ascending,
    /// then account id (ordinal).
    /// </summary>
    public static int CompareForLiquidation(string idA, AccountHealth a, string idB, AccountHealth b)
    {
        var byPositions = a.HasPositions.CompareTo(b.HasPositions);
        if (byPositions != 0)
        {
            return byPositions;
        }

        if (a.HasPositions)
        {
            var byHealth = a.Health!.Value.CompareTo(b.Health!.Value);
            if (byHealth != 0)
            {
                return byHealth;
            }
        }

        return string.CompareOrdinal(idA, idB);
    }
}

public sealed class MissingMarkException(string market)
    : InvalidOperationException($"no mark price for market '{market}'")
{
    public string Market { get; } = market;
}
