using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// The liquidation outbox protocol of one account: a liquidation is applied to the aggregate together with its outbox
/// (one write), settled with the fund idempotently by id (at once, or by whoever finds it overdue), then completed
/// (bankruptcy cover, events). The aggregate decides every number; this only moves them between grains.
/// </summary>
public sealed class AccountLiquidations(AccountSession session)
{
    private Account Account => session.Account;

    /// <summary>The coordinator's begin: applied with its outbox in one write; a retry of the same id answers the same charge.</summary>
    public async Task<LiquidationCharge?> BeginAsync(LiquidationOrder order)
    {
        if (Account.Outbox is { } pending && pending.LiquidationId == order.LiquidationId)
        {
            return pending.ToCharge(session.Id); // a retry of this very call
        }

        await SettlePendingAsync(force: true);
        var undo = Account.Save();
        if (!Account.Opened || !Apply(order, coordinated: true))
        {
            return null;
        }

        await session.PersistAsync(undo);
        return Account.Outbox!.ToCharge(session.Id);
    }

    /// <summary>The coordinator's complete, with the fund's cover; a retry after completion answers the events as published.</summary>
    public async Task<ImmutableArray<GridEvent>> CompleteAsync(string liquidationId, BankruptcyCoverView? cover)
    {
        if (Account.Outbox?.LiquidationId != liquidationId)
        {
            return [.. session.Recent.Where(e => e.Step == liquidationId)]; // already completed
        }

        return (await CompleteAsync(cover)).Published;
    }

    /// <summary>v3: a counterparty's ADL close, idempotent by id; true when it changed the account.</summary>
    public async Task<bool> ApplyAdlAsync(string adlId, AdlOrder close)
    {
        var undo = Account.Save();
        if (!Account.ApplyAdl(adlId, close.Market, close.Quantity, close.Price))
        {
            return false;
        }

        await session.PersistAsync(undo);
        return true;
    }

    /// <summary>Settles an outstanding liquidation with the fund (idempotent there by id): at once, or once the coordinator is overdue.</summary>
    public async Task<IReadOnlyList<ModelEvent>> SettlePendingAsync(bool force)
    {
        if (Account.Outbox is not { } pending || (!force && session.Clock.UtcNow - pending.StartedAt <= session.Options.PendingLiquidationTimeout))
        {
            return [];
        }

        var fund = session.Grains.GetGrain<IFundLedgerGrain>(0);
        var cover = await fund.ApplyLiquidationAsync(pending.ToCharge(session.Id));
        await Task.WhenAll(pending.Adl.Select((c, i) =>
            session.Grains.Ref<IAccountRiskGrain>(c.Account).ApplyAdlAsync($"{pending.LiquidationId}/adl/{i}", c.ToOrder())));
        var (events, _) = await CompleteAsync(cover);
        if (!pending.Coordinated)
        {
            // Begun here, so only this account ever held the charge and it is recorded now: nobody can send it again.
            // A coordinated one is the coordinator's to confirm — its batch for this id may still be on its way.
            try
            {
                await fund.ForgetSettledAsync([pending.LiquidationId]);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                session.Logger.LogWarning(e, "Account {Account}: the fund could not forget liquidation {Liquidation}; it expires instead", session.Id, pending.LiquidationId);
            }
        }

        return events;
    }

    /// <summary>
    /// This account's own step found it liquidatable: liquidate it and settle with the fund directly. A liquidation that
    /// another market's step began here and whose completion is still on its way (per-market feed: that step's turn
    /// completes its accounts after this one's tick or completion re-banded it) is settled first, as a coordinator's
    /// begin does: one liquidation at a time, the fund knowing the pending one by its id.
    /// </summary>
    public async Task LiquidateSelfAsync(string step)
    {
        await SettlePendingAsync(force: true);
        var undo = Account.Save();
        await DecideOwnAsync(step, true, undo);
        if (Account.Outbox is not null)
        {
            await session.PersistAsync(undo);
            await SettlePendingAsync(force: true);
        }
    }

    /// <summary>
    /// The liquidation of this account's own step, decided by the coordinator like any step's (a step of one) and
    /// applied here in memory; also tells the coordinator when the step took a cap-queued account out of danger.
    /// </summary>
    public async Task DecideOwnAsync(string step, bool needed, Account.Memento undo, string? commandId = null)
    {
        var coordinator = session.Grains.GetGrain<ILiquidationCoordinatorGrain>(0);
        try
        {
            if (needed && Account.Auction is null)
            {
                var decision = await coordinator.DecideAsync(step, session.Snapshot(), session.ConfigVersion);
                Apply(decision.Order, coordinated: false, commandId, decision.Batches);
            }
            else if (Account.CapDeferred)
            {
                await coordinator.DequeueAsync(session.Id);
            }
        }
        catch
        {
            Account.Restore(undo); // not applied: the caller's answer is a failure
            throw;
        }
    }

    private async Task<(IReadOnlyList<ModelEvent> Model, ImmutableArray<GridEvent> Published)> CompleteAsync(BankruptcyCoverView? cover)
    {
        var pending = Account.Outbox!;
        var undo = Account.Save();
        var events = Account.CompleteLiquidation(cover?.ToDomain(), session.Marks, session.Config);
        var recorded = session.Events.Record(events, pending.LiquidationId);
        await session.PersistAsync(undo, recorded); // the events with the completion
        return (events, recorded);
    }

    private bool Apply(LiquidationOrder order, bool coordinated, string? commandId = null, IReadOnlyList<ModelEvent>? batches = null) =>
        Account.ApplyLiquidation(
            order.LiquidationId,
            order.Version,
            order.ToDomain(),
            order.DeferReason,
            coordinated,
            session.Clock.UtcNow,
            commandId,
            order.AdlRecovered,
            [.. order.Adl.Select(a => new AdlClose(a.Account, a.Market, a.Quantity, a.Price, a.Counterparty))],
            batches);
}
