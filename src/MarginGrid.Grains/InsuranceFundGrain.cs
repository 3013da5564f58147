using System.Collections.Immutable;
using MarginGrid.Domain;
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
}

[GenerateSerializer, Immutable, Alias("mg.AppliedLiquidation")]
public sealed record AppliedLiquidation(
    [property: Id(0)] string LiquidationId,
    [property: Id(1)] BankruptcyCoverView? Cover,
    [property: Id(2)] DateTimeOffset AppliedAt);

/// <summary>The insurance fund: takes penalties and discounts, covers bankruptcies, books socialized loss.</summary>
public sealed class InsuranceFundGrain(
    [PersistentState("fund", GridProviders.Storage)] IPersistentState<FundState> state,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock)
    : Grain, IFundLedgerGrain
{
    private readonly Dictionary<string, AppliedLiquidation> _index = new(StringComparer.Ordinal);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var applied in state.State.Applied)
        {
            _index[applied.LiquidationId] = applied;
        }

        observer.FundChanged(View());
        return Task.CompletedTask;
    }

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

    public async Task<ImmutableArray<BankruptcyCoverView?>> ApplyLiquidationsAsync(ImmutableArray<LiquidationCharge> charges)
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

        if (!changed)
        {
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

        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }

        observer.FundChanged(View());
        return covers.MoveToImmutable();
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
