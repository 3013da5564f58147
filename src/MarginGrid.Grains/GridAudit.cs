using System.Collections.Immutable;
using Microsoft.Extensions.Logging;
using Orleans.Concurrency;

namespace MarginGrid.Grains;

/// <summary>
/// One record of a grid-level audit outbox (a market's prices and market events, the configuration's changes), kept in
/// the grain's persisted state — written with the step or change it records — until the audit trail confirms it stored
/// it. Its <see cref="Key"/> goes to the trail's <c>command_id</c>, where PostgreSQL keeps one row per key however often
/// it is offered. Keys start with <c>*</c>, which no account id allows: <c>*market/SYMBOL/#n</c>,
/// <c>*fund/SYMBOL#seq/batch/MARKET</c> (a price step's liquidation batch, kept by the insurance fund),
/// <c>*config/#version</c>. Exactly one of the payloads is set.
/// </summary>
[GenerateSerializer, Alias("mg.GridAuditEntry")]
public sealed record GridAuditEntry([property: Id(0)] string Key)
{
    /// <summary>A market event (price_stale, price_held, liquidation_batch) with <see cref="GridEvent.AuditKey"/> = <see cref="Key"/>.</summary>
    [Id(1)] public GridEvent? Event { get; init; }

    [Id(2)] public PriceAudit? Price { get; init; }

    [Id(3)] public ConfigAudit? Config { get; init; }
}

/// <summary>A price as received (engine's receipt time) and the step it became; the counts are known once the step ended.</summary>
[GenerateSerializer, Alias("mg.PriceAudit")]
public sealed record PriceAudit(
    [property: Id(0)] string Market,
    [property: Id(1)] string Source,
    [property: Id(2)] decimal Price,
    [property: Id(3)] DateTimeOffset Timestamp,
    [property: Id(4)] DateTimeOffset ReceivedAt,
    [property: Id(5)] string Step)
{
    /// <summary>Accounts evaluated by the step (null: offered again after a crash, the step's end unknown).</summary>
    [Id(6)] public int? Evaluated { get; init; }

    /// <summary>The step's events (null as <see cref="Evaluated"/>).</summary>
    [Id(7)] public int? Events { get; init; }
}

/// <summary>An accepted configuration with its version.</summary>
[GenerateSerializer, Alias("mg.ConfigAudit")]
public sealed record ConfigAudit([property: Id(0)] long Version, [property: Id(1)] long? PreviousVersion, [property: Id(2)] RiskConfigSnapshot Config);

/// <summary>The audit trail's confirmation to a market (silo-internal, like <see cref="IAccountAuditGrain"/>).</summary>
public interface IMarketAuditGrain : IGrainWithStringKey
{
    /// <summary>
    /// The trail stored the records of these keys. One-way (a lost confirmation means the record is offered again) and
    /// interleaving (a market's step is never blocked by it): it only marks the keys, the step's next write drops them.
    /// </summary>
    [OneWay, AlwaysInterleave]
    Task AuditedAsync(ImmutableArray<string> keys);
}

/// <summary>
/// The audit trail's confirmation to the insurance fund (silo-internal), whose outbox keeps the liquidation batches of
/// price steps (<see cref="GridAuditKeys.Batch"/>), written with the step's charges. One-way and interleaving like the
/// market's: it only marks the keys, the fund's next write drops them.
/// </summary>
public interface IFundAuditGrain : IGrainWithIntegerKey
{
    [OneWay, AlwaysInterleave]
    Task AuditedAsync(ImmutableArray<string> keys);
}

/// <summary>The audit trail's confirmation to the configuration grain (silo-internal).</summary>
public interface IRiskConfigAuditGrain : IGrainWithIntegerKey
{
    [OneWay]
    Task AuditedAsync(ImmutableArray<string> keys);
}

/// <summary>Keys of grid-level audit records and who confirms them.</summary>
public static class GridAuditKeys
{
    public const string MarketPrefix = "*market/";
    public const string ConfigPrefix = "*config/";
    public const string FundPrefix = "*fund/";

    /// <summary>The key of a market's n-th audit record.</summary>
    public static string Market(string market, long n) => $"{MarketPrefix}{market}/#{n}";

    /// <summary>
    /// The key of the liquidation batch of <paramref name="batchMarket"/> in a market's price step, kept by the insurance
    /// fund's outbox (written with the step's charges): unique, as a market's step ids are. Null for steps that are not
    /// a market's (a demo's initial evaluation, whose step id repeats): those are announced unkeyed, as without an outbox.
    /// </summary>
    public static string? Batch(string step, string? batchMarket) =>
        batchMarket is not null && MarketSettlement.TryParseStep(step, out _, out _) && !step.Contains('/', StringComparison.Ordinal)
            ? $"{FundPrefix}{step}/batch/{batchMarket}"
            : null;

    public static string Config(long version) => $"{ConfigPrefix}#{version}";

    /// <summary>The market whose outbox holds <paramref name="key"/>, if it is a market's.</summary>
    public static string? MarketOf(string key)
    {
        if (!key.StartsWith(MarketPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var end = key.IndexOf('/', MarketPrefix.Length);
        return end > MarketPrefix.Length ? key[MarketPrefix.Length..end] : null;
    }

    /// <summary>Whether the insurance fund's outbox holds <paramref name="key"/>.</summary>
    public static bool IsFundKey(string? key) => key is not null && key.StartsWith(FundPrefix, StringComparison.Ordinal);
}

/// <summary>
/// A grid-level audit outbox (issue 9, a durable audit), the pattern of the account's (<see cref="AccountAudit"/>):
/// records join <see cref="Pending"/> (persisted state) before the write that they record, are offered to the trail
/// (<see cref="IGridObserver"/>) once that write succeeded, leave it when the trail confirms them, and are offered again
/// on activation and at every tick of a reminder (<see cref="ReminderName"/>) that is registered — alongside the write —
/// while the outbox holds records and unregistered at the first tick that finds it empty: a grain never touched again
/// after a crash is activated by its reminder and offers what the crash lost. Nothing runs for an empty outbox.
/// Confirmations only mark keys (<see cref="Audited"/>); they leave the persisted list when no write is in flight
/// (a market's confirmations interleave with its steps) and storage with the grain's next write. The reminder is
/// registered alongside the write that adds records, so both are durable before the step is answered.
/// </summary>
public sealed class GridAuditOutbox(Grain grain, Func<List<GridAuditEntry>> pending, IGridObserver observer, GridOptions options, ILogger logger)
{
    public const string ReminderName = "audit-outbox";

    private readonly HashSet<string> _confirmed = new(StringComparer.Ordinal);
    private HashSet<string>? _seen; // the keys pending at the last tick
    private bool _reminder;
    private int _writing;

    public bool Enabled => options.AuditOutbox;

    /// <summary>Records written to storage with confirmed ones still among them (a later write drops them).</summary>
    public bool Dirty { get; private set; }

    public IReadOnlyList<GridAuditEntry> Pending => pending();

    /// <summary>
    /// Adds <paramref name="entries"/> (with the outbox enabled), runs <paramref name="write"/> — the write of the step
    /// they record — and takes them back if it fails. Confirmed records leave the list first.
    /// </summary>
    public async Task WriteAsync(IReadOnlyCollection<GridAuditEntry> entries, Func<Task> write)
    {
        if (!Enabled)
        {
            await write();
            return;
        }

        // The reminder is registered alongside the write (never throws): both are durable before the step is answered.
        var keep = entries.Count > 0 ? KeepAsync() : Task.CompletedTask;
        pending().AddRange(entries);
        Prune(); // a record confirmed before it got here (a market's liquidation batch, as an earlier version kept them)
        _writing++;
        try
        {
            await write();
            Dirty = false;
        }
        catch
        {
            var set = entries.ToHashSet(ReferenceEqualityComparer.Instance);
            pending().RemoveAll(set.Contains);
            throw;
        }
        finally
        {
            _writing--;
            await keep;
        }

        Prune(); // what was confirmed during the write
    }

    /// <summary>Offers records to the trail (after their write; their first offer).</summary>
    public void Offer(IEnumerable<GridAuditEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Event is { } e)
            {
                observer.EventUnaudited(e);
            }
            else
            {
                observer.GridRecord(entry);
            }
        }
    }

    /// <summary>Offers everything pending (activation: what a crash may have lost on its way to PostgreSQL).</summary>
    public void OfferAll()
    {
        if (Enabled && pending().Count > 0)
        {
            Offer(pending());
            _seen = null;
        }
    }

    /// <summary>The trail stored these keys.</summary>
    public void Audited(IEnumerable<string> keys)
    {
        if (!Enabled)
        {
            return;
        }

        _confirmed.UnionWith(keys);
        Prune();
    }

    /// <summary>
    /// A reminder tick: offers again what was pending at the previous tick too (once a whole period went by), writes
    /// with <paramref name="write"/> (if given) a list that confirmations emptied, and unregisters the reminder when
    /// nothing is pending.
    /// </summary>
    public async Task TickAsync(string reminderName, Func<Task>? write)
    {
        if (reminderName != ReminderName)
        {
            return;
        }

        _reminder = true;
        Prune();
        var list = pending();
        if (list.Count > 0)
        {
            var seen = _seen;
            Offer(list.Where(e => seen?.Contains(e.Key) == true).ToList());
            _seen = list.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
            return;
        }

        _seen = null;
        _confirmed.Clear(); // keys confirmed but never added (a liquidation batch whose write failed); no step runs now
        if (Dirty && write is not null && _writing == 0)
        {
            await write(); // confirmations emptied the outbox: storage need not offer them again on the next activation
            Dirty = false;
        }

        if (_writing == 0)
        {
            await ReminderAsync(on: false);
            if (pending().Count > 0)
            {
                await ReminderAsync(on: true); // something was added meanwhile
            }
        }
    }

    /// <summary>Registers the reminder before a write that adds records (once per activation while the outbox holds any).</summary>
    public Task KeepAsync() => Enabled ? ReminderAsync(on: true) : Task.CompletedTask;

    private void Prune()
    {
        if (_confirmed.Count == 0 || _writing > 0)
        {
            return; // a write in flight may still be reading the list
        }

        // A confirmed key stays until its record is here (an earlier version announced a liquidation batch before its
        // market's write added it); the reminder's first tick that finds the outbox empty forgets it.
        if (pending().RemoveAll(e => _confirmed.Remove(e.Key)) > 0)
        {
            Dirty = true;
        }
    }

    private async Task ReminderAsync(bool on)
    {
        if (on == _reminder)
        {
            return;
        }

        _reminder = on;
        try
        {
            if (on)
            {
                var period = options.AuditRetryInterval > TimeSpan.FromMinutes(1) ? options.AuditRetryInterval : TimeSpan.FromMinutes(1);
                await grain.RegisterOrUpdateReminder(ReminderName, period, period);
            }
            else if (await grain.GetReminder(ReminderName) is { } reminder)
            {
                await grain.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) // a timeout included: the step must not fail for its reminder
        {
            // The reminder's storage away: records are still offered on activation; the next write that adds records tries again.
            _reminder = !on;
            logger.LogWarning(e, "The audit outbox of {Grain} could not {Action} its reminder", grain.GetGrainId(), on ? "register" : "unregister");
        }
    }
}
