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

/// <summary>One market (key: symbol): its mark, tick sequence numbers, and the fan-out of each tick.</summary>
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

    /// <summary>Streams fan-out only: a holder has processed tick <paramref name="sequence"/> (with its report, if notable).</summary>
    [AlwaysInterleave]
    Task AckTickAsync(long sequence, EvaluationReport? report);
}

/// <summary>
/// The holders of one market, sharded by a stable hash of the account id. Key: "{symbol}/{shard}".
/// Registration interleaves with tick delivery so an account can register while a tick is in flight.
/// </summary>
public interface IMarketShardGrain : IGrainWithStringKey
{
    [AlwaysInterleave]
    Task RegisterAsync(string account);

    [AlwaysInterleave]
    Task UnregisterAsync(string account);

    Task<TickDelivery> DeliverAsync(MarketTick tick);

    /// <summary>
    /// Sets (or, with null bounds, clears) an account's safe band for this market, computed at marks whose sequence for
    /// this market was <paramref name="baseSequence"/>. Returns the shard's latest tick when it is newer than that, so the
    /// account can catch up; a band is not kept when that newer tick is already outside it.
    /// </summary>
    [AlwaysInterleave]
    Task<MarketTick?> SetBandAsync(string account, decimal? low, decimal? high, long baseSequence);

    [AlwaysInterleave]
    Task<int> CountAsync();
}

/// <summary>One account (key: account id): holdings, health on every tick, commands, its own liquidation.</summary>
public interface IAccountGrain : IGrainWithStringKey
{
    /// <summary>Opens the account with the given holdings; fails if it is already open.</summary>
    Task OpenAsync(AccountSeed seed);

    [AlwaysInterleave]
    Task<bool> ExistsAsync();

    /// <summary>Takes a tick (stale ones are ignored) and, if it asks for it, evaluates.</summary>
    Task<EvaluationReport?> OnTickAsync(MarketTick tick);

    Task<EvaluationReport?> EvaluateAsync(string step);

    Task<CommandResult> FillAsync(FillCommand command);

    Task<CommandResult> DepositAsync(TransferCommand command);

    Task<CommandResult> WithdrawAsync(TransferCommand command);

    [ReadOnly]
    Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price);

    /// <summary>
    /// First half of a coordinated liquidation: if the account still needs it, closes and sells at its current marks,
    /// persists the result with the fund settlement outstanding, and returns what the fund must take and cover.
    /// Idempotent per <paramref name="liquidationId"/>; null when there is nothing to do.
    /// </summary>
    Task<LiquidationCharge?> BeginLiquidationAsync(string liquidationId);

    /// <summary>Second half: records the fund's answer (bankruptcy cover, if any) and returns the liquidation's events.</summary>
    Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover);

    [ReadOnly]
    Task<AccountView?> GetViewAsync();

    [ReadOnly]
    Task<ImmutableArray<GridEvent>> GetRecentEventsAsync();
}

/// <summary>Sequences the liquidations of each step, most endangered first. Key: 0.</summary>
public interface ILiquidationCoordinatorGrain : IGrainWithIntegerKey
{
    /// <summary>Orders the step's margin calls and liquidates its liquidatable accounts; returns the step's events.</summary>
    Task<ImmutableArray<GridEvent>> SettleAsync(string step, ImmutableArray<EvaluationReport> reports);

    /// <summary>Evaluates the given accounts as one step (after a multi-market price update) and settles it.</summary>
    Task<StepOutcome> EvaluateAccountsAsync(string step, ImmutableArray<string> accounts);

    [AlwaysInterleave]
    Task<LiquidationQueueView> GetQueueAsync();
}

/// <summary>The insurance fund and the socialized loss. Key: 0.</summary>
public interface IInsuranceFundGrain : IGrainWithIntegerKey
{
    /// <summary>Sets the opening balance of a fund that has seen no liquidation yet.</summary>
    Task SeedAsync(decimal amount);

    /// <summary>Credits a liquidation's penalties and discounts and covers its deficit; idempotent per id.</summary>
    Task<BankruptcyCoverView?> ApplyLiquidationAsync(LiquidationCharge charge);

    /// <summary>Applies liquidations in the given order (the coordinator's order) with one durable write.</summary>
    Task<ImmutableArray<BankruptcyCoverView?>> ApplyLiquidationsAsync(ImmutableArray<LiquidationCharge> charges);

    /// <summary>
    /// The accounts have durably recorded these liquidations' outcomes, so no retry of them can come any more: the fund
    /// stops remembering their ids. Until then it remembers every applied id, however many liquidations follow.
    /// </summary>
    Task ForgetSettledAsync(ImmutableArray<string> liquidationIds);

    [AlwaysInterleave]
    Task<FundView> GetAsync();
}

public static class GridStreams
{
    public const string Provider = "grid-events";
    public const string Namespace = "events";
    public const string AllKey = "all";
}
