using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.ShardState")]
public sealed class ShardState
{
    [Id(0)] public HashSet<string> Holders { get; set; } = [];
}

/// <summary>
/// The holders of one market in one shard. Registrations are persisted (coalesced: concurrent registrations share
/// one write) so a reactivated shard still knows its holders; removals ride along with the next write. Without gating a tick goes to every holder; with gating only
/// to holders without a safe band or whose band the price has left (bands live in memory only: after a reactivation
/// every holder is delivered the next tick and bands itself again). The shard awaits every delivery.
/// </summary>
/// <remarks>
/// Every holder is either banded (a key of <c>_bands</c>) or unbanded (in <c>_unbanded</c>), never both. A gated tick
/// scans the bands' entries — no hashing per holder — and delivers to the unbanded holders, the crossed ones included.
/// </remarks>
public sealed class MarketShardGrain(
    [PersistentState("shard", GridProviders.Storage)] IPersistentState<ShardState> state,
    IOptions<GridOptions> options,
    IGridObserver observer,
    RiskConfigProvider configs,
    ILogger<MarketShardGrain> logger)
    : Grain, IMarketShardGrain
{
    private readonly FanOutMode _fanOut = options.Value.FanOut;
    private readonly Dictionary<string, SafeBand> _bands = new(StringComparer.Ordinal);
    private readonly List<string> _crossed = [];
    private readonly AdlBook _adl = new();
    private HashSet<string> _unbanded = new(StringComparer.Ordinal);
    private int _unbandedPeak;
    private MarketTick? _latest;
    private long _changes;
    private long _persisted;
    private Task? _write;
    private bool _removed; // a holder forgotten since the last write

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _unbanded = new HashSet<string>(state.State.Holders, StringComparer.Ordinal);
        _unbandedPeak = _unbanded.Count;
        return Task.CompletedTask;
    }

    public Task<int> CountAsync() => Task.FromResult(state.State.Holders.Count);

    public Task<System.Collections.Immutable.ImmutableArray<string>> HoldersAsync() =>
        Task.FromResult(System.Collections.Immutable.ImmutableArray.CreateRange(state.State.Holders));

    public Task RegisterAsync(string account)
    {
        if (!state.State.Holders.Add(account))
        {
            return Task.CompletedTask;
        }

        AddUnbanded(account);
        return PersistAsync();
    }

    /// <summary>
    /// Forgets a holder in memory; storage follows with the next registration's write or the deactivation. A holder
    /// that comes back from storage after a crash is only delivered the next tick, and unregisters again (an account
    /// unlinks from a market that no longer prices it). Persisting every removal serialized the whole holder set once
    /// per closed position — 8 % of the CPU of a crash step in a profile — for nothing a restart could lose.
    /// </summary>
    public Task UnregisterAsync(string account)
    {
        _bands.Remove(account);
        _adl.Remove(account);
        _unbanded.Remove(account);
        if (state.State.Holders.Remove(account))
        {
            _removed = true;
        }

        return Task.CompletedTask;
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_removed && _write is null)
        {
            try
            {
                await PersistAsync();
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Shard {Shard}: the holders it forgot are not stored; they are delivered one tick and unregister again", this.GetPrimaryKeyString());
            }
        }
    }

    public async Task<TickDelivery> DeliverAsync(MarketTick tick)
    {
        if (_latest is null || tick.Sequence > _latest.Sequence)
        {
            _latest = tick;
        }

        var holders = state.State.Holders;
        if (holders.Count == 0)
        {
            return new TickDelivery(0, []);
        }

        var gated = _fanOut == FanOutMode.Gated && tick.Evaluate;
        if (gated)
        {
            foreach (var (holder, band) in _bands)
            {
                if (!band.Contains(tick.Price))
                {
                    _crossed.Add(holder); // the account sets a new band once it has evaluated
                }
            }

            foreach (var holder in _crossed)
            {
                _bands.Remove(holder);
                AddUnbanded(holder);
            }

            _crossed.Clear();
        }

        // Built without awaiting, so that registrations and bands (which interleave) cannot change the sets meanwhile.
        var targets = gated ? _unbanded : holders;
        var calls = new Task<EvaluationReport?>[targets.Count];
        var i = 0;
        foreach (var holder in targets)
        {
            calls[i++] = TickAsync(holder, tick);
        }

        var reports = await Task.WhenAll(calls);
        if (tick.Evaluate)
        {
            observer.Evaluated(calls.Length);
        }

        return new TickDelivery(tick.Evaluate ? holders.Count : 0, [.. reports.OfType<EvaluationReport>()])
        {
            Delivered = tick.Evaluate ? calls.Length : 0,
        };
    }

    /// <summary>
    /// Delivers a tick to one holder. A holder that fails (its storage, a bug) never stops the step for the other
    /// holders of the market: the failure is logged and counted, and the account is left unbanded, so the next tick
    /// reaches it again.
    /// </summary>
    private async Task<EvaluationReport?> TickAsync(string holder, MarketTick tick)
    {
        try
        {
            return await GrainFactory.Ref<IAccountRiskGrain>(holder).OnTickAsync(tick);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            observer.EvaluationFailed(holder, tick.StepId);
            logger.LogError(e, "Account {Account} failed to take tick {Step}", holder, tick.StepId);
            return null;
        }
    }

    public Task<MarketTick?> SetBandAsync(string account, decimal? low, decimal? high, long baseSequence, AdlStandingView? standing = null)
    {
        var latest = _latest is { } t && t.Sequence > baseSequence ? t : null;
        if (!state.State.Holders.Contains(account))
        {
            return Task.FromResult(latest); // not (or no longer) a holder here: no band to keep
        }

        if (standing is not null)
        {
            SetStanding(account, standing);
        }

        if (low is { } lo && high is { } hi && (latest is null || new SafeBand(lo, hi).Contains(latest.Price)))
        {
            _bands[account] = new SafeBand(lo, hi);
            if (_unbanded.Remove(account) && _unbanded.Count * 4 < _unbandedPeak && _unbandedPeak > 64)
            {
                // Every holder starts unbanded (registration, reactivation): give that capacity back once most have bands.
                _unbanded.TrimExcess();
                _unbandedPeak = _unbanded.Count;
            }
        }
        else
        {
            _bands.Remove(account);
            AddUnbanded(account);
        }

        return Task.FromResult(latest);
    }

    public Task SetStandingAsync(string account, AdlStandingView? standing)
    {
        if (standing is null || !state.State.Holders.Contains(account))
        {
            _adl.Remove(account);
        }
        else
        {
            SetStanding(account, standing);
        }

        return Task.CompletedTask;
    }

    /// <summary>An account's versions only grow: a standing older than the one held (a late copy) changes nothing.</summary>
    private void SetStanding(string account, AdlStandingView standing)
    {
        if (_adl.Get(account) is not { } held || held.Version <= standing.Version)
        {
            _adl.Set(account, standing.ToDomain());
        }
    }

    public async Task<AdlCandidates> AdlTopAsync(AdlQuery query)
    {
        var (config, _) = await configs.GetAsync(query.ConfigVersion);
        var exclude = query.Exclude.ToHashSet(StringComparer.Ordinal);
        var top = _adl.Top(query.Market, query.Shorts, query.Quantity, new MarkBook(query.Marks), config, exclude);
        return new AdlCandidates(
            [.. top.Ranked.Select(r => new AdlCandidate(r.Account, r.Score, _adl.Get(r.Account)!.Version))],
            top.Exhausted,
            Unranked(exclude))
        {
            Holders = state.State.Holders.Count,
        };
    }

    public async Task<AdlPlace> AdlPlaceAsync(AdlPlaceQuery query)
    {
        var (config, _) = await configs.GetAsync(query.ConfigVersion);
        var (ahead, total) = _adl.Place(query.Market, query.Shorts, new AdlKey(query.Score, query.Account), new MarkBook(query.Marks), config, except: query.Account);
        return new AdlPlace(ahead, total);
    }

    /// <summary>Holders the index has no standing of: none once every holder has re-banded since this activation.</summary>
    private System.Collections.Immutable.ImmutableArray<string> Unranked(HashSet<string> exclude) =>
        _adl.Count >= state.State.Holders.Count
            ? []
            : [.. state.State.Holders.Where(h => !_adl.Contains(h) && !exclude.Contains(h)).Order(StringComparer.Ordinal)];

    private void AddUnbanded(string account)
    {
        if (_unbanded.Add(account) && _unbanded.Count > _unbandedPeak)
        {
            _unbandedPeak = _unbanded.Count;
        }
    }

    private async Task PersistAsync()
    {
        var mine = ++_changes;
        while (_persisted < mine)
        {
            if (_write is { } running)
            {
                await running;
                continue;
            }

            var upTo = _changes;
            _removed = false;
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
