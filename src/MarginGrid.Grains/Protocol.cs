using System.Collections.Immutable;
using MarginGrid.Domain;
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
    /// First half of a coordinated liquidation: applies the account's part of the step's decision (if its holdings are
    /// still the version it was decided on), persists it with the fund settlement outstanding, and returns what the fund
    /// must take and cover. Idempotent per liquidation id; null when there is nothing to do.
    /// </summary>
    Task<LiquidationCharge?> BeginLiquidationAsync(LiquidationOrder order);

    /// <summary>
    /// Second half: records the fund's answer (bankruptcy cover, if any) and the auto-deleveraging closes it caused, and
    /// returns the liquidation's events.
    /// </summary>
    Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover);

    /// <summary>v3: closes part of this account's position at another account's bankruptcy price. Idempotent per id.</summary>
    Task ApplyAdlAsync(string adlId, AdlOrder close);

    /// <summary>v3: the current price, lot and debt of this account's running auction of <paramref name="asset"/>.</summary>
    Task<AuctionQuote> AuctionQuoteAsync(string asset);

    /// <summary>
    /// v3: a liquidator's purchase from this account's auction, idempotent per bid id: <c>auction_take</c>, and the
    /// auction's end (resumed sales, bankruptcy) when the debt is paid or the lot is gone; returns those events.
    /// </summary>
    Task<AuctionTakeResult> TakeAtAuctionAsync(AuctionTakeOrder order);

    /// <summary>v3, at the start of step <paramref name="step"/>: ends this account's auction if it has expired; returns its events.</summary>
    Task<ImmutableArray<ModelEvent>> EndExpiredAuctionAsync(string step);

    /// <summary>The holdings a liquidation or auto-deleveraging decision is made on (interleaves: a read).</summary>
    [AlwaysInterleave]
    Task<AccountSnapshot?> SnapshotAsync();
}

/// <summary>
/// v3: events about an account emitted by another account's step (its <c>adl</c> closes as a counterparty), shown with
/// its recent events. Key: the account id.
/// </summary>
public interface IAccountInboxGrain : IGrainWithStringKey
{
    Task AddAsync(ImmutableArray<GridEvent> events);

    [ReadOnly]
    Task<ImmutableArray<GridEvent>> GetAsync();
}

/// <summary>An account's holdings at a version, and whether its collateral is in auction.</summary>
[GenerateSerializer, Immutable, Alias("mg.AccountSnapshot")]
public sealed record AccountSnapshot(
    [property: Id(0)] string Account,
    [property: Id(1)] AccountSeed Holdings,
    [property: Id(2)] long Version,
    [property: Id(3)] bool InAuction);

/// <summary>One account's part of a step's liquidation, as decided by the domain on holdings of <see cref="Version"/>.</summary>
[GenerateSerializer, Immutable, Alias("mg.LiquidationOrder")]
public sealed record LiquidationOrder(
    [property: Id(0)] string LiquidationId,
    [property: Id(1)] long Version,
    [property: Id(2)] ImmutableArray<CloseOrder> Closes,
    [property: Id(3)] ImmutableArray<SaleOrder> Sales,
    [property: Id(4)] decimal Deficit,
    [property: Id(5)] AuctionOrder? Auction,
    [property: Id(6)] string? DeferReason,
    [property: Id(7)] decimal? AdlRecovered,
    [property: Id(8)] ImmutableArray<AdlOrder> Adl);

[GenerateSerializer, Immutable, Alias("mg.CloseOrder")]
public sealed record CloseOrder(
    [property: Id(0)] string Market,
    [property: Id(1)] decimal Quantity,
    [property: Id(2)] decimal Price,
    [property: Id(3)] decimal Penalty,
    [property: Id(4)] decimal RealizedPnl);

[GenerateSerializer, Immutable, Alias("mg.SaleOrder")]
public sealed record SaleOrder(
    [property: Id(0)] string Asset,
    [property: Id(1)] decimal Quantity,
    [property: Id(2)] decimal Price,
    [property: Id(3)] decimal Discount,
    [property: Id(4)] decimal Proceeds);

[GenerateSerializer, Immutable, Alias("mg.AuctionOrder")]
public sealed record AuctionOrder(
    [property: Id(0)] string Asset,
    [property: Id(1)] decimal Lot,
    [property: Id(2)] decimal Tab,
    [property: Id(3)] decimal Top);

/// <summary>v3: one auto-deleveraging close of <see cref="Account"/> at the bankruptcy price of <see cref="Counterparty"/>.</summary>
[GenerateSerializer, Immutable, Alias("mg.AdlOrder")]
public sealed record AdlOrder(
    [property: Id(0)] string Account,
    [property: Id(1)] string Market,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] decimal Price,
    [property: Id(4)] string Counterparty);

/// <summary>v3: what auto-deleveraging ranks an account on (<see cref="MarginGrid.Domain.AdlStanding"/>), on the wire.</summary>
[GenerateSerializer, Immutable, Alias("mg.AdlStanding")]
public sealed record AdlStandingView(
    [property: Id(0)] AccountSeed Holdings,
    [property: Id(1)] long Version,
    [property: Id(2)] bool InAuction);

/// <summary>
/// v3: the counterparties wanted on one side (<see cref="Shorts"/>: the shorts, for a long bankrupt account) of a market,
/// at the step's marks and configuration version, enough to cover <see cref="Quantity"/>, leaving out <see cref="Exclude"/>
/// (the step's liquidation order).
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.AdlQuery")]
public sealed record AdlQuery(
    [property: Id(0)] string Market,
    [property: Id(1)] bool Shorts,
    [property: Id(2)] decimal Quantity,
    [property: Id(3)] ImmutableDictionary<string, decimal> Marks,
    [property: Id(4)] long ConfigVersion,
    [property: Id(5)] ImmutableArray<string> Exclude);

[GenerateSerializer, Immutable, Alias("mg.AdlCandidate")]
public sealed record AdlCandidate(
    [property: Id(0)] string Account,
    [property: Id(1)] decimal Score,
    [property: Id(2)] long Version);

/// <summary>
/// A shard's answer to an <see cref="AdlQuery"/>: its first counterparties in the queue's order; <see cref="Exhausted"/>
/// when they are all it has (else every one left out ranks after the last); <see cref="Unranked"/>: holders without a
/// standing in the index (the caller fetches and ranks them itself).
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.AdlCandidates")]
public sealed record AdlCandidates(
    [property: Id(0)] ImmutableArray<AdlCandidate> Ranked,
    [property: Id(1)] bool Exhausted,
    [property: Id(2)] ImmutableArray<string> Unranked)
{
    /// <summary>How many holders the shard has (of the market, whichever side).</summary>
    [Id(3)] public int Holders { get; init; }
}

/// <summary>v3: where a position of score <see cref="Score"/> of <see cref="Account"/> stands in a market's ADL queue.</summary>
[GenerateSerializer, Immutable, Alias("mg.AdlPlaceQuery")]
public sealed record AdlPlaceQuery(
    [property: Id(0)] string Market,
    [property: Id(1)] bool Shorts,
    [property: Id(2)] decimal Score,
    [property: Id(3)] string Account,
    [property: Id(4)] ImmutableDictionary<string, decimal> Marks,
    [property: Id(5)] long ConfigVersion);

/// <summary>How many of a shard's eligible counterparties (the asking account left out) rank before a key, and how many there are.</summary>
[GenerateSerializer, Immutable, Alias("mg.AdlPlace")]
public sealed record AdlPlace(
    [property: Id(0)] int Ahead,
    [property: Id(1)] int Total);

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
    /// <remarks>
    /// v3: <paramref name="standing"/>, when given, also replaces what auto-deleveraging ranks the account on here
    /// (<see cref="SetStandingAsync"/>); an account sends it with its bands whenever its holdings' version changed.
    /// </remarks>
    [AlwaysInterleave]
    Task<MarketTick?> SetBandAsync(string account, decimal? low, decimal? high, long baseSequence, AdlStandingView? standing = null);

    /// <summary>v3: sets (null: forgets) what auto-deleveraging ranks the account on in this shard's index.</summary>
    [AlwaysInterleave]
    Task SetStandingAsync(string account, AdlStandingView? standing);

    /// <summary>
    /// v3: the first eligible counterparties of this shard on one side of a market at the step's marks, in the model's
    /// order, enough to cover the quantity asked for; and the holders the index has no standing of (after a reactivation).
    /// </summary>
    [AlwaysInterleave]
    Task<AdlCandidates> AdlTopAsync(AdlQuery query);

    /// <summary>v3: how many of this shard's eligible counterparties rank before a key, and how many there are.</summary>
    [AlwaysInterleave]
    Task<AdlPlace> AdlPlaceAsync(AdlPlaceQuery query);

    [AlwaysInterleave]
    Task<int> CountAsync();

    /// <summary>The accounts registered here (auto-deleveraging looks for counterparties among them).</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<string>> HoldersAsync();
}

/// <summary>Sequences the liquidations of each step, most endangered first. Key: 0.</summary>
public interface ILiquidationCoordinatorGrain : ILiquidationQueueGrain
{
    /// <summary>
    /// Settles a step: orders its margin calls, evaluates the accounts queued by a cap (a price step whose mark was set),
    /// decides its liquidations centrally and has the accounts and the fund apply them; returns the step's events.
    /// </summary>
    Task<ImmutableArray<GridEvent>> SettleAsync(string step, ImmutableArray<EvaluationReport> reports, bool priceStep, long configVersion);

    /// <summary>
    /// Settles a step up to the part that must be sequenced — the decision, the accounts' begun liquidations, the fund's
    /// charges in order and the auto-deleveraging closes — and leaves the completions to the caller
    /// (<see cref="Settlements.CompleteAsync"/>): the coordinator takes the next step meanwhile.
    /// </summary>
    Task<Settlement> SequenceAsync(string step, ImmutableArray<EvaluationReport> reports, bool priceStep, long configVersion);

    /// <summary>Evaluates the given accounts as one step (after a multi-market price update) and settles it.</summary>
    Task<StepOutcome> EvaluateAccountsAsync(string step, ImmutableArray<string> accounts);

    /// <summary>Decides the liquidation of an account in its own (command) step; the account applies it itself.</summary>
    [AlwaysInterleave]
    Task<AccountStepDecision> DecideAsync(string step, AccountSnapshot candidate, long configVersion);

    /// <summary>An account's own step found it no longer liquidatable: it leaves the cap queue.</summary>
    [AlwaysInterleave]
    Task DequeueAsync(string account);
}

/// <summary>
/// A step as sequenced by the coordinator: its events so far (margin calls, netting batches) and, in liquidation order,
/// each decided account's part — a completion to run (<see cref="SettlementPart.LiquidationId"/> set: the fund has
/// applied its charge) or its final events (a stale deferral).
/// </summary>
[GenerateSerializer, Immutable, Alias("mg.Settlement")]
public sealed record Settlement(
    [property: Id(0)] ImmutableArray<GridEvent> Events,
    [property: Id(1)] ImmutableArray<SettlementPart> Parts)
{
    public static Settlement Of(ImmutableArray<GridEvent> events) => new(events, []);
}

[GenerateSerializer, Immutable, Alias("mg.SettlementPart")]
public sealed record SettlementPart(
    [property: Id(0)] string Account,
    [property: Id(1)] string? LiquidationId,
    [property: Id(2)] BankruptcyCoverView? Cover,
    [property: Id(3)] ImmutableArray<GridEvent> Events);

/// <summary>The coordinator's decision for an account's own step: its order, the step's netting events, the ADL closes.</summary>
[GenerateSerializer, Immutable, Alias("mg.AccountStepDecision")]
public sealed record AccountStepDecision(
    [property: Id(0)] LiquidationOrder Order,
    [property: Id(1)] ImmutableArray<ModelEvent> Batches);

/// <summary>The insurance fund's ledger: liquidation charges, applied idempotently per liquidation id. Key: 0.</summary>
public interface IFundLedgerGrain : IInsuranceFundGrain
{
    /// <summary>Credits a liquidation's penalties and discounts and covers its deficit; idempotent per id.</summary>
    Task<BankruptcyCoverView?> ApplyLiquidationAsync(LiquidationCharge charge);

    /// <summary>Applies liquidations in the given order (the coordinator's order) with one durable write.</summary>
    Task<ImmutableArray<BankruptcyCoverView?>> ApplyLiquidationsAsync(ImmutableArray<LiquidationCharge> charges);

    /// <summary>
    /// A price step's charges, as <see cref="ApplyLiquidationsAsync"/>, and — with <see cref="GridOptions.AuditOutbox"/> —
    /// its keyed liquidation batches (<see cref="GridAuditKeys.Batch"/>), which join the fund's audit outbox in the same
    /// write: the step's commit point. Offered to the audit trail once written. Writes only when it has something to write
    /// (a charge not applied before, or a batch not kept yet), so it is called even when no charge reached the fund.
    /// </summary>
    Task<ImmutableArray<BankruptcyCoverView?>> ApplyStepAsync(ImmutableArray<LiquidationCharge> charges, ImmutableArray<GridEvent> batches);

    /// <summary>
    /// The accounts have durably recorded these liquidations' outcomes, so no retry of them can come any more: the fund
    /// stops remembering their ids. Until then it remembers every applied id, however many liquidations follow.
    /// </summary>
    Task ForgetSettledAsync(ImmutableArray<string> liquidationIds);
}

[GenerateSerializer, Immutable, Alias("mg.AuctionQuote")]
public sealed record AuctionQuote(
    [property: Id(0)] bool Exists,
    [property: Id(1)] bool Running,
    [property: Id(2)] decimal Price,
    [property: Id(3)] decimal Lot,
    [property: Id(4)] decimal Debt);

[GenerateSerializer, Immutable, Alias("mg.AuctionTakeOrder")]
public sealed record AuctionTakeOrder(
    [property: Id(0)] string BidId,
    [property: Id(1)] string Liquidator,
    [property: Id(2)] string Asset,
    [property: Id(3)] decimal Quantity,
    [property: Id(4)] decimal Payment,
    [property: Id(5)] decimal Price);

[GenerateSerializer, Immutable, Alias("mg.AuctionTakeResult")]
public sealed record AuctionTakeResult(
    [property: Id(0)] bool Taken,
    [property: Id(1)] ImmutableArray<ModelEvent> Events);

/// <summary>An account's events in a step (the auctions that ended at its start).</summary>
[GenerateSerializer, Immutable, Alias("mg.AccountStepEvents")]
public sealed record AccountStepEvents(
    [property: Id(0)] string Account,
    [property: Id(1)] ImmutableArray<ModelEvent> Events);

/// <summary>
/// v3: the registry of running Dutch auctions (key 0): persisted, ordered by deadline, with one grain timer at the
/// earliest deadline on the engine's clock (and a reminder that reactivates it after a silo failure). It is also
/// consulted at the start of every step when the configuration has collateral with <c>auction</c>. Accounts register
/// their auction when it starts or changes (a take, the next asset's auction) and unregister when it ends.
/// Every method interleaves: the house calls accounts that may at that moment be waiting on it.
/// </summary>
public interface IAuctionHouseGrain : IGrainWithIntegerKey
{
    /// <summary>Records (or replaces) an account's running auction.</summary>
    [AlwaysInterleave]
    Task RegisterAsync(RegisteredAuction auction);

    [AlwaysInterleave]
    Task UnregisterAsync(string account);

    /// <summary>
    /// Ends every auction whose deadline has come, by account id, except <paramref name="except"/>'s (a command's own
    /// account handles its own, so that it is never called back while it waits here); returns each ended auction's events.
    /// </summary>
    [AlwaysInterleave]
    Task<ImmutableArray<AccountStepEvents>> EndExpiredAsync(string step, string? except);

    /// <summary>The registered auctions, by account id, with their deadlines at the current configuration.</summary>
    [AlwaysInterleave]
    Task<ImmutableArray<ScheduledAuction>> ListAsync();
}

/// <summary>An account's running auction as the house records it (the account's <c>RunningAuction</c>).</summary>
[GenerateSerializer, Immutable, Alias("mg.RegisteredAuction")]
public sealed record RegisteredAuction(
    [property: Id(0)] string Account,
    [property: Id(1)] string Asset,
    [property: Id(2)] decimal Lot,
    [property: Id(3)] DateTimeOffset Start,
    [property: Id(4)] decimal Top)
{
    public static RegisteredAuction Of(string account, RunningAuction auction) => new(account, auction.Asset, auction.Lot, auction.Start, auction.Top);
}

/// <summary>A registered auction and its deadline (<see cref="DutchAuction.Deadline"/>) at the house's configuration.</summary>
[GenerateSerializer, Immutable, Alias("mg.ScheduledAuction")]
public sealed record ScheduledAuction(
    [property: Id(0)] RegisteredAuction Auction,
    [property: Id(1)] DateTimeOffset Deadline);
