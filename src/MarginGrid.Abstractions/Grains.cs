using System.Collections.Immutable;
using Orleans.Concurrency;

namespace MarginGrid;

/// <summary>The versioned risk configuration (markets, collateral, ratios). Key: 0.</summary>
public interface IRiskConfigGrain : IGrainWithIntegerKey
{
    [AlwaysInterleave]
    Task<RiskConfigSnapshot?> GetAsync();

    /// <summary>Validates and stores a new configuration; returns it with its new version.</summary>
    Task<RiskConfigSnapshot> SetAsync(RiskConfigSnapshot config);
}

/// <summary>One market (key: symbol): its mark and the steps its prices start.</summary>
public interface IMarketGrain : IGrainWithStringKey
{
    /// <summary>
    /// Applies a price: holders evaluate, the step's liquidations run; returns the step's events. Interleaves so that
    /// prices arriving while a step runs are conflated into the next step (decided at the newest mark); each call
    /// returns the outcome of the step that included its price.
    /// </summary>
    [AlwaysInterleave]
    Task<StepOutcome> PublishPriceAsync(PriceUpdate update);

    [AlwaysInterleave]
    Task<MarkPrice?> GetMarkAsync();

    /// <summary>The market's sources, held price, staleness, multiplier and cap (v2), on the engine's clock.</summary>
    [AlwaysInterleave]
    Task<MarketView> GetViewAsync();
}

/// <summary>
/// One account (key: account id) as clients see it: opening, commands (idempotent by command id), the pre-trade check
/// and views. Ticks and liquidations reach it through the silo-internal protocol, which clients cannot call.
/// </summary>
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>Opens the account with the given holdings; fails if it is already open.</summary>
    Task OpenAsync(AccountSeed seed);

    [AlwaysInterleave]
    Task<bool> ExistsAsync();

    Task<CommandResult> FillAsync(FillCommand command);

    Task<CommandResult> DepositAsync(TransferCommand command);

    Task<CommandResult> WithdrawAsync(TransferCommand command);

    /// <summary>v3: a bid of this account on another account's running Dutch auction (a command step of this account).</summary>
    Task<CommandResult> BidAsync(BidCommand command);

    [ReadOnly]
    Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price);

    [ReadOnly]
    Task<AccountView?> GetViewAsync();

    [ReadOnly]
    Task<ImmutableArray<GridEvent>> GetRecentEventsAsync();
}

/// <summary>The liquidation coordinator as clients see it: its queue. Key: 0.</summary>
public interface ILiquidationQueueGrain : IGrainWithIntegerKey
{
    [AlwaysInterleave]
    Task<LiquidationQueueView> GetQueueAsync();
}

/// <summary>The insurance fund and the socialized loss. Key: 0.</summary>
public interface IInsuranceFundGrain : IGrainWithIntegerKey
{
    /// <summary>Sets the opening balance of a fund that has seen no liquidation yet.</summary>
    Task SeedAsync(decimal amount);

    [AlwaysInterleave]
    Task<FundView> GetAsync();
}

public static class GridStreams
{
    public const string Provider = "grid-events";
    public const string Namespace = "events";
    public const string AllKey = "all";
}
