using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.FundState")]
public sealed class FundState
{
    [Id(0)] public decimal Fund { get; set; }
    [Id(1)] public decimal Socialized { get; set; }
    [Id(2)] public decimal Peak { get; set; }
    [Id(3)] public bool Active { get; set; }

    /// <summary>Answers to applied liquidations not yet confirmed settled by their accounts, oldest first, for idempotent retries.</summary>
    [Id(4)] public List<AppliedLiquidation> Applied { get; set; } = [];

    /// <summary>
    /// The audit outbox (<see cref="GridAuditOutbox"/>): the liquidation batches of price steps (<c>*fund/…</c>), written
    /// with the step's charges, not yet confirmed stored by the audit trail.
    /// </summary>
    [Id(5)] public List<GridAuditEntry>? AuditPending { get; set; }
}

[GenerateSerializer, Immutable, Alias("mg.AppliedLiquidation")]
public sealed record AppliedLiquidation(
    [property: Id(0)] string LiquidationId,
    [property: Id(1)] BankruptcyCoverView? Cover,
    [property: Id(2)] DateTimeOffset AppliedAt);

/// <summary>
/// The insurance fund: takes penalties and discounts, covers bankruptcies, books socialized loss. Its write of a price
/// step's charges is the step's commit point: with <see cref="GridOptions.AuditOutbox"/>, the step's liquidation batches
/// join the fund's audit outbox in that write (<see cref="ApplyStepAsync"/>) and are offered to the audit trail until it
/// confirms them (<see cref="IFundAuditGrain"/>; again on activation and at the outbox's reminder).
/// </summary>
public sealed class InsuranceFundGrain(
    [PersistentState("fund", GridProviders.Storage)] IPersistentState<FundState> state,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<InsuranceFundGrain> logger)
    : Grain, IFundLedgerGrain, IFundAuditGrain, IRemindable
{
    private readonly Dictionary<string, AppliedLiquidation> _index = new(StringComparer.Ordinal);

    private GridAuditOutbox? _outbox;

    /// <summary>A write failed: the state in memory is not what storage holds (the activation is on its way out).</summary>
    private bool _failed;

    private GridAuditOutbox Outbox => _outbox ??= new(this, () => state.State.AuditPending ??= [], observer, options.Value, logger);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var applied in state.State.Applied)
        {
            _index[applied.LiquidationId] = applied;
        }

        observer.FundChanged(View());
        Outbox.OfferAll(); // the liquidation batches a crash may have lost on their way to PostgreSQL
        return Task.CompletedTask;
    }

    public Task AuditedAsync(ImmutableArray<string> keys)
    {
        Outbox.Audited(keys);
        return Task.CompletedTask;
    }

    /// <summary>The outbox's reminder: offers again, and writes a list that confirmations emptied (not after a failed write).</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        Outbox.TickAsync(reminderName, _failed ? null : state.WriteStateAsync);

    public async Task SeedAsync(decimal amount)
    {
        if (amount < 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(amount), "the insurance fund cannot start negative");
        }

        if (state.State.Active)
        {
            throw new InvalidOperationException("the insurance fund has already been seeded or used");
        }

        state.State.Fund = amount;
        state.State.Peak = amount;
        state.State.Active = true;
        await state.WriteStateAsync();
        observer.FundChanged(View());
    }

    public async Task<BankruptcyCoverView?> ApplyLiquidationAsync(LiquidationCharge charge) =>
        (await ApplyLiquidationsAsync([charge]))[0];

    public Task<ImmutableArray<BankruptcyCoverView?>> ApplyLiquidationsAsync(ImmutableArray<LiquidationCharge> charges) =>
        ApplyStepAsync(charges, []);

    public async Task<ImmutableArray<BankruptcyCoverView?>> ApplyStepAsync(ImmutableArray<LiquidationCharge> charges, ImmutableArray<GridEvent> batches)
    {
        var covers = ImmutableArray.CreateBuilder<BankruptcyCoverView?>(charges.Length);
        var ledger = new InsuranceLedger(state.State.Fund, state.State.Socialized);
        var changed = false;
        foreach (var charge in charges)
        {
            if (_index.TryGetValue(charge.LiquidationId, out var done))
            {
                covers.Add(done.Cover);
                continue;
            }

            ledger.Collect(charge.Income);
            state.State.Peak = Math.Max(state.State.Peak, ledger.Fund);
            var cover = charge.Deficit > 0m ? ledger.Cover(charge.Deficit) : null;
            if (cover is not null && charge.AdlRecovered is { } adl)
            {
                // v3: what auto-deleveraging takes from the counterparties is not socialized.
                var recovered = Math.Min(adl, cover.Socialized);
                ledger.Recover(recovered);
                cover = cover with { Socialized = cover.Socialized - recovered, AdlRecovered = recovered };
            }

            var view = cover?.ToView();
            var applied = new AppliedLiquidation(charge.LiquidationId, view, clock.UtcNow);
            state.State.Applied.Add(applied);
            _index[charge.LiquidationId] = applied;
            covers.Add(view);
            changed = true;
        }

        // The step's liquidation batches, keyed (a step sent again after a failure adds none twice).
        var records = new List<GridAuditEntry>();
        if (Outbox.Enabled && !batches.IsDefaultOrEmpty)
        {
            var kept = Outbox.Pending.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
            records.AddRange(batches.Where(b => GridAuditKeys.IsFundKey(b.AuditKey) && kept.Add(b.AuditKey!)).Select(b => new GridAuditEntry(b.AuditKey!) { Event = b }));
        }

        if (!changed && records.Count == 0)
        {
            return covers.MoveToImmutable();
        }

        if (!changed)
        {
            await WriteAsync(records); // no charge reached the fund (every begun order fenced): the batches still are the step's
            return covers.MoveToImmutable();
        }

        state.State.Fund = ledger.Fund;
        state.State.Socialized = ledger.SocializedLoss;
        state.State.Active = true;
        var cutoff = clock.UtcNow - options.Value.UnconfirmedLiquidationRetention;
        var firstKept = state.State.Applied.FindIndex(a => a.AppliedAt >= cutoff);
        var expired = firstKept < 0 ? state.State.Applied.Count : firstKept;
        if (expired > 0)
        {
            foreach (var old in state.State.Applied.Take(expired))
            {
                _index.Remove(old.LiquidationId);
            }

            state.State.Applied.RemoveRange(0, expired);
        }

        await WriteAsync(records);
        observer.FundChanged(View());
        return covers.MoveToImmutable();
    }

    /// <summary>The fund's one write of a step, with its audit records (offered once written).</summary>
    private async Task WriteAsync(List<GridAuditEntry> records)
    {
        try
        {
            await Outbox.WriteAsync(records, state.WriteStateAsync);
        }
        catch
        {
            _failed = true;
            DeactivateOnIdle();
            throw;
        }

        Outbox.Offer(records);
    }

    /// <summary>
    /// Forgets in memory only: the next write persists it. Should the fund reactivate before that, the ids come back
    /// and are kept until <see cref="GridOptions.UnconfirmedLiquidationRetention"/> — harmless, as nobody retries them.
    /// </summary>
    public Task ForgetSettledAsync(ImmutableArray<string> liquidationIds)
    {
        var forget = liquidationIds.Where(_index.Remove).ToHashSet(StringComparer.Ordinal);
        if (forget.Count > 0)
        {
            state.State.Applied.RemoveAll(a => forget.Contains(a.LiquidationId));
        }

        return Task.CompletedTask;
    }

    public Task<FundView> GetAsync() => Task.FromResult(View());

    private FundView View() => new(state.State.Fund, state.State.Socialized, state.State.Peak);
}
