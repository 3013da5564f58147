using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// The command protocol of one account: a command step is decided by the aggregate at the current marks of every
/// market it touches, its record, its own liquidation and its outbox persist in one write before the answer, and a
/// retry of the same command id answers the stored result (a different body under the same id is a conflict).
/// </summary>
public sealed class AccountCommands(
    AccountSession session, AccountLiquidations liquidations, AccountSteps steps, AccountAuctions auctions)
{
    private Account Account => session.Account;

    /// <summary>A fill, deposit or withdrawal.</summary>
    public async Task<CommandResult> ExecuteAsync(AccountCommand command)
    {
        if (await StartAsync(command) is { } answered)
        {
            return answered;
        }

        var before = await auctions.EndExpiredAsync(command.CommandId);
        var step = Account.Execute(command, session.Marks, session.Config, session.Clock.UtcNow, session.Options.CommandRetention, before);
        return await FinishAsync(command, step, before.Count);
    }

    /// <summary>v3: a bid of this (liquidator) account on another account's auction.</summary>
    public async Task<CommandResult> BidAsync(AccountCommand.Bid command)
    {
        if (await StartAsync(command) is { } answered)
        {
            return answered;
        }

        var before = await auctions.EndExpiredAsync(command.CommandId);
        var (reason, quantity, payment) = await auctions.BuyAsync(command, before);
        var now = session.Clock.UtcNow;
        var retention = session.Options.CommandRetention;
        var step = reason is null
            ? Account.Purchase(command, quantity, payment, before, session.Marks, session.Config, now, retention)
            : Account.Reject(command, reason, before, now, retention);
        return await FinishAsync(command, step, before.Count);
    }

    /// <summary>A command step's end: its own liquidation, one write, its events (after the step's earlier ones), the fund.</summary>
    private async Task<CommandResult> FinishAsync(AccountCommand command, CommandStep step, int earlier)
    {
        // The step's own undo, taken after it dropped the records past retention: a memento taken before the step
        // would restore a record count that the pruning made larger than the log (and throw half-way through).
        var undo = step.Undo;
        await liquidations.DecideOwnAsync(command.CommandId, step.NeedsLiquidation, undo, command.CommandId);
        var unaudit = session.Audit.Add(command.CommandId); // the audit outbox: in the same write as the step
        var recorded = session.Events.Record([.. step.Record.Events.Skip(earlier)], command.CommandId);
        try
        {
            // The command, its record, its events, its liquidation's outbox and its audit entries: one write.
            await session.PersistAsync(undo, recorded);
        }
        catch
        {
            unaudit();
            throw;
        }

        await liquidations.SettlePendingAsync(force: true);
        session.Observer.Command(command.Kind, step.Record.Accepted ? "accepted" : "rejected");
        await steps.RebandAsync();
        return ToResult(Find(command)!);
    }

    /// <summary>The start of a command step: an answer when there is nothing to decide (unknown account, a retry); else links current marks.</summary>
    private async Task<CommandResult?> StartAsync(AccountCommand command)
    {
        if (string.IsNullOrWhiteSpace(command.CommandId))
        {
            throw new ArgumentException("a command needs a command id", nameof(command));
        }

        if (!Account.Opened)
        {
            return await UnknownAccountAsync(command);
        }

        await liquidations.SettlePendingAsync(force: true);
        if (Find(command) is { } stored)
        {
            session.Observer.Command(command.Kind, "duplicate");
            return ToResult(stored) with { Duplicate = true };
        }

        await session.LoadConfigAsync(session.ConfigVersion); // the silo's copy, no older than ConfigMaxAge
        if (!command.IsKnownTo(session.Config))
        {
            await session.LoadConfigAsync(session.ConfigVersion + 1); // an unknown market or asset may be newer than this silo's copy
        }

        await session.Markets.LinkAsync(Account.MarketsNeeded(session.Config, command), refresh: true); // decide at current marks
        return null;
    }

    /// <summary>A command on an account that was never opened: rejected, published, nothing recorded.</summary>
    private async Task<CommandResult> UnknownAccountAsync(AccountCommand command)
    {
        var clock = session.Clock;
        var unknown = new ModelEvent(ModelEventType.Rejected, session.Id) { Reason = RejectReasons.UnknownAccount }.ToGrid(command.CommandId, clock.UtcNow);
        session.Observer.EventEmitted(unknown);
        session.Observer.Command(command.Kind, "rejected");
        await session.Events.PublishAsync([unknown]);

        // v3: the step still starts by ending the expired auctions (of other accounts: this one has none).
        var ended = ImmutableArray<AccountStepEvents>.Empty;
        var configs = session.Configs;
        if (configs.Version > 0 && (await configs.GetAsync()).Config.Collateral.Any(c => c.Auction is not null))
        {
            ended = await session.House.EndExpiredAsync(command.CommandId, except: session.Id);
        }

        var at = clock.UtcNow;
        return new CommandResult(
            command.CommandId, false, RejectReasons.UnknownAccount, [.. ended.SelectMany(e => e.Events).Select(e => e.ToGrid(command.CommandId, at)), unknown], 0);
    }

    private CommandRecord? Find(AccountCommand command) =>
        Account.Commands.Find(command.CommandId) is { } stored && stored.Fingerprint != command.Fingerprint
            ? throw new CommandConflictException(command.CommandId)
            : Account.FindCommand(command);

    private static CommandResult ToResult(CommandRecord record) =>
        new(record.CommandId, record.Accepted, record.Reason, [.. record.Events.Select(e => e.ToGrid(record.CommandId, record.At))], record.Version);
}
