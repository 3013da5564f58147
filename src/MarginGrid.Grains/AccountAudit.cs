using System.Collections.Immutable;
using MarginGrid.Domain;
using Orleans.Concurrency;

namespace MarginGrid.Grains;

/// <summary>The audit trail's confirmation to an account (silo-internal: clients cannot call it).</summary>
public interface IAccountAuditGrain : IGrainWithStringKey
{
    /// <summary>
    /// The audit trail has stored the records of these commands: they leave the account's audit outbox (in memory at
    /// once, in storage with the account's next write). One-way: a lost confirmation only means the record is offered
    /// again, and the trail's writer is idempotent per command id.
    /// </summary>
    [OneWay]
    Task AuditedAsync(ImmutableArray<string> commandIds);
}

/// <summary>
/// The account's audit outbox (issue 9, a durable audit): with <see cref="GridOptions.AuditOutbox"/>, every command
/// step puts its command id in <see cref="AccountState.AuditPending"/> in the same write as the step itself (its record
/// — request, result, events, version — is in the command log of that write). The silo's audit trail confirms what it
/// stored (<see cref="IAccountAuditGrain"/>); whatever is still pending is offered again to the observer
/// (<see cref="IGridObserver.CommandUnaudited"/>) on activation — after a crash, a kill -9, a lost queue — and, to what
/// stayed pending for a whole period, at each tick of the account's audit reminder, held while anything is pending
/// (<see cref="AccountGrain.KeepOfferingAuditAsync"/>): it also activates an account nothing else touches after a crash.
/// The opening's record (<see cref="AddOpen"/>) waits here too.
/// </summary>
public sealed class AccountAudit(AccountSession session, Func<List<string>> pending)
{
    private HashSet<string>? _seen; // the records pending at the last offer (only while the outbox holds any)

    /// <summary>The command id of the account's opening in the trail (<c>account/*open</c>; no command id has a <c>*</c>).</summary>
    public const string OpenId = "*open";

    public bool Enabled => session.Options.AuditOutbox;

    /// <summary>
    /// Before the opening's write: its record joins the outbox as <c>*open VERSION HOLDINGS-JSON</c> (until confirmed:
    /// the only copy of what the account was opened with). Returns an undo for a failed write.
    /// </summary>
    public Action AddOpen(AccountSeed seed, long version)
    {
        if (!Enabled)
        {
            return static () => { };
        }

        var request = System.Text.Json.JsonSerializer.Serialize(new
        {
            collateral = seed.Collateral.OrderBy(c => c.Key, StringComparer.Ordinal).ToDictionary(c => c.Key, c => c.Value),
            positions = seed.Positions.Select(p => new { market = p.Market, size = p.Size, entryPrice = p.EntryPrice }),
        });
        return Add(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{OpenId} {version} {request}"));
    }

    /// <summary>Before the step's write: its command id joins the outbox. Returns an undo for a failed write.</summary>
    public Action Add(string commandId)
    {
        if (!Enabled)
        {
            return static () => { };
        }

        var list = pending();
        list.Add(commandId);
        return () => list.Remove(commandId); // the step's write registers the reminder (AccountSession.PersistAsync)
    }

    /// <summary>The trail stored these records: command ids, and event keys as <c>#n</c> (the part after <c>account/</c>).</summary>
    public void Audited(IEnumerable<string> ids)
    {
        if (!Enabled)
        {
            return;
        }

        var done = ids.ToHashSet(StringComparer.Ordinal);
        var opened = done.Contains(OpenId);
        pending().RemoveAll(id => done.Contains(id) || opened && id.StartsWith(OpenId + " ", StringComparison.Ordinal));
        session.Events.Audit?.Audited(done.Where(id => id.StartsWith('#')).Select(id => $"{session.Id}/{id}").ToHashSet(StringComparer.Ordinal));
        _seen?.ExceptWith(done);
        _seen?.ExceptWith(done.Select(id => $"{session.Id}/{id}"));
    }

    /// <summary>
    /// Offers the pending records again: all of them (<paramref name="all"/>, on activation), or those pending for a
    /// whole interval. Returns whether any are pending.
    /// </summary>
    public bool Offer(bool all)
    {
        if (!Enabled)
        {
            return false;
        }

        var list = pending();
        var events = session.Events.Audit?.Pending ?? [];
        if (list.Count == 0 && events.Count == 0)
        {
            _seen = null;
            return false;
        }

        var account = session.Account;
        list.RemoveAll(id => !id.StartsWith(OpenId, StringComparison.Ordinal) && account.Commands.Find(id) is null); // past the command retention
        foreach (var id in list)
        {
            if (!all && _seen?.Contains(id) != true)
            {
                continue;
            }

            if (id.StartsWith(OpenId + " ", StringComparison.Ordinal) && id.Split(' ', 3) is [_, var version, var request])
            {
                session.Observer.AccountOpenUnaudited(session.Id, request, long.Parse(version, System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                session.Observer.CommandUnaudited(session.Id, account.Commands.Find(id)!);
            }
        }

        foreach (var e in events)
        {
            if (all || _seen?.Contains(e.AuditKey!) == true)
            {
                session.Observer.EventUnaudited(e);
            }
        }

        _seen = all ? new HashSet<string>(StringComparer.Ordinal) : [.. list, .. events.Select(e => e.AuditKey!)];
        return list.Count > 0 || events.Count > 0;
    }
}
