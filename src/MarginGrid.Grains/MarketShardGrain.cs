using MarginGrid.Domain;
using Microsoft.Extensions.Options;
namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.ShardState")]
public sealed class ShardState
{
    [Id(0)] public HashSet<string> Holders { get; set; } = [];
}

/// <summary>
/// The holders of one market in one shard. Registrations are persisted (coalesced: concurrent registrations share
/// one write) so a reactivated shard still knows its holders. Without gating a tick goes to every holder; with gating only
/// to holders without a safe band or whose band the price has left (bands live in memory only: after a reactivation
/// every holder is delivered the next tick and bands itself again). The shard awaits every delivery.
/// </summary>
public sealed class MarketShardGrain(
    [PersistentState("shard", GridProviders.Storage)] IPersistentState<ShardState> state,
    IOptions<GridOptions> options,
    IGridObserver observer)
    : Grain, IMarketShardGrain
{
    private readonly FanOutMode _fanOut = options.Value.FanOut;
    private readonly Dictionary<string, SafeBand> _bands = new(StringComparer.Ordinal);
    private MarketTick? _latest;
    private string[]? _snapshot;
    private long _changes;
    private long _persisted;
    private Task? _write;

    public Task<int> CountAsync() => Task.FromResult(state.State.Holders.Count);

    public Task RegisterAsync(string account) =>
        state.State.Holders.Add(account) ? PersistAsync() : Task.CompletedTask;

    public Task UnregisterAsync(string account)
    {
        _bands.Remove(account);
        return state.State.Holders.Remove(account) ? PersistAsync() : Task.CompletedTask;
    }

    public async Task<TickDelivery> DeliverAsync(MarketTick tick)
    {
        if (_latest is null || tick.Sequence > _latest.Sequence)
        {
            _latest = tick;
        }

        var holders = _snapshot ??= [.. state.State.Holders];
        if (holders.Length == 0)
        {
            return new TickDelivery(0, []);
        }

        var gated = _fanOut == FanOutMode.Gated && tick.Evaluate;
        var calls = new List<Task<EvaluationReport?>>(gated ? Math.Min(holders.Length, 64) : holders.Length);
        foreach (var holder in holders)
        {
            if (gated && _bands.TryGetValue(holder, out var band))
            {
                if (band.Contains(tick.Price))
                {
                    continue; // provably still Healthy: decided without a message
                }

                _bands.Remove(holder); // crossed: the account sets a new band once it has evaluated
            }

            calls.Add(GrainFactory.GetGrain<IAccountGrain>(holder).OnTickAsync(tick));
        }

        var reports = await Task.WhenAll(calls);
        if (tick.Evaluate)
        {
            observer.Evaluated(calls.Count);
        }

        return new TickDelivery(tick.Evaluate ? holders.Length : 0, [.. reports.OfType<EvaluationReport>()])
        {
            Delivered = tick.Evaluate ? calls.Count : 0,
        };
    }

    public Task<MarketTick?> SetBandAsync(string account, decimal? low, decimal? high, long baseSequence)
    {
        var latest = _latest is { } t && t.Sequence > baseSequence ? t : null;
        if (low is { } lo && high is { } hi && (latest is null || new SafeBand(lo, hi).Contains(latest.Price)))
        {
            _bands[account] = new SafeBand(lo, hi);
        }
        else
        {
            _bands.Remove(account);
        }

        return Task.FromResult(latest);
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
