using MarginGrid.Domain;
using MarginGrid.Grains;

namespace MarginGrid.Host.Silo.Api;

/// <summary>The current validated risk configuration, for checking requests before they reach a grain.</summary>
public sealed class ConfigLookup(IGrainFactory grains)
{
    private ConfigView? _cached;

    /// <summary>The configuration, or null when none has been set yet.</summary>
    public async Task<RiskConfiguration?> GetAsync() => (await GetViewAsync())?.Config;

    /// <summary>The configuration with its snapshot (limits included), or null when none has been set yet.</summary>
    public async Task<ConfigView?> GetViewAsync()
    {
        var snapshot = await grains.GetGrain<IRiskConfigGrain>(0).GetAsync();
        if (snapshot is null)
        {
            return null;
        }

        var cached = Volatile.Read(ref _cached);
        if (cached is not null && cached.Snapshot.Version == snapshot.Version)
        {
            return cached;
        }

        var view = new ConfigView(snapshot.ToDomain(), snapshot);
        Volatile.Write(ref _cached, view);
        return view;
    }
}

/// <summary>A validated configuration and the snapshot it came from, with the bounds of its markets and assets.</summary>
public sealed record ConfigView(RiskConfiguration Config, RiskConfigSnapshot Snapshot)
{
    /// <summary>The bounds of <paramref name="market"/> (the defaults when none are configured).</summary>
    public MarketLimits LimitsOf(string market) => ConfigLimits.Of(Snapshot.Markets.FirstOrDefault(m => m.Symbol == market));

    /// <summary>The largest quantity of <paramref name="asset"/> in a command or balance.</summary>
    public decimal MaxQuantityOf(string asset) =>
        Snapshot.Collateral.FirstOrDefault(c => c.Asset == asset)?.MaxQuantity ?? Limits.DefaultMaxQuantity;
}

/// <summary>Wire limits to the domain's.</summary>
public static class ConfigLimits
{
    public static MarketLimits Of(MarketConfig? market) =>
        market?.Limits is { } l ? new MarketLimits(l.MaxPrice, l.MaxPositionSize, l.MaxNotional) : MarketLimits.Default;
}
