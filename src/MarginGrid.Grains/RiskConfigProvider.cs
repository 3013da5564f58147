using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// A silo-wide cache of the risk configuration, so that every account of the silo shares one validated
/// <see cref="RiskConfiguration"/> instead of holding its own copy. Refreshes from <see cref="IRiskConfigGrain"/>
/// when a caller needs a newer version than it has.
/// </summary>
public sealed class RiskConfigProvider(IGrainFactory grains)
{
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private volatile Loaded? _current;

    public long Version => _current?.Snapshot.Version ?? 0;

    /// <summary>The configuration at <paramref name="minVersion"/> or later; throws if none has been set.</summary>
    public async ValueTask<(RiskConfiguration Config, long Version)> GetAsync(long minVersion = 1)
    {
        var current = _current;
        if (current is not null && current.Snapshot.Version >= minVersion)
        {
            return (current.Config, current.Snapshot.Version);
        }

        await _refresh.WaitAsync().ConfigureAwait(false);
        try
        {
            current = _current;
            if (current is null || current.Snapshot.Version < minVersion)
            {
                var snapshot = await grains.GetGrain<IRiskConfigGrain>(0).GetAsync().ConfigureAwait(false)
                    ?? throw new InvalidOperationException("the risk configuration has not been set");
                if (current is null || snapshot.Version > current.Snapshot.Version)
                {
                    current = new Loaded(snapshot, snapshot.ToDomain());
                    _current = current;
                }
            }

            return (current.Config, current.Snapshot.Version);
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>Asks for anything newer than what is cached (after an unknown market or asset).</summary>
    public ValueTask<(RiskConfiguration Config, long Version)> RefreshAsync() => GetAsync(Version + 1);

    private sealed record Loaded(RiskConfigSnapshot Snapshot, RiskConfiguration Config);
}
