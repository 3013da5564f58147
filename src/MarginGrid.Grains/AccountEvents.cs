using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Orleans.Streams;

namespace MarginGrid.Grains;

/// <summary>
/// Where an account's events go: its recent history (persisted with the account), the observer (metrics, audit) and
/// the cluster's event stream (best effort: the history and the audit trail are the record).
/// </summary>
public sealed class AccountEvents(
    Grain grain, EventHistory codec, Func<byte[]?> history, Action<byte[]?> store, int keep, IGridObserver observer, GridClock clock, ILogger logger)
{
    private IAsyncStream<GridEvent>? _stream;

    /// <summary>The audit outbox of events (null where the silo keeps none).</summary>
    public AccountEventAudit? Audit { get; init; }

    /// <summary>
    /// Stamps the domain's events with their step and records them in the account's state — its recent history and,
    /// with an audit outbox, the outbox under a new audit key — so that the step's write persists them with the change
    /// they report. <see cref="AnnounceAsync"/> them once that write succeeded.
    /// </summary>
    public ImmutableArray<GridEvent> Record(IReadOnlyList<ModelEvent> events, string step, Func<GridEvent, GridEvent>? detail = null)
    {
        if (events.Count == 0)
        {
            return [];
        }

        var recorded = events.Select(e => e.ToGrid(step, clock.UtcNow)).Select(e => detail is null ? e : detail(e))
            .Select(e => Audit?.Add(e) ?? e).ToImmutableArray();
        store(EventHistory.Append(history(), [.. recorded.Select(codec.Encode)], keep)); // each event encoded once
        return recorded;
    }

    /// <summary>Takes back what <see cref="Record"/> added: the step's write failed, so it did not happen.</summary>
    public void Forget(ImmutableArray<GridEvent> recorded)
    {
        if (recorded.IsDefaultOrEmpty)
        {
            return;
        }

        store(EventHistory.Remove(history(), [.. recorded.Select(codec.Encode)]));
        Audit?.Forget(recorded.ToHashSet(ReferenceEqualityComparer.Instance));
    }

    /// <summary>Recorded events to the observer (metrics, audit trail) and the event stream.</summary>
    public async Task AnnounceAsync(ImmutableArray<GridEvent> recorded)
    {
        if (recorded.IsDefaultOrEmpty)
        {
            return;
        }

        foreach (var e in recorded)
        {
            observer.EventEmitted(e);
        }

        await PublishAsync(recorded);
        await HandOverAsync(recorded);
    }

    /// <summary>
    /// v3: events about other accounts (the <c>adl</c> closes of this account's counterparties) also go to those accounts'
    /// recent events, through their inboxes. Best effort, like the stream: this account's history and the audit trail
    /// are the record.
    /// </summary>
    private async Task HandOverAsync(ImmutableArray<GridEvent> published)
    {
        var own = grain.GetPrimaryKeyString();
        var others = published.Where(e => e.Type == GridEventType.Adl && e.Account.Length > 0 && e.Account != own).ToList();
        if (others.Count == 0)
        {
            return;
        }

        try
        {
            var factory = grain.GrainContext.ActivationServices.GetRequiredService<IGrainFactory>();
            await Task.WhenAll(others.GroupBy(e => e.Account, StringComparer.Ordinal)
                .Select(g => factory.GetGrain<IAccountInboxGrain>(g.Key).AddAsync([.. g])));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "Could not hand {Count} adl events to the counterparties' recent events", others.Count);
        }
    }

    /// <summary>Publishes without recording (an event about an account that does not exist).</summary>
    public async Task PublishAsync(IReadOnlyCollection<GridEvent> events)
    {
        _stream ??= EventStream.Of(grain);
        await EventStream.PublishAsync(_stream, events, logger);
    }
}

/// <summary>
/// The account's audit outbox of events (issue 9, a durable audit): each recorded event gets the key
/// <c>account/#n</c> and waits in <see cref="AccountState.AuditEvents"/>, persisted with the step that caused it, until
/// the audit trail confirms it stored it; the trail keeps one row per key.
/// </summary>
public sealed class AccountEventAudit(string account, IPersistentState<AccountState> state)
{
    /// <summary>The event with its audit key, added to the outbox.</summary>
    public GridEvent Add(GridEvent e)
    {
        var keyed = e with { AuditKey = $"{account}/#{++state.State.EventSequence}" };
        (state.State.AuditEvents ??= []).Add(keyed);
        return keyed;
    }

    public IReadOnlyList<GridEvent> Pending => state.State.AuditEvents ?? [];

    public void Forget(IReadOnlySet<object?> events) => state.State.AuditEvents?.RemoveAll(events.Contains);

    /// <summary>The trail stored these keys.</summary>
    public void Audited(IReadOnlySet<string> keys) => state.State.AuditEvents?.RemoveAll(e => e.AuditKey is { } k && keys.Contains(k));
}

/// <summary>Market-level events (price_stale, price_held, liquidation_batch): to the observer (metrics, audit) and the event stream.</summary>
public static class MarketEvents
{
    /// <summary>
    /// To the observer and the event stream. <paramref name="kept"/>: their audit records are offered by the outbox that
    /// wrote them (<see cref="IGridObserver.EventKept"/>), not by this announcement.
    /// </summary>
    public static async Task AnnounceAsync(this Grain grain, IGridObserver observer, IReadOnlyCollection<GridEvent> events, ILogger? logger = null, bool kept = false)
    {
        if (events.Count == 0)
        {
            return;
        }

        foreach (var e in events)
        {
            if (kept)
            {
                observer.EventKept(e);
            }
            else
            {
                observer.EventEmitted(e);
            }
        }

        await EventStream.PublishAsync(EventStream.Of(grain), events, logger); // the audit has them: the stream is best effort
    }
}

/// <summary>The cluster's event stream: a step's events go as one batch (one queue message, not one per event).</summary>
public static class EventStream
{
    /// <summary>The stream's id on <see cref="GridStreams.Provider"/>: one stream for the whole cluster.</summary>
    public static StreamId Id { get; } = StreamId.Create(GridStreams.Namespace, GridStreams.AllKey);

    /// <summary>The event stream as <paramref name="grain"/> publishes to it.</summary>
    public static IAsyncStream<GridEvent> Of(Grain grain) => grain.GetStreamProvider(GridStreams.Provider).GetStream<GridEvent>(Id);

    /// <summary>Best effort (the accounts' histories and the audit trail are the record): a failure is logged, not thrown.</summary>
    public static async Task PublishAsync(IAsyncStream<GridEvent> stream, IReadOnlyCollection<GridEvent> events, ILogger? logger)
    {
        try
        {
            await (events.Count == 1 ? stream.OnNextAsync(events.First()) : stream.OnNextBatchAsync(events));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger?.LogWarning(e, "Could not publish {Count} events to the event stream", events.Count);
        }
    }
}
