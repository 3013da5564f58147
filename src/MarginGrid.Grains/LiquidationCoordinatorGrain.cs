using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

/// <summary>
/// Settles steps, one at a time (non-reentrant), so the insurance fund sees close-outs in the model's order: the step's
/// margin calls by account id; the accounts queued by a liquidation cap (evaluated again in every price step whose mark
/// was set); then the step's liquidations, decided centrally by the domain (<see cref="StepLiquidation"/>: plan at the
/// marks, net per market, settle in liquidation order) and applied by the accounts in parallel, the fund applying their
/// charges in order with one write — with <see cref="GridOptions.AuditOutbox"/>, together with the step's liquidation
/// batches (<see cref="IFundLedgerGrain.ApplyStepAsync"/>), so that they are durable before they are announced.
/// </summary>
public sealed class LiquidationCoordinatorGrain(
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<LiquidationCoordinatorGrain> logger)
    : Grain, ILiquidationCoordinatorGrain
{
    private const int EvaluationBatch = 2048;
    private readonly SortedSet<string> _queue = new(StringComparer.Ordinal);
    private ImmutableArray<string> _pending = [];
    private long _settled;
    private long _liquidated;

    public async Task<ImmutableArray<GridEvent>> SettleAsync(string step, ImmutableArray<EvaluationReport> reports, bool priceStep, long configVersion) =>
        await Settlements.CompleteAsync(GrainFactory, await SequenceAsync(step, reports, priceStep, configVersion), logger);

    public async Task<Settlement> SequenceAsync(string step, ImmutableArray<EvaluationReport> reports, bool priceStep, long configVersion)
    {
        var (config, version) = await configs.GetAsync(configVersion);
        var all = reports.ToList();
        var evaluated = all.Select(r => r.Account).ToHashSet(StringComparer.Ordinal);
        if (priceStep && _queue.Count > 0)
        {
            // Queued accounts are evaluated with every price step that goes on (those the tick reached already were).
            var queued = _queue.Where(a => !evaluated.Contains(a)).ToList();
            all.AddRange(await EvaluateAsync(step, queued));
            evaluated.UnionWith(queued);
        }

        var events = ImmutableArray.CreateBuilder<GridEvent>();
        var parts = ImmutableArray<SettlementPart>.Empty;
        events.AddRange(all.Where(r => r.MarginCall is not null).OrderBy(r => r.Account, StringComparer.Ordinal).Select(r => r.MarginCall!));
        var candidates = all.Where(r => r.NeedsLiquidation && !r.InAuction && r.Holdings is not null).ToList();
        candidates.Sort(static (a, b) => MarginCalculator.CompareForLiquidation(a.Account, Health(a), b.Account, Health(b)));
        _pending = [.. candidates.Select(r => r.Account)];
        observer.LiquidationQueue(_pending.Length + _queue.Count);
        var deferred = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            if (candidates.Count > 0)
            {
                var snapshots = candidates.Select(r => new AccountSnapshot(r.Account, r.Holdings!, r.Version, r.InAuction)).ToList();
                var plan = await new LiquidationPlanner(GrainFactory, options.Value).PlanAsync(snapshots, config, version);
                Observe(plan);
                // With an audit outbox, a price step's batches are keyed and kept by the insurance fund, written with the
                // step's charges (its commit point), and announced once written; others (without an outbox, or a step no
                // market holds) are announced now, as they always were.
                var batches = plan.Result.Batches.Select(b => b.ToEvent().ToGrid(step, clock.UtcNow))
                    .Select(e => options.Value.AuditOutbox ? e with { AuditKey = GridAuditKeys.Batch(step, e.Market) } : e).ToList();
                var kept = batches.Where(e => GridAuditKeys.IsFundKey(e.AuditKey)).ToImmutableArray();
                await this.AnnounceAsync(observer, kept.IsEmpty ? batches : [.. batches.Where(e => !GridAuditKeys.IsFundKey(e.AuditKey))], logger);
                events.AddRange(batches);
                parts = await ApplyAsync(step, plan, kept);
                foreach (var a in plan.Result.Accounts.Where(a => a.DeferReason is not null))
                {
                    deferred[a.Account] = a.DeferReason!;
                }
            }
        }
        finally
        {
            _pending = [];
        }

        // A queued account leaves the queue when a step evaluates it and it is not deferred again; a stale deferral
        // neither queues nor unqueues.
        foreach (var account in evaluated)
        {
            Requeue(account, deferred.GetValueOrDefault(account));
        }

        observer.LiquidationQueue(_queue.Count);
        _settled++;
        return new Settlement(events.ToImmutable(), parts);
    }

    /// <summary>
    /// An account's own step (a command) needs its liquidation: decided here like a price step's, as a step of one,
    /// and applied by the account itself (it is busy with its command, so this interleaves and calls nothing on it).
    /// </summary>
    public async Task<AccountStepDecision> DecideAsync(string step, AccountSnapshot candidate, long configVersion)
    {
        var (config, version) = await configs.GetAsync(configVersion);
        var plan = await new LiquidationPlanner(GrainFactory, options.Value).PlanAsync([candidate], config, version);
        var decided = plan.Result.Accounts.Single();
        Observe(plan);
        Requeue(candidate.Account, decided.DeferReason);
        return new AccountStepDecision(decided.ToOrder($"{step}/liquidation", candidate.Version), [.. plan.Result.Batches.Select(b => b.ToEvent())]);
    }

    public Task DequeueAsync(string account)
    {
        _queue.Remove(account);
        return Task.CompletedTask;
    }

    /// <summary>Reports a plan's deferrals by reason and its batches' netted and residual volume and price impact.</summary>
    private void Observe(PlannedStep plan)
    {
        if (plan.AdlSearch != AdlSearch.None)
        {
            observer.AdlCounterparties(plan.AdlSearch, plan.AdlCost.Fetched, plan.AdlCost.Holders);
            if (plan.AdlSearch == AdlSearch.Scan)
            {
                logger.LogInformation("Auto-deleveraging scanned every holder: the ranked index could not vouch for its counterparties");
            }
        }

        foreach (var a in plan.Result.Accounts)
        {
            if (a.DeferReason is { } reason)
            {
                observer.LiquidationDeferred(reason);
            }
        }

        foreach (var b in plan.Result.Batches)
        {
            observer.LiquidationBatch(b.Market, b.Netted, b.Residual, b.Mark == 0m ? 0m : Math.Abs(b.Price / b.Mark - 1m));
        }
    }

    /// <summary>A queued account leaves the queue when a step evaluates it and does not defer it again; "stale" changes nothing.</summary>
    private void Requeue(string account, string? deferReason)
    {
        if (deferReason == DeferReasons.Cap)
        {
            _queue.Add(account);
        }
        else if (deferReason != DeferReasons.Stale)
        {
            _queue.Remove(account);
        }
    }

    /// <summary>
    /// The accounts apply their parts (fenced by the version decided on), the fund applies the charges in the step's
    /// order and the counterparties of auto-deleveraging close; returns, in liquidation order, what completes each
    /// account (run by <see cref="Settlements.CompleteAsync"/>, outside this grain's turn).
    /// </summary>
    private async Task<ImmutableArray<SettlementPart>> ApplyAsync(string step, PlannedStep plan, ImmutableArray<GridEvent> kept)
    {
        var decided = plan.Result.Accounts;
        var orders = decided
            .Select((a, i) => (Decided: a, Order: a.ToOrder($"{step}:{a.Account}", plan.Versions[i])))
            .ToList();
        var stale = orders.Where(o => o.Decided.DeferReason == DeferReasons.Stale).Select(o => o.Decided.Account).ToHashSet(StringComparer.Ordinal);
        var begun = await Task.WhenAll(orders.Select(o => stale.Contains(o.Decided.Account)
            ? Task.FromResult<LiquidationCharge?>(null)
            : GrainFactory.Ref<IAccountRiskGrain>(o.Decided.Account).BeginLiquidationAsync(o.Order)));
        for (var i = 0; i < begun.Length; i++)
        {
            if (begun[i] is null && !stale.Contains(orders[i].Decided.Account))
            {
                logger.LogInformation("Account {Account} changed since step {Step} decided its liquidation; its next step decides again", orders[i].Decided.Account, step);
            }
        }

        var charges = begun.OfType<LiquidationCharge>().ToImmutableArray();
        var fund = GrainFactory.GetGrain<IFundLedgerGrain>(0);
        var covers = charges.IsEmpty && kept.IsEmpty
            ? []
            : await fund.ApplyStepAsync(charges, kept); // one write: the charges and the step's batches (even with no charge)
        await this.AnnounceAsync(observer, kept, logger, kept: true); // written: the fund's outbox offers them to the audit trail
        var coverOf = charges.Select((c, i) => (c.Account, Cover: covers[i])).ToDictionary(x => x.Account, x => x.Cover, StringComparer.Ordinal);

        // Auto-deleveraging: the counterparties close at the bankruptcy prices once the fund has taken the charges — in
        // this turn, so that the next step's plan sees their new holdings.
        await Task.WhenAll(orders.Where(o => coverOf.ContainsKey(o.Decided.Account))
            .SelectMany(o => o.Order.Adl.Select((c, i) => (Id: $"{o.Order.LiquidationId}/adl/{i}", Close: c)))
            .Select(x => GrainFactory.Ref<IAccountRiskGrain>(x.Close.Account).ApplyAdlAsync(x.Id, x.Close)));
        _liquidated += charges.Length;

        // Stale deferrals: no account records them, so they are announced here (observer and event stream), like the
        // step's batches.
        var deferrals = decided.Where(a => stale.Contains(a.Account)).ToDictionary(a => a.Account, a => a.Events.Single().ToGrid(step, clock.UtcNow), StringComparer.Ordinal);
        await this.AnnounceAsync(observer, deferrals.Values);
        return [.. decided.Select(a => coverOf.TryGetValue(a.Account, out var cover)
            ? new SettlementPart(a.Account, $"{step}:{a.Account}", cover, [])
            : new SettlementPart(a.Account, null, null, deferrals.TryGetValue(a.Account, out var deferral) ? [deferral] : []))];
    }

    public async Task<StepOutcome> EvaluateAccountsAsync(string step, ImmutableArray<string> accounts)
    {
        var (_, version) = await configs.RefreshAsync(); // a multi-market step right after a configuration change
        var reports = await EvaluateAsync(step, accounts);
        var events = await SettleAsync(step, [.. reports], priceStep: false, version);
        return new StepOutcome(step, events, accounts.Length);
    }

    private async Task<List<EvaluationReport>> EvaluateAsync(string step, IReadOnlyList<string> accounts)
    {
        var reports = new List<EvaluationReport>();
        foreach (var batch in accounts.Chunk(EvaluationBatch))
        {
            var results = await Task.WhenAll(batch.Select(a => GrainFactory.Ref<IAccountRiskGrain>(a).EvaluateAsync(step)));
            reports.AddRange(results.OfType<EvaluationReport>());
        }

        observer.Evaluated(accounts.Count);
        return reports;
    }

    public Task<LiquidationQueueView> GetQueueAsync() => Task.FromResult(new LiquidationQueueView([.. _pending, .. _queue], _settled, _liquidated));

    private static AccountHealth Health(EvaluationReport r) =>
        new(r.Equity, r.MaintenanceMargin, 0m, r.Status.ToDomain(), r.HasPositions);
}

/// <summary>
/// The completions of a sequenced step (<see cref="ILiquidationCoordinatorGrain.SequenceAsync"/>): each account records
/// the fund's answer and announces its events (observer and event stream, once written), in parallel; then the fund
/// forgets the ids. Run by the step's caller (the market), so that the coordinator is free for the next step meanwhile;
/// the order of the returned events is the liquidation order either way.
/// </summary>
public static class Settlements
{
    public static async Task<ImmutableArray<GridEvent>> CompleteAsync(IGrainFactory grains, Settlement settlement, ILogger? logger = null)
    {
        if (settlement.Parts.IsEmpty)
        {
            return settlement.Events;
        }

        var completed = await Task.WhenAll(settlement.Parts.Select(p => p.LiquidationId is { } id
            ? grains.Ref<IAccountRiskGrain>(p.Account).CompleteLiquidationAsync(id, p.Cover)
            : Task.FromResult(p.Events)));
        var settled = settlement.Parts.Where(p => p.LiquidationId is not null).Select(p => p.LiquidationId!).ToImmutableArray();
        if (!settled.IsEmpty)
        {
            // Every account has recorded its outcome: the fund may forget these ids (if this fails, they expire).
            try
            {
                await grains.GetGrain<IFundLedgerGrain>(0).ForgetSettledAsync(settled);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger?.LogWarning(e, "The insurance fund could not forget {Count} settled liquidations; they expire instead", settled.Length);
            }
        }

        return [.. settlement.Events, .. completed.SelectMany(e => e)];
    }
}
