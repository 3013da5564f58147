using MarginGrid.Domain;
using MarginGrid.Grains;

namespace MarginGrid.Host.Silo.Api;

/// <summary>The current validated risk configuration, for checking requests before they reach a grain.</summary>
public sealed class ConfigLookup(IGrainFactory grains)
{
    private Cached? _cached;

    /// <summary>The configuration, or null when none has been set yet.</summary>
    public async Task<RiskConfiguration?> GetAsync()
    {
        var snapshot = await grains.GetGrain<IRiskConfigGrain>(0).GetAsync();
        if (snapshot is null)
        {
            return null;
        }

        var cached = Volatile.Read(ref _cached);
        if (cached is not null && cached.Version == snapshot.Version)
        {
            return cached.Config;
        }

        var config = snapshot.ToDomain();
        Volatile.Write(ref _cached, new Cached(snapshot.Version, config));
        return config;
    }

    private sealed record Cached(long Version, RiskConfiguration Config);
}
