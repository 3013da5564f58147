namespace MarginGrid.Domain;

/// <summary>The kinds of event the margin model emits (MARGIN-MODEL.md: v1, v2 and v3).</summary>
public enum ModelEventType
{
    MarginCall = 0,
    Liquidation = 1,
    CollateralLiquidation = 2,
    Bankruptcy = 3,
    Rejected = 4,

    // v2
    PriceStale = 5,
    PriceHeld = 6,
    LiquidationDeferred = 7,
    LiquidationBatch = 8,

    // v3
    Adl = 9,
    AuctionStart = 10,
    AuctionTake = 11,
    AuctionEnd = 12,
}

/// <summary>
/// One event of the model, as the domain decides it. Grains add the step id and timestamp when they publish it; the
/// pure model engine writes it to a result. Fields a type does not use are null. Market-level events
/// (<see cref="ModelEventType.PriceStale"/>, <see cref="ModelEventType.PriceHeld"/>,
/// <see cref="ModelEventType.LiquidationBatch"/>) carry no account.
/// </summary>
public sealed record ModelEvent(ModelEventType Type, string? Account)
{
    public AccountStatus? Status { get; init; }
    public string? Market { get; init; }
    public string? Asset { get; init; }
    public decimal? Quantity { get; init; }
    public decimal? Price { get; init; }
    public decimal? Penalty { get; init; }
    public decimal? Discount { get; init; }
    public decimal? Deficit { get; init; }
    public decimal? InsuranceCovered { get; init; }
    public decimal? Socialized { get; init; }
    public string? Reason { get; init; }

    // v2: liquidation_batch
    public decimal? Buys { get; init; }
    public decimal? Sells { get; init; }
    public decimal? Netted { get; init; }
    public decimal? Residual { get; init; }

    // v3
    public decimal? AdlRecovered { get; init; }
    public string? Counterparty { get; init; }
    public string? Liquidator { get; init; }
    public decimal? Tab { get; init; }

    /// <summary>The snake_case name the model and the results use ("margin_call", ...).</summary>
    public string TypeName => Type switch
    {
        ModelEventType.MarginCall => "margin_call",
        ModelEventType.Liquidation => "liquidation",
        ModelEventType.CollateralLiquidation => "collateral_liquidation",
        ModelEventType.Bankruptcy => "bankruptcy",
        ModelEventType.Rejected => "rejected",
        ModelEventType.PriceStale => "price_stale",
        ModelEventType.PriceHeld => "price_held",
        ModelEventType.LiquidationDeferred => "liquidation_deferred",
        ModelEventType.LiquidationBatch => "liquidation_batch",
        ModelEventType.Adl => "adl",
        ModelEventType.AuctionStart => "auction_start",
        ModelEventType.AuctionTake => "auction_take",
        ModelEventType.AuctionEnd => "auction_end",
        _ => Type.ToString(),
    };
}
