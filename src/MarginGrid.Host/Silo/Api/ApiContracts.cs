using System.Collections.Immutable;

namespace MarginGrid.Host.Silo.Api;

// Request and response bodies of the HTTP API (v1). Decimals travel as strings (numbers are accepted on input).

public sealed record BracketBody(decimal Floor, decimal Mmr, decimal Imr);

/// <summary>A market's bounds (all three, or none for the defaults: 1e9 USD, 1e9 units, 1e13 USD).</summary>
public sealed record LimitsBody(decimal MaxPrice, decimal MaxPositionSize, decimal MaxNotional);

/// <summary>v2 oracle guard of a market (MARGIN-MODEL.md "Oracle guard"); every member optional.</summary>
public sealed record OracleBody(decimal? MaxAge = null, decimal? MaxDeviation = null, decimal? MinSources = null, decimal? MaxMove = null);

/// <summary>v2 volatility-scaled margin: window n (returns), reference r, maximum multiplier K.</summary>
public sealed record VolatilityBody(decimal Window, decimal Reference, decimal MaxMultiplier);

/// <summary>
/// A market. v2 mechanisms, each off when absent: <c>oracle</c>, <c>volatility</c>, <c>liquidationCap</c> (notional per
/// step), <c>impact</c> κ and <c>maxImpact</c> (batch netting with price impact).
/// </summary>
public sealed record MarketBody(
    string Symbol,
    decimal LotSize,
    decimal LiquidationPenalty,
    ImmutableArray<BracketBody> Brackets,
    LimitsBody? Limits = null,
    OracleBody? Oracle = null,
    VolatilityBody? Volatility = null,
    decimal? LiquidationCap = null,
    decimal? Impact = null,
    decimal? MaxImpact = null);

/// <summary>v3 Dutch auction parameters of a collateral asset.</summary>
public sealed record AuctionBody(decimal Buf, decimal Step, decimal Cut, decimal Tail, decimal Cusp);

/// <summary>A collateral asset; <c>maxQuantity</c> bounds every command and balance of it (default 1e13).</summary>
public sealed record CollateralBody(
    string Asset, decimal Weight, string? PriceMarket = null, decimal LiquidationDiscount = 0m, decimal? MaxQuantity = null, AuctionBody? Auction = null);

/// <summary>Risk ratios; <c>bankruptcyResolution</c> is "socialize" (default) or "adl" (v3 auto-deleveraging).</summary>
public sealed record RiskBody(decimal MarginCallRatio, decimal LiquidationTargetRatio, string? BankruptcyResolution = null);

/// <summary>POST /v1/config: the whole risk configuration; <c>insuranceFund</c> seeds a fund that has seen no liquidation.</summary>
public sealed record ConfigBody(
    ImmutableArray<MarketBody> Markets,
    ImmutableArray<CollateralBody>? Collateral = null,
    RiskBody? Risk = null,
    decimal? InsuranceFund = null);

public sealed record PriceBody(string Market, string Source, decimal Price, DateTimeOffset Timestamp);

public sealed record SeedPositionBody(string Market, decimal Size, decimal EntryPrice);

/// <summary>
/// POST /v1/accounts/{id}: opens the account with these holdings (both optional). An account that would not be
/// initial-margin healthy is refused (422) unless an admin sets <c>allowUnhealthy</c> (migrations).
/// </summary>
public sealed record OpenAccountBody(
    ImmutableDictionary<string, decimal>? Collateral = null,
    ImmutableArray<SeedPositionBody>? Positions = null,
    bool AllowUnhealthy = false);

public sealed record TransferBody(string CommandId, string Asset, decimal Quantity);

/// <summary>
/// POST /v1/auctions/{account}/{asset}/bids: buy up to <c>quantity</c> of the lot at the current price if it is at most
/// <c>maxPrice</c>; <c>liquidator</c> is the buying account (optional when the key is bound to exactly one account).
/// </summary>
public sealed record BidBody(string CommandId, decimal Quantity, decimal MaxPrice, string? Liquidator = null);

/// <summary>
/// A running Dutch auction at engine time <c>at</c>: its current price (<c>top × cut^k</c>), the lot left, the tab (the
/// account's USD debt), when it started and when it ends by time (<c>endsAt</c>, <c>timeLeftSeconds</c>).
/// </summary>
public sealed record AuctionBodyView(
    string Account,
    string Asset,
    decimal Price,
    decimal Lot,
    decimal Tab,
    decimal Top,
    DateTimeOffset StartedAt,
    DateTimeOffset EndsAt,
    decimal TimeLeftSeconds,
    DateTimeOffset At);

/// <summary>A fill: positive size buys, negative sells.</summary>
public sealed record FillBody(string CommandId, string Market, decimal Size, decimal Price);

public sealed record PreTradeBody(string Market, decimal Size, decimal Price);

public sealed record EventBody(
    string Type,
    string Account,
    string Step,
    DateTimeOffset Timestamp,
    RiskStatus? Status,
    string? Market,
    string? Asset,
    decimal? Quantity,
    decimal? Price,
    decimal? Penalty,
    decimal? Discount,
    decimal? Deficit,
    decimal? InsuranceCovered,
    decimal? Socialized,
    string? Reason)
{
    /// <summary>Equity at the step (margin calls, where the engine reports it).</summary>
    public decimal? Equity { get; init; }

    /// <summary>Maintenance margin at the step (margin calls, where the engine reports it).</summary>
    public decimal? MaintenanceMargin { get; init; }

    /// <summary>The marks of the decision (margin calls, where the engine reports them).</summary>
    public ImmutableSortedDictionary<string, decimal>? Marks { get; init; }

    /// <summary>v2 liquidation_batch: bought, sold, netted and residual quantity (its price is the impact price).</summary>
    public decimal? Buys { get; init; }

    public decimal? Sells { get; init; }

    public decimal? Netted { get; init; }

    public decimal? Residual { get; init; }

    /// <summary>v3: bankruptcy's ADL recovery, adl's counterparty, auction_take's liquidator, auction_start's tab.</summary>
    public decimal? Adl { get; init; }

    public string? Counterparty { get; init; }

    public string? Liquidator { get; init; }

    public decimal? Tab { get; init; }

    public static EventBody From(GridEvent e) => new(
        e.TypeName, e.Account, e.Step, e.Timestamp, e.Status, e.Market, e.Asset, e.Quantity, e.Price, e.Penalty,
        e.Discount, e.Deficit, e.InsuranceCovered, e.Socialized, e.Reason)
    {
        Equity = e.Equity,
        MaintenanceMargin = e.MaintenanceMargin,
        Marks = e.Marks,
        Buys = e.Buys,
        Sells = e.Sells,
        Netted = e.Netted,
        Residual = e.Residual,
        Adl = e.AdlRecovered,
        Counterparty = e.Counterparty,
        Liquidator = e.Liquidator,
        Tab = e.Tab,
    };

    public static ImmutableArray<EventBody> From(ImmutableArray<GridEvent> events) => [.. events.Select(From)];
}

public sealed record CommandResultBody(string CommandId, bool Accepted, string? Reason, bool Duplicate, long Version, ImmutableArray<EventBody> Events)
{
    public static CommandResultBody From(CommandResult r) =>
        new(r.CommandId, r.Accepted, r.Reason, r.Duplicate, r.Version, EventBody.From(r.Events));
}

public sealed record StepBody(string Market, string Step, int Evaluated, ImmutableArray<EventBody> Events);

public sealed record PricesResultBody(ImmutableArray<StepBody> Steps);

public sealed record ConfigResultBody(long Version);
