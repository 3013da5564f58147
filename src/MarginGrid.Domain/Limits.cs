namespace MarginGrid.Domain;

/// <summary>
/// The bounds of one market: no accepted price, fill or position may exceed them. With every market and asset inside
/// its bounds (and at most <see cref="Limits.MaxMarkets"/> markets and <see cref="Limits.MaxAssets"/> assets), no
/// evaluation can overflow <see cref="decimal"/>: a notional is at most <c>MaxPositionSize × MaxPrice ≤ 10^24</c>, a
/// collateral value at most <c>MaxQuantity × MaxPrice ≤ 10^25</c>, and the sum over 256 of each stays below
/// <c>3 × 10^27</c>, well inside <c>decimal.MaxValue ≈ 7.9 × 10^28</c>.
/// </summary>
/// <param name="MaxPrice">The highest price (USD) accepted for the market: prices, fill prices, entry prices.</param>
/// <param name="MaxPositionSize">The largest absolute size of one fill and of a position.</param>
/// <param name="MaxNotional">The largest <c>|size| × price</c> of one fill and of a position at its entry price.</param>
public sealed record MarketLimits(decimal MaxPrice, decimal MaxPositionSize, decimal MaxNotional)
{
    /// <summary>1e9 USD, 1e9 units, 1e13 USD of notional.</summary>
    public static MarketLimits Default { get; } = new(1_000_000_000m, 1_000_000_000m, 10_000_000_000_000m);
}

/// <summary>
/// Bounds on inputs, so that no accepted input can overflow <see cref="decimal"/> during evaluation
/// (see <see cref="MarketLimits"/>). Every check returns the offending field and a reason, or null.
/// </summary>
public static class Limits
{
    /// <summary>The hard ceiling of a configured <see cref="MarketLimits.MaxPrice"/>.</summary>
    public const decimal PriceCeiling = 1_000_000_000_000m; // 1e12

    /// <summary>The hard ceiling of a configured <see cref="MarketLimits.MaxPositionSize"/>.</summary>
    public const decimal SizeCeiling = 1_000_000_000_000m; // 1e12

    /// <summary>The hard ceiling of a configured <see cref="MarketLimits.MaxNotional"/>.</summary>
    public const decimal NotionalCeiling = 1_000_000_000_000_000_000_000_000m; // 1e24

    /// <summary>The hard ceiling of a configured collateral <c>maxQuantity</c>.</summary>
    public const decimal QuantityCeiling = 10_000_000_000_000m; // 1e13

    /// <summary>The largest quantity of a collateral asset (USD included) when none is configured: 1e13.</summary>
    public const decimal DefaultMaxQuantity = QuantityCeiling;

    /// <summary>The most markets a configuration may hold.</summary>
    public const int MaxMarkets = 256;

    /// <summary>The most collateral assets a configuration may hold.</summary>
    public const int MaxAssets = 256;

    /// <summary>Validates configured limits against the ceilings; <paramref name="path"/> is e.g. <c>markets[0].limits</c>.</summary>
    public static (string Field, string Reason)? Validate(MarketLimits limits, string path) =>
        Bound($"{path}.maxPrice", limits.MaxPrice, PriceCeiling)
        ?? Bound($"{path}.maxPositionSize", limits.MaxPositionSize, SizeCeiling)
        ?? Bound($"{path}.maxNotional", limits.MaxNotional, NotionalCeiling);

    /// <summary>Validates a configured collateral <c>maxQuantity</c>.</summary>
    public static (string Field, string Reason)? ValidateQuantityLimit(decimal maxQuantity, string field) =>
        Bound(field, maxQuantity, QuantityCeiling);

    /// <summary>A price of the market: positive and at most <see cref="MarketLimits.MaxPrice"/>.</summary>
    public static (string Field, string Reason)? CheckPrice(MarketLimits limits, decimal price, string field) =>
        price <= 0m ? (field, $"must be positive, got {price}")
        : price > limits.MaxPrice ? (field, $"must be at most {limits.MaxPrice} (the market's maxPrice), got {price}")
        : null;

    /// <summary>
    /// A fill (or an opening position): non-zero size within <see cref="MarketLimits.MaxPositionSize"/>, a valid price,
    /// and a notional within <see cref="MarketLimits.MaxNotional"/>. Computes the notional only once both factors are
    /// bounded, so the check itself cannot overflow.
    /// </summary>
    public static (string Field, string Reason)? CheckTrade(
        MarketLimits limits, decimal size, decimal price, string sizeField, string priceField) =>
        size == 0m ? (sizeField, "must not be zero (positive buys, negative sells)")
        : Math.Abs(size) > limits.MaxPositionSize
            ? (sizeField, $"|size| must be at most {limits.MaxPositionSize} (the market's maxPositionSize), got {size}")
        : CheckPrice(limits, price, priceField)
        ?? (Math.Abs(size) * price > limits.MaxNotional
            ? (sizeField, $"|size| × price must be at most {limits.MaxNotional} (the market's maxNotional), got {Math.Abs(size) * price}")
            : null);

    /// <summary>
    /// A position after a fill (for the account aggregate): its size within <see cref="MarketLimits.MaxPositionSize"/>
    /// and its notional at <paramref name="price"/> within <see cref="MarketLimits.MaxNotional"/>.
    /// </summary>
    public static (string Field, string Reason)? CheckPosition(MarketLimits limits, decimal size, decimal price, string field) =>
        Math.Abs(size) > limits.MaxPositionSize
            ? (field, $"the position's |size| would exceed {limits.MaxPositionSize} (the market's maxPositionSize)")
        : price > 0m && price <= limits.MaxPrice && Math.Abs(size) * price > limits.MaxNotional
            ? (field, $"the position's notional would exceed {limits.MaxNotional} (the market's maxNotional)")
            : null;

    /// <summary>A deposit, withdrawal or opening balance: positive (negative allowed only where the caller says) and bounded.</summary>
    public static (string Field, string Reason)? CheckQuantity(decimal maxQuantity, decimal quantity, string field, bool allowNegative = false) =>
        quantity == 0m && !allowNegative ? (field, "must be positive, got 0")
        : quantity < 0m && !allowNegative ? (field, $"must be positive, got {quantity}")
        : Math.Abs(quantity) > maxQuantity ? (field, $"must be at most {maxQuantity} in absolute value (the asset's maxQuantity), got {quantity}")
        : null;

    /// <summary>A balance after a command (for the account aggregate): within the asset's bound.</summary>
    public static (string Field, string Reason)? CheckBalance(decimal maxQuantity, decimal balance, string field) =>
        Math.Abs(balance) > maxQuantity ? (field, $"the balance would exceed {maxQuantity} (the asset's maxQuantity)") : null;

    private static (string Field, string Reason)? Bound(string field, decimal value, decimal ceiling) =>
        value <= 0m ? (field, $"must be positive, got {value}")
        : value > ceiling ? (field, $"must be at most {ceiling}, got {value}")
        : null;
}
