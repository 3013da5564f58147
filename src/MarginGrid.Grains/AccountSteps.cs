using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// The tick protocol of one account: a step evaluated by the aggregate at current marks (fetching those whose ticks
/// were gated), its margin call published with what justified it, and the gated fan-out's safe bands handed to the
/// holder shards.
/// </summary>
public sealed class AccountSteps(AccountSession session, AccountLiquidations liquidations)
{
    private Account Account => session.Account;

    private IMarks Marks => session.Marks;

    /// <summary>Evaluates at current marks, reports what the step must act on, re-bands (unless it must be liquidated).</summary>
    public async Task<EvaluationReport?> StepAsync(string step, string? except = null)
    {
        var config = session.Config;
        await session.Markets.RefreshIfGatedAsync(Account.PricedBy(config), except);
        Evaluation evaluation;
        var undo = Account.Save();
        try
        {
            evaluation = Account.Evaluate(Marks, config);
        }
        catch (Exception e) when (e is MissingMarkException or ArithmeticException)
        {
            // One account that cannot be evaluated never stops the step for the others; nothing of it has changed.
            session.Observer.EvaluationFailed(session.Id, step);
            session.Logger.LogError(e, "Account {Account} cannot be evaluated at step {Step}", session.Id, step);
            return null;
        }

        var health = evaluation.Health;
        var recorded = evaluation.MarginCall is { } call
            ? session.Events.Record([call], step, e => e with
            {
                // What justified it, for the audit trail: the equity, the requirement and the marks of the step.
                Equity = health.Equity,
                MaintenanceMargin = health.MaintenanceMargin,
                Marks = Account.PricedBy(config).Where(m => Marks.TryGetMark(m, out _))
                    .ToImmutableSortedDictionary(m => m, m => Marks.TryGetMark(m, out var p) ? p : 0m, StringComparer.Ordinal),
            })
            : [];
        if (undo.Armed != Account.MarginCallArmed || !recorded.IsEmpty)
        {
            await session.PersistAsync(undo, recorded); // the margin call with the status and flag that made it
        }
        else if (undo.Status != Account.Status)
        {
            // The status alone is derived: every evaluation sets it again from the holdings and the marks, and nothing is
            // decided from a stored one. It is stored with the account's next write (in a crash, its liquidation's);
            // writing it now cost a write per liquidatable account per step.
            session.Observer.StatusChanged(undo.Status.ToWire(), Account.Status.ToWire());
        }

        var marginCall = recorded.IsEmpty ? null : recorded[0];

        if (!evaluation.NeedsLiquidation)
        {
            await RebandAsync(); // a liquidatable account stays unbanded: its liquidation re-bands it
        }

        return marginCall is not null || evaluation.NeedsLiquidation
            ? new EvaluationReport(session.Id, health.Status.ToWire(), health.HasPositions, health.Equity, health.MaintenanceMargin, marginCall)
            {
                Holdings = evaluation.NeedsLiquidation ? Account.Holdings.ToSeed() : null,
                Version = Account.Version,
                InAuction = Account.Auction is not null,
            }
            : null;
    }

    /// <summary>
    /// Gated fan-out: hands the shards this account's safe bands (none unless Healthy). A shard that has seen a newer tick
    /// than the band's marks returns it; that tick's step did not include this account, so it settles a step of its own
    /// (margin call, liquidation) and bands again.
    /// </summary>
    public async Task RebandAsync()
    {
        for (var attempt = 0; Account.Opened && attempt < 4; attempt++)
        {
            var newer = await session.Markets.BandAsync(Account.PricedBy(session.Config), Account.SafeBands(Marks, session.Config), AdlStanding());
            if (newer.Count == 0)
            {
                return;
            }

            var step = newer[^1].StepId;
            if (await StepAsync(step) is { NeedsLiquidation: true })
            {
                await liquidations.LiquidateSelfAsync($"{step}:{session.Id}/self");
            }
        }

        session.Logger.LogWarning("Account {Account} could not settle its safe bands; its holders deliver every tick until it does", session.Id);
    }

    /// <summary>
    /// v3: the standing the shards rank for auto-deleveraging, only while it is configured (the shards keep none
    /// otherwise; once it is turned on, a holder without one is fetched by the planner and its standing handed back).
    /// </summary>
    private AdlStanding? AdlStanding() => session.Config.Risk.AutoDeleveraging ? Account.AdlStanding() : null;
}
