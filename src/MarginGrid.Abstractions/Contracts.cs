using System.Collections.Immutable;

namespace MarginGrid;

/// <summary>Account status on the wire (mirrors the domain's status, worst last).</summary>
[GenerateSerializer, Alias("mg.RiskStatus")]
public enum RiskStatus
{
    Healthy = 0,
    MarginCall = 1,
    Liquidatable = 2,
    Bankrupt = 3,
}

[GenerateSerializer, Alias("mg.GridEventType")]
public enum GridEventType
{
    MarginCall = 0,
    Liquidation = 1,
    CollateralLiquidation = 2,
    Bankruptcy = 3,
    Rejected = 4,
    PriceStale = 5,
    PriceHeld = 6,
    LiquidationDeferred = 7,
    LiquidationBatch = 8,
    Adl = 9,
    AuctionStart = 10,
    AuctionTake = 11,
    AuctionEnd = 12,
}

/// <summary>
/// One engine event, as it goes to the event stream, the account history and the audit trail.
/// Fields not used by a type are null. <see cref="Step"/> names the step that caused it.
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.GridEvent")]
public sealed record GridEvent(
    [property: Id(0)] GridEventType Type,
    [property: Id(1)] string Account,
    [property: Id(2)] string Step,
    [property: Id(3)] DateTimeOffset Timestamp)
{
    [Id(4)] public RiskStatus? Status { get; init; }
    [Id(5)] public string? Market { get; init; }
    [Id(6)] public string? Asset { get; init; }
    [Id(7)] public decimal? Quantity { get; init; }
    [Id(8)] public decimal? Price { get; init; }
    [Id(9)] public decimal? Penalty { get; init; }
    [Id(10)] public decimal? Discount { get; init; }
    [Id(11)] public decimal? Deficit { get; init; }
    [Id(12)] public decimal? InsuranceCovered { get; init; }
    [Id(13)] public decimal? Socialized { get; init; }
    [Id(14)] public string? Reason { get; init; }

    // v2: liquidation_batch {market, buys, sells, netted, residual, price}
    [Id(15)] public decimal? Buys { get; init; }
    [Id(16)] public decimal? Sells { get; init; }
    [Id(17)] public decimal? Netted { get; init; }
    [Id(18)] public decimal? Residual { get; init; }

    // v3: bankruptcy's adl (recovered), adl's counterparty, auction_take's liquidator, auction_start's tab
    [Id(19)] public decimal? AdlRecovered { get; init; }
    [Id(20)] public string? Counterparty { get; init; }
    [Id(21)] public string? Liquidator { get; init; }
    [Id(22)] public decimal? Tab { get; init; }

    /// <summary>A margin call's (or liquidation's) equity at the step, where the emitter knows it.</summary>
    [Id(23)] public decimal? Equity { get; init; }

    /// <summary>A margin call's (or liquidation's) maintenance margin at the step, where the emitter knows it.</summary>
    [Id(24)] public decimal? MaintenanceMargin { get; init; }

    /// <summary>The marks the decision was taken at (market → price), where the emitter knows them.</summary>
    [Id(25)] public ImmutableSortedDictionary<string, decimal>? Marks { get; init; }

    /// <summary>
    /// The event's key in the audit trail (<c>account/#n</c>, the account's n-th recorded event) where the account keeps
    /// an audit outbox: the trail stores one row per key, however often the event is offered. Null elsewhere.
    /// </summary>
    [Id(26)] public string? AuditKey { get; init; }

    /// <summary>Market-level events (price_stale, price_held, liquidation_batch) have no account.</summary>
    public bool IsMarketEvent => Type is GridEventType.PriceStale or GridEventType.PriceHeld or GridEventType.LiquidationBatch;

    /// <summary>The snake_case name used in results and APIs ("margin_call", ...).</summary>
    public string TypeName => Type switch
    {
        GridEventType.MarginCall => "margin_call",
        GridEventType.Liquidation => "liquidation",
        GridEventType.CollateralLiquidation => "collateral_liquidation",
        GridEventType.Bankruptcy => "bankruptcy",
        GridEventType.Rejected => "rejected",
        GridEventType.PriceStale => "price_stale",
        GridEventType.PriceHeld => "price_held",
        GridEventType.LiquidationDeferred => "liquidation_deferred",
        GridEventType.LiquidationBatch => "liquidation_batch",
        GridEventType.Adl => "adl",
        GridEventType.AuctionStart => "auction_start",
        GridEventType.AuctionTake => "auction_take",
        GridEventType.AuctionEnd => "auction_end",
        _ => Type.ToString(),
    };
}

[GenerateSerializer, Immutable, Alias("mg.BracketConfig")]
public sealed record BracketConfig(
    [property: Id(0)] decimal Floor,
    [property: Id(1)] decimal Mmr,
    [property: Id(2)] decimal Imr);

[GenerateSerializer, Immutable, Alias("mg.MarketConfig")]
public sealed record MarketConfig(
    [property: Id(0)] string Symbol,
    [property: Id(1)] decimal LotSize,
    [property: Id(2)] decimal LiquidationPenalty,
    [property: Id(3)] ImmutableArray<BracketConfig> Brackets)
{
    /// <summary>v2 oracle guard; null: off.</summary>
    [Id(4)] public OracleConfig? Oracle { get; init; }

    /// <summary>v2 volatility-scaled margin; null: off.</summary>
    [Id(5)] public VolatilityConfig? Volatility { get; init; }

    /// <summary>v2 liquidation cap (notional per step); null: off.</summary>
    [Id(6)] public decimal? LiquidationCap { get; init; }

    /// <summary>v2 price impact κ of a liquidation batch's residual; null: 0.</summary>
    [Id(7)] public decimal? Impact { get; init; }

    /// <summary>v2 bound of the impact fraction; null: 0.5.</summary>
    [Id(8)] public decimal? MaxImpact { get; init; }

    /// <summary>The market's bounds; null takes the defaults (<c>MarginGrid.Domain.MarketLimits.Default</c>).</summary>
    [Id(9)] public MarketLimitsConfig? Limits { get; init; }
}

/// <summary>The bounds of one market (see <c>MarginGrid.Domain.MarketLimits</c>).</summary>
[GenerateSerializer, Immutable, Alias("mg.MarketLimitsConfig")]
public sealed record MarketLimitsConfig(
    [property: Id(0)] decimal MaxPrice,
    [property: Id(1)] decimal MaxPositionSize,
    [property: Id(2)] decimal MaxNotional);

/// <summary>v2 oracle guard of a market: ages in seconds; every part is off when null (minSources: 1).</summary>
[GenerateSerializer, Immutable, Alias("mg.OracleConfig")]
public sealed record OracleConfig(
    [property: Id(0)] decimal? MaxAge,
    [property: Id(1)] decimal? MaxDeviation,
    [property: Id(2)] decimal? MinSources,
    [property: Id(3)] decimal? MaxMove);

/// <summary>v2 volatility-scaled margin of a market: window n (returns), reference r, maximum multiplier K.</summary>
[GenerateSerializer, Immutable, Alias("mg.VolatilityConfig")]
public sealed record VolatilityConfig(
    [property: Id(0)] decimal Window,
    [property: Id(1)] decimal Reference,
    [property: Id(2)] decimal MaxMultiplier);

[GenerateSerializer, Immutable, Alias("mg.CollateralConfig")]
public sealed record CollateralConfig(
    [property: Id(0)] string Asset,
    [property: Id(1)] decimal Weight,
    [property: Id(2)] string? PriceMarket,
    [property: Id(3)] decimal LiquidationDiscount)
{
    /// <summary>v3 Dutch auction of the asset in liquidations; null: sold to the system (v1).</summary>
    [Id(4)] public AuctionConfig? Auction { get; init; }

    /// <summary>The largest quantity of the asset in a command or a balance; null takes the default (1e13).</summary>
    [Id(5)] public decimal? MaxQuantity { get; init; }
}

/// <summary>v3 Dutch auction: top = P × buf, price top × cut^⌊(t − t0) / step⌋, ends after tail seconds or below cusp.</summary>
[GenerateSerializer, Immutable, Alias("mg.AuctionConfig")]
public sealed record AuctionConfig(
    [property: Id(0)] decimal Buf,
    [property: Id(1)] decimal Step,
    [property: Id(2)] decimal Cut,
    [property: Id(3)] decimal Tail,
    [property: Id(4)] decimal Cusp);

[GenerateSerializer, Immutable, Alias("mg.RiskRatios")]
public sealed record RiskRatios(
    [property: Id(0)] decimal MarginCallRatio,
    [property: Id(1)] decimal LiquidationTargetRatio)
{
    /// <summary>v3: "socialize" (null, the default) or "adl".</summary>
    [Id(2)] public string? BankruptcyResolution { get; init; }
}

/// <summary>The whole risk configuration at one version; every account and market caches it by version.</summary>
[GenerateSerializer, Immutable, Alias("mg.RiskConfigSnapshot")]
public sealed record RiskConfigSnapshot(
    [property: Id(0)] long Version,
    [property: Id(1)] ImmutableArray<MarketConfig> Markets,
    [property: Id(2)] ImmutableArray<CollateralConfig> Collateral,
    [property: Id(3)] RiskRatios Risk);

[GenerateSerializer, Immutable, Alias("mg.PositionSnapshot")]
public sealed record PositionSnapshot(
    [property: Id(0)] string Market,
    [property: Id(1)] decimal Size,
    [property: Id(2)] decimal EntryPrice);

/// <summary>The holdings an account is opened with (replay seeding, demo, migration from another system).</summary>
[GenerateSerializer, Immutable, Alias("mg.AccountSeed")]
public sealed record AccountSeed(
    [property: Id(0)] ImmutableDictionary<string, decimal> Collateral,
    [property: Id(1)] ImmutableArray<PositionSnapshot> Positions);

/// <summary>A price for one market from one source.</summary>
[GenerateSerializer, Immutable, Alias("mg.PriceUpdate")]
public sealed record PriceUpdate(
    [property: Id(0)] decimal Price,
    [property: Id(1)] string Source,
    [property: Id(2)] DateTimeOffset Timestamp)
{
    /// <summary>When false, holders take the mark without evaluating (the first half of a multi-market step).</summary>
    [Id(3)] public bool Evaluate { get; init; } = true;

    /// <summary>
    /// When the engine received the price (the API stamps it on the engine's clock); freshness is measured from it,
    /// never from the source's <see cref="Timestamp"/>. Null for prices from replays and tests.
    /// </summary>
    [Id(4)] public DateTimeOffset? ReceivedAt { get; init; }
}

/// <summary>A mark delivered to the holders of a market; <see cref="Sequence"/> orders ticks of one market.</summary>
[GenerateSerializer, Immutable, Alias("mg.MarketTick")]
public sealed record MarketTick(
    [property: Id(0)] string Market,
    [property: Id(1)] long Sequence,
    [property: Id(2)] decimal Price,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] bool Evaluate,
    [property: Id(5)] long ConfigVersion)
{
    /// <summary>The market's margin multiplier k after this mark (v2 volatility-scaled margin; 1 without it).</summary>
    [Id(6)] public decimal Multiplier { get; init; } = 1m;

    public string StepId => $"{Market}#{Sequence}";
}

[GenerateSerializer, Immutable, Alias("mg.MarkPrice")]
public sealed record MarkPrice(
    [property: Id(0)] string Market,
    [property: Id(1)] long Sequence,
    [property: Id(2)] decimal Price,
    [property: Id(3)] DateTimeOffset Timestamp)
{
    /// <summary>The market's margin multiplier k (v2 volatility-scaled margin; 1 without it).</summary>
    [Id(4)] public decimal Multiplier { get; init; } = 1m;

    /// <summary>v2: no source of the market is fresh on the engine's clock (its accounts are not liquidated).</summary>
    [Id(5)] public bool Stale { get; init; }
}

/// <summary>
/// What an evaluation found that the step must act on: a margin call to order, or an account to liquidate.
/// Healthy accounts whose status did not worsen report nothing.
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.EvaluationReport")]
public sealed record EvaluationReport(
    [property: Id(0)] string Account,
    [property: Id(1)] RiskStatus Status,
    [property: Id(2)] bool HasPositions,
    [property: Id(3)] decimal Equity,
    [property: Id(4)] decimal MaintenanceMargin,
    [property: Id(5)] GridEvent? MarginCall)
{
    /// <summary>What a liquidation is decided on (set when the account needs one): its holdings and version.</summary>
    [Id(6)] public AccountSeed? Holdings { get; init; }

    [Id(7)] public long Version { get; init; }

    /// <summary>v3: the account's collateral is in a Dutch auction: it is evaluated but not liquidated.</summary>
    [Id(8)] public bool InAuction { get; init; }

    public bool NeedsLiquidation => Status is RiskStatus.Liquidatable or RiskStatus.Bankrupt;
}

/// <summary>What one shard's delivery of a tick produced: how many holders evaluated it, and the notable reports.</summary>
[GenerateSerializer, Immutable, Alias("mg.TickDelivery")]
public sealed record TickDelivery(
    [property: Id(0)] int Evaluated,
    [property: Id(1)] ImmutableArray<EvaluationReport> Reports)
{
    /// <summary>Holders the tick was actually delivered to (with gating, those whose safe band it left).</summary>
    [Id(2)] public int Delivered { get; init; }
}

/// <summary>The events of one settled step, in the order of the margin model.</summary>
[GenerateSerializer, Immutable, Alias("mg.StepOutcome")]
public sealed record StepOutcome(
    [property: Id(0)] string Step,
    [property: Id(1)] ImmutableArray<GridEvent> Events,
    [property: Id(2)] int Evaluated)
{
    /// <summary>Accounts that evaluated the step (holders whose safe band it left, or all holders without gating).</summary>
    [Id(3)] public int Delivered { get; init; }

    public static StepOutcome Empty(string step) => new(step, [], 0);
}

[GenerateSerializer, Immutable, Alias("mg.FillCommand")]
public sealed record FillCommand(
    [property: Id(0)] string CommandId,
    [property: Id(1)] string Market,
    [property: Id(2)] decimal Size,
    [property: Id(3)] decimal Price);

[GenerateSerializer, Immutable, Alias("mg.TransferCommand")]
public sealed record TransferCommand(
    [property: Id(0)] string CommandId,
    [property: Id(1)] string Asset,
    [property: Id(2)] decimal Quantity);

/// <summary>
/// v3: a bid of the account it is sent to (the liquidator) on <see cref="Target"/>'s running Dutch auction of
/// <see cref="Asset"/>: up to <see cref="Quantity"/> at a price of at most <see cref="MaxPrice"/>. Idempotent by command id.
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.BidCommand")]
public sealed record BidCommand(
    [property: Id(0)] string CommandId,
    [property: Id(1)] string Target,
    [property: Id(2)] string Asset,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] decimal MaxPrice);

/// <summary>The result of a command: accepted or rejected, with the step's events. Repeating a command id returns it again.</summary>
[GenerateSerializer, Immutable, Alias("mg.CommandResult")]
public sealed record CommandResult(
    [property: Id(0)] string CommandId,
    [property: Id(1)] bool Accepted,
    [property: Id(2)] string? Reason,
    [property: Id(3)] ImmutableArray<GridEvent> Events,
    [property: Id(4)] long Version)
{
    /// <summary>True when this result is the stored answer to an earlier identical command.</summary>
    [Id(5)] public bool Duplicate { get; init; }
}

/// <summary>The fingerprint of a command body, to tell a retry (same body) from a conflicting reuse of its id.</summary>
[GenerateSerializer, Immutable, Alias("mg.CommandConflict")]
public sealed class CommandConflictException(string commandId)
    : Exception($"command id '{commandId}' was already used with a different body")
{
    [Id(0)] public string CommandId { get; } = commandId;
}

[GenerateSerializer, Immutable, Alias("mg.PositionView")]
public sealed record PositionView(
    [property: Id(0)] string Market,
    [property: Id(1)] decimal Size,
    [property: Id(2)] decimal EntryPrice,
    [property: Id(3)] decimal? Mark,
    [property: Id(4)] decimal? LiquidationPrice,
    [property: Id(5)] decimal? MaintenanceMargin)
{
    /// <summary>
    /// v3: the position's place in its market's auto-deleveraging queue, in (0, 1]: 1 is deleveraged first, 1/n last of n
    /// (docs/margin-model.md, "ADL rank"). Null when it is not in the queue or auto-deleveraging is off; set by the HTTP API.
    /// </summary>
    [Id(6)] public decimal? AdlQuantile { get; init; }
}

[GenerateSerializer, Immutable, Alias("mg.AccountView")]
public sealed record AccountView(
    [property: Id(0)] string Account,
    [property: Id(1)] ImmutableSortedDictionary<string, decimal> Collateral,
    [property: Id(2)] ImmutableArray<PositionView> Positions,
    [property: Id(3)] decimal Equity,
    [property: Id(4)] decimal MaintenanceMargin,
    [property: Id(5)] decimal InitialMargin,
    [property: Id(6)] decimal? Health,
    [property: Id(7)] RiskStatus Status,
    [property: Id(8)] long Version)
{
    /// <summary>Cumulative PnL realized into USD, for the conservation check.</summary>
    [Id(9)] public decimal RealizedPnl { get; init; }

    /// <summary>Cumulative <c>P × quantity</c> of collateral sold in liquidations.</summary>
    [Id(10)] public decimal CollateralSoldValue { get; init; }

    /// <summary>USD deposited minus withdrawn (including the opening balance).</summary>
    [Id(11)] public decimal NetUsdTransfers { get; init; }
}

[GenerateSerializer, Immutable, Alias("mg.PreTradeView")]
public sealed record PreTradeView(
    [property: Id(0)] bool Allowed,
    [property: Id(1)] string? Reason,
    [property: Id(2)] decimal? EquityAfter,
    [property: Id(3)] decimal? InitialMarginAfter);

[GenerateSerializer, Immutable, Alias("mg.FundView")]
public sealed record FundView(
    [property: Id(0)] decimal InsuranceFund,
    [property: Id(1)] decimal SocializedLoss,
    [property: Id(2)] decimal PeakInsuranceFund);

[GenerateSerializer, Immutable, Alias("mg.BankruptcyCoverView")]
public sealed record BankruptcyCoverView(
    [property: Id(0)] decimal Deficit,
    [property: Id(1)] decimal InsuranceCovered,
    [property: Id(2)] decimal Socialized)
{
    /// <summary>v3 with auto-deleveraging: what the counterparties paid of the uncovered part (0 when nothing).</summary>
    [Id(3)] public decimal? AdlRecovered { get; init; }
}

/// <summary>What one account's liquidation owes the insurance fund (penalties + discounts) and asks it to cover.</summary>
[GenerateSerializer, Immutable, Alias("mg.LiquidationCharge")]
public sealed record LiquidationCharge(
    [property: Id(0)] string LiquidationId,
    [property: Id(1)] string Account,
    [property: Id(2)] decimal Income,
    [property: Id(3)] decimal Deficit)
{
    /// <summary>v3 with auto-deleveraging (null without): what counterparties pay of the part the fund cannot cover.</summary>
    [Id(4)] public decimal? AdlRecovered { get; init; }
}

/// <summary>One source's latest price and its age on the engine's clock, in seconds.</summary>
[GenerateSerializer, Immutable, Alias("mg.SourceView")]
public sealed record SourceView(
    [property: Id(0)] string Source,
    [property: Id(1)] decimal Price,
    [property: Id(2)] decimal AgeSeconds);

/// <summary>
/// What a market knows now: its mark and sequence, each source's price and age, the price the circuit breaker holds,
/// whether it is stale, its margin multiplier, its liquidation cap per step (null: none) and the accounts waiting in
/// the coordinator's queue (cap-deferred).
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.MarketView")]
public sealed record MarketView(
    [property: Id(0)] string Market,
    [property: Id(1)] long Sequence,
    [property: Id(2)] decimal? Mark,
    [property: Id(3)] ImmutableArray<SourceView> Sources,
    [property: Id(4)] decimal? HeldPrice,
    [property: Id(5)] bool Stale,
    [property: Id(6)] decimal Multiplier,
    [property: Id(7)] decimal? LiquidationCap)
{
    [Id(8)] public int QueueLength { get; init; }
}

[GenerateSerializer, Immutable, Alias("mg.LiquidationQueueView")]
public sealed record LiquidationQueueView(
    [property: Id(0)] ImmutableArray<string> Pending,
    [property: Id(1)] long Settled,
    [property: Id(2)] long Liquidated);
