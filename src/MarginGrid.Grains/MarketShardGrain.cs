using System.Collections.Immutable;
namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.ShardState")]
public sealed class ShardState
{
    [Id(0)] public HashSet<string> Holders { get; set; } = [];
}

/// <summary>
/// The holders of one market in one shard. Registrations are persisted (coalesced: concurrent registrations share
/// one write) so a reactivated shard still knows its holders; each tick goes to every holder at once and the shard awaits them all.
/// </summary>
public sealed class MarketShardGrain(
    [PersistentState("shard", GridProviders.Storage)] IPersistentState<ShardState> state,
    IGridObserver observer)
    : Grain, IMarketShardGrain
{
    private string[]? _snapshot;
    private long _changes;
    private long _persisted;
    private Task? _write;

    public Task<int> CountAsync() => Task.FromResult(state.State.Holders.Count);

    public Task RegisterAsync(string account) =>
        state.State.Holders.Add(account) ? PersistAsync() : Task.CompletedTask;

    public Task UnregisterAsync(string account) =>
        state.State.Holders.Remove(account) ? PersistAsync() : Task.CompletedTask;

    public async Task<TickDelivery> DeliverAsync(MarketTick tick)
    {
        var holders = _snapshot ??= [.. state.State.Holders];
        if (holders.Length == 0)
        {
            return new TickDelivery(0, []);
        }

        var calls = new Task<EvaluationReport?>[holders.Length];
        for (var i = 0; i < holders.Length; i++)
        {
            calls[i] = GrainFactory.GetGrain<IAccountGrain>(holders[i]).OnTickAsync(tick);
        }

        var reports = await Task.WhenAll(calls);
        if (tick.Evaluate)
        {
            observer.Evaluated(holders.Length);
        }

        return new TickDelivery(tick.Evaluate ? holders.Length : 0, [.. reports.OfType<EvaluationReport>()]);
    }

    private async Task PersistAsync()
    {
        _snapshot = null;
        var mine = ++_changes;
        while (_persisted < mine)
        {
            if (_write is { } running)
            {
                await running;
                continue;
            }

            var upTo = _changes;
            _write = state.WriteStateAsync();
            try
            {
                await _write;
                _persisted = Math.Max(_persisted, upTo);
            }
            finally
            {
                _write = null;
            }
        }
    }
}
