using System.Collections.Immutable;
using Orleans.Concurrency;

namespace MarginGrid.Grains;

// The silo-internal protocol between grains: ticks, bands, liquidation begin/complete, the fund's ledger. These
// interfaces live beside the grains, not in MarginGrid.Abstractions, so that no client can call them.

/// <summary>The tick and liquidation protocol of an account (same grain as <see cref="IAccountGrain"/>).</summary>
public interface IAccountRiskGrain : IGrainWithStringKey
{
    /// <summary>Takes a tick (stale ones are ignored) and, if it asks for it, evaluates.</summary>
    Task<EvaluationReport?> OnTickAsync(MarketTick tick);

    /// <summary>Evaluates at the current marks as part of step <paramref name="step"/>.</summary>
    Task<EvaluationReport?> EvaluateAsync(string step);

    /// <summary>
    /// First half of a coordinated liquidation: if the account still needs it, closes and sells at its current marks,
    /// persists the result with the fund settlement outstanding, and returns what the fund must take and cover.
    /// Idempotent per <paramref name="liquidationId"/>; null when there is nothing to do.
    /// </summary>
    Task<LiquidationCharge?> BeginLiquidationAsync(string liquidationId);

    /// <summary>Second half: records the fund's answer (bankruptcy cover, if any) and returns the liquidation's events.</summary>
    Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover);
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

/// <summary>Sequences the liquidations of each step, most endangered first. Key: 0.</summary>
public interface ILiquidationCoordinatorGrain : ILiquidationQueueGrain
{
    /// <summary>Orders the step's margin calls and liquidates its liquidatable accounts; returns the step's events.</summary>
    Task<ImmutableArray<GridEvent>> SettleAsync(string step, ImmutableArray<EvaluationReport> reports);

    /// <summary>Evaluates the given accounts as one step (after a multi-market price update) and settles it.</summary>
    Task<StepOutcome> EvaluateAccountsAsync(string step, ImmutableArray<string> accounts);
}

/// <summary>The insurance fund's ledger: liquidation charges, applied idempotently per liquidation id. Key: 0.</summary>
public interface IFundLedgerGrain : IInsuranceFundGrain
{
    /// <summary>Credits a liquidation's penalties and discounts and covers its deficit; idempotent per id.</summary>
    Task<BankruptcyCoverView?> ApplyLiquidationAsync(LiquidationCharge charge);

    /// <summary>Applies liquidations in the given order (the coordinator's order) with one durable write.</summary>
    Task<ImmutableArray<BankruptcyCoverView?>> ApplyLiquidationsAsync(ImmutableArray<LiquidationCharge> charges);

    /// <summary>
    /// The accounts have durably recorded these liquidations' outcomes, so no retry of them can come any more: the fund
    /// stops remembering their ids. Until then it remembers every applied id, however many liquidations follow.
    /// </summary>
    Task ForgetSettledAsync(ImmutableArray<string> liquidationIds);
}
