using System.Diagnostics;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

/// <summary>
/// A silo-wide cache of the risk configuration, so that every account of the silo shares one validated
/// <see cref="RiskConfiguration"/> instead of holding its own copy. Refreshes from <see cref="IRiskConfigGrain"/>
/// when a caller needs a newer version than it has, and when its copy is older than
/// <see cref="GridOptions.ConfigMaxAge"/>: a change made through another silo reaches every market step and command of
/// this one within that time, even when no tick carries the new version here.
/// </summary>
public sealed class RiskConfigProvider(IGrainFactory grains, IOptions<GridOptions>? options = null, ILogger<RiskConfigProvider>? logger = null)
{
    private readonly SemaphoreSlim _refresh = new(1, 1);
    private readonly TimeSpan _maxAge = options?.Value.ConfigMaxAge ?? TimeSpan.FromSeconds(1);
    private readonly ILogger _logger = logger ?? NullLogger<RiskConfigProvider>.Instance;
    private volatile Loaded? _current;

    public long Version => _current?.Snapshot.Version ?? 0;

    /// <summary>The configuration at <paramref name="minVersion"/> or later, no older than the maximum age; throws if none has been set.</summary>
    public async ValueTask<(RiskConfiguration Config, long Version)> GetAsync(long minVersion = 1)
    {
        var current = _current;
        if (current is not null && current.Snapshot.Version >= minVersion && Fresh(current))
        {
            return (current.Config, current.Snapshot.Version);
        }

        await _refresh.WaitAsync().ConfigureAwait(false);
        try
        {
            current = _current;
            if (current is null || current.Snapshot.Version < minVersion || !Fresh(current))
            {
                RiskConfigSnapshot? snapshot;
                try
                {
                    snapshot = await grains.GetGrain<IRiskConfigGrain>(0).GetAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException && current is not null && current.Snapshot.Version >= minVersion)
                {
                    // Only the age asked for a refresh: keep deciding with the copy we have, and try again next time.
                    _logger.LogWarning(e, "The risk configuration could not be refreshed; version {Version} stays in use", current.Snapshot.Version);
                    return (current.Config, current.Snapshot.Version);
                }

                if (snapshot is null)
                {
                    throw new InvalidOperationException("the risk configuration has not been set");
                }

                current = current is null || snapshot.Version > current.Snapshot.Version
                    ? new Loaded(snapshot, snapshot.ToDomain(), Stopwatch.GetTimestamp())
                    : current with { CheckedAt = Stopwatch.GetTimestamp() };
                _current = current;
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

    private bool Fresh(Loaded loaded) => Stopwatch.GetElapsedTime(loaded.CheckedAt) <= _maxAge;

    private sealed record Loaded(RiskConfigSnapshot Snapshot, RiskConfiguration Config, long CheckedAt);
}
