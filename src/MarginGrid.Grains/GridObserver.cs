namespace MarginGrid.Grains;

/// <summary>
/// What the grains report for metrics and live views. The silo registers a Prometheus implementation,
/// the demo a counting one; the default does nothing. Implementations must be thread-safe and cheap.
/// </summary>
public interface IGridObserver
{
    /// <summary>A tick of <paramref name="market"/> stamped <paramref name="tickTimestamp"/> was settled in <paramref name="decision"/>.</summary>
    void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp);

    void Evaluated(int accounts);

    void EventEmitted(GridEvent gridEvent);

    void StatusChanged(RiskStatus? from, RiskStatus? to);

    void FundChanged(FundView fund);

    void LiquidationQueue(int depth);

    void Command(string type, string outcome);

    /// <summary>
    /// A command step of <paramref name="account"/> whose audit record was not confirmed (the account's audit outbox,
    /// offered again on activation and periodically): the record as stored with the step. The audit writer is
    /// idempotent per command id, so a record offered twice is stored once.
    /// </summary>
    void CommandUnaudited(string account, MarginGrid.Domain.CommandRecord record)
    {
    }

    /// <summary>
    /// An event whose audit record the outbox that wrote it offers itself (a price step's liquidation batch, kept by the
    /// insurance fund): as <see cref="EventEmitted"/> for metrics and live views, but not offered to the audit trail.
    /// </summary>
    void EventKept(GridEvent gridEvent) => EventEmitted(gridEvent);

    /// <summary>An account event whose audit record was not confirmed (its audit outbox), for the audit trail only (not counted again).</summary>
    void EventUnaudited(GridEvent gridEvent)
    {
    }

    /// <summary>
    /// A grid-level audit record — a price of a market's step, or an accepted configuration — offered by the grain whose
    /// audit outbox holds it (<see cref="GridAuditOutbox"/>): after the write it records, on activation and periodically.
    /// Its key (<see cref="GridAuditEntry.Key"/>; empty without an outbox) makes the trail store it once.
    /// </summary>
    void GridRecord(GridAuditEntry entry)
    {
    }

    /// <summary>
    /// The opening of <paramref name="account"/> (at <paramref name="version"/>, with the holdings of
    /// <paramref name="requestJson"/>) whose audit record was not confirmed: offered again by the account's outbox.
    /// </summary>
    void AccountOpenUnaudited(string account, string requestJson, long version)
    {
    }

    /// <summary>
    /// An account could not be evaluated in a step (e.g. an arithmetic overflow); the step went on without it.
    /// <paramref name="step"/>: the price step's id (<c>MARKET#sequence</c>) where the evaluation was one of a step's.
    /// </summary>
    void EvaluationFailed(string account, string? step)
    {
    }

    /// <summary>
    /// A price step of <paramref name="market"/> was priced: its margin multiplier k, whether the circuit breaker holds a
    /// price, whether the market is stale, and each source's age in seconds (on the engine's clock).
    /// </summary>
    void MarketPriced(string market, decimal multiplier, bool held, bool stale, IReadOnlyDictionary<string, decimal> sourceAgeSeconds)
    {
    }

    /// <summary>An account's liquidation was deferred (<c>cap</c> or <c>stale</c>).</summary>
    void LiquidationDeferred(string reason)
    {
    }

    /// <summary>
    /// v3: a step's auto-deleveraging found its counterparties by <paramref name="search"/>, fetching
    /// <paramref name="fetched"/> accounts, where the markets concerned have <paramref name="holders"/> holders (the
    /// shards' registrations; the scan fetches them all).
    /// </summary>
    void AdlCounterparties(AdlSearch search, int fetched, int holders)
    {
    }

    /// <summary>v3: the number of running Dutch auctions (reported by the auction house whenever it changes).</summary>
    void AuctionsRunning(int count)
    {
    }

    /// <summary>v3: a Dutch auction ended (a take or deposit paid the debt or took the lot, or it expired) after <paramref name="duration"/>.</summary>
    void AuctionEnded(TimeSpan duration)
    {
    }

    /// <summary>A <c>liquidation_batch</c> of <paramref name="market"/>: netted and residual volume, impact <c>|p* / mark − 1|</c>.</summary>
    void LiquidationBatch(string market, decimal netted, decimal residual, decimal impact)
    {
    }
}

/// <summary>Observes nothing; a test observer derives from it and implements only what it records.</summary>
public class NullGridObserver : IGridObserver
{
    public static NullGridObserver Instance { get; } = new();

    public void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp)
    {
    }

    public void Evaluated(int accounts)
    {
    }

    public void EventEmitted(GridEvent gridEvent)
    {
    }

    public void StatusChanged(RiskStatus? from, RiskStatus? to)
    {
    }

    public void FundChanged(FundView fund)
    {
    }

    public void LiquidationQueue(int depth)
    {
    }

    public void Command(string type, string outcome)
    {
    }
}
