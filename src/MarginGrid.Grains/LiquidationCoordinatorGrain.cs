using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// Settles steps: the step's margin calls in account-id order, then its liquidatable accounts one at a time, most
/// endangered first (no positions first, then health ascending, then id), each executed by the account itself.
/// Non-reentrant, so steps are settled one after another and the insurance fund sees close-outs in that order.
/// </summary>
public sealed class LiquidationCoordinatorGrain(IGridObserver observer, ILogger<LiquidationCoordinatorGrain> logger)
    : Grain, ILiquidationCoordinatorGrain
{
    private const int EvaluationBatch = 2048;
    private ImmutableArray<string> _pending = [];
    private long _settled;
    private long _liquidated;

    public async Task<ImmutableArray<GridEvent>> SettleAsync(string step, ImmutableArray<EvaluationReport> reports)
    {
        var events = ImmutableArray.CreateBuilder<GridEvent>();
        events.AddRange(reports
            .Where(r => r.MarginCall is not null)
            .OrderBy(r => r.Account, StringComparer.Ordinal)
            .Select(r => r.MarginCall!));

        var queue = reports.Where(r => r.NeedsLiquidation).ToList();
        queue.Sort(static (a, b) => MarginCalculator.CompareForLiquidation(a.Account, Health(a), b.Account, Health(b)));
        _pending = [.. queue.Select(r => r.Account)];
        observer.LiquidationQueue(_pending.Length);
        try
        {
            // Accounts close out in parallel (each only touches its own holdings); the fund then applies their charges
            // in the step's order, so who is covered first is exactly the model's order.
            var begun = await Task.WhenAll(queue.Select(r =>
                GrainFactory.GetGrain<IAccountRiskGrain>(r.Account).BeginLiquidationAsync($"{step}:{r.Account}")));
            var charges = begun.OfType<LiquidationCharge>().ToImmutableArray();
            if (!charges.IsEmpty)
            {
                var fund = GrainFactory.GetGrain<IFundLedgerGrain>(0);
                var covers = await fund.ApplyLiquidationsAsync(charges);
                var completed = await Task.WhenAll(charges.Select((c, i) =>
                    GrainFactory.GetGrain<IAccountRiskGrain>(c.Account).CompleteLiquidationAsync(c.LiquidationId, covers[i])));
                foreach (var closed in completed)
                {
                    events.AddRange(closed);
                }

                await ForgetSettledAsync(fund, [.. charges.Select(c => c.LiquidationId)]);

                _liquidated += charges.Length;
            }
        }
        finally
        {
            _pending = [];
            observer.LiquidationQueue(0);
        }

        _settled++;
        return events.ToImmutable();
    }

    /// <summary>Every account has recorded its outcome: the fund may forget these ids (if this fails, they expire).</summary>
    private async Task ForgetSettledAsync(IFundLedgerGrain fund, ImmutableArray<string> liquidationIds)
    {
        try
        {
            await fund.ForgetSettledAsync(liquidationIds);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            logger.LogWarning(e, "The insurance fund could not forget {Count} settled liquidations; they expire instead", liquidationIds.Length);
        }
    }

    public async Task<StepOutcome> EvaluateAccountsAsync(string step, ImmutableArray<string> accounts)
    {
        var reports = ImmutableArray.CreateBuilder<EvaluationReport>();
        foreach (var batch in accounts.Chunk(EvaluationBatch))
        {
            var results = await Task.WhenAll(batch.Select(a => GrainFactory.GetGrain<IAccountRiskGrain>(a).EvaluateAsync(step)));
            reports.AddRange(results.OfType<EvaluationReport>());
        }

        observer.Evaluated(accounts.Length);
        var events = await SettleAsync(step, reports.ToImmutable());
        return new StepOutcome(step, events, accounts.Length);
    }

    public Task<LiquidationQueueView> GetQueueAsync() => Task.FromResult(new LiquidationQueueView(_pending, _settled, _liquidated));

    private static AccountHealth Health(EvaluationReport r) =>
        new(r.Equity, r.MaintenanceMargin, 0m, r.Status.ToDomain(), r.HasPositions);
}
