using System.Collections.Immutable;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.InboxState")]
public sealed class InboxState
{
    [Id(0)] public List<GridEvent> Events { get; set; } = [];
}

/// <summary>
/// v3: the events about an account that another account's step emitted — an auto-deleveraging close of its position as
/// a counterparty (<c>adl</c>): the bankrupt account's liquidation records and publishes them, and hands each
/// counterparty's here, so that the counterparty's recent events show them beside its own. Persisted, the newest
/// <see cref="GridOptions.RecentEvents"/> kept, idempotent per event (a retried hand-over adds nothing).
/// </summary>
public sealed class AccountInboxGrain(
    [PersistentState("inbox", GridProviders.Storage)] IPersistentState<InboxState> state,
    IOptions<GridOptions> options)
    : Grain, IAccountInboxGrain
{
    public async Task AddAsync(ImmutableArray<GridEvent> events)
    {
        var added = false;
        foreach (var e in events)
        {
            if (!state.State.Events.Contains(e))
            {
                state.State.Events.Add(e);
                added = true;
            }
        }

        if (!added)
        {
            return;
        }

        var keep = options.Value.RecentEvents;
        if (state.State.Events.Count > keep)
        {
            state.State.Events.RemoveRange(0, state.State.Events.Count - keep);
        }

        await state.WriteStateAsync();
    }

    public Task<ImmutableArray<GridEvent>> GetAsync() => Task.FromResult(state.State.Events.ToImmutableArray());
}
