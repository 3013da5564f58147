using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MarginGrid.Grains;

public static class GridServiceCollectionExtensions
{
    /// <summary>Registers what the grains need besides Orleans' own providers (storage "grid", stream "grid-events").</summary>
    public static IServiceCollection AddMarginGridGrains(this IServiceCollection services, Action<GridOptions>? configure = null)
    {
        services.AddOptions<GridOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
        }

        services.TryAddSingleton(GridClock.System);
        services.TryAddSingleton<IGridObserver>(NullGridObserver.Instance);
        services.TryAddSingleton<RiskConfigProvider>();
        services.TryAddSingleton<AccountServices>();
        return services;
    }
}
