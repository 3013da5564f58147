using System.Net;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Host.Silo.Metrics;
using MarginGrid.Host.Silo.Security;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Prometheus;

namespace MarginGrid.Host.Silo;

/// <summary><c>margingrid silo</c>: one cluster node, an Orleans silo and the HTTP API in one process.</summary>
public static class SiloApp
{
    public static WebApplication Build(IReadOnlyDictionary<string, string?> overrides)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddInMemoryCollection(overrides);
        var settings = SiloSettings.From(builder.Configuration);
        var keys = ApiKeys.From(builder.Configuration);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
            k.Listen(IPAddress.Any, settings.HttpPort);
        });

        var services = builder.Services;
        services.AddSingleton<IGridObserver, PrometheusGridObserver>();
        services.AddMarginGridGrains(o => builder.Configuration.GetSection(GridOptions.Section).Bind(o));
        services.AddSingleton(keys);
        services.AddSingleton<ConfigLookup>();
        services.AddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddMarginGridRateLimits(builder.Configuration);
        services.AddHealthChecks().AddCheck<SiloReadiness>("silo", tags: [SiloReadiness.Tag]);
        services.AddOpenApi();
        builder.UseOrleans(silo => silo.ConfigureGrid(settings));

        var app = builder.Build();
        WarnAboutDevelopmentModes(app.Logger, settings, keys);

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRateLimiter();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(SiloReadiness.Tag) });
        app.MapMetrics("/metrics");
        app.MapOpenApi();
        app.MapMarginGridApi();
        return app;
    }

    private static void WarnAboutDevelopmentModes(ILogger logger, SiloSettings settings, ApiKeys keys)
    {
        if (settings.ConnectionString is null)
        {
            logger.LogWarning(
                "NOTHING IS DURABLE: no ConnectionStrings:MarginGrid is configured, so this silo runs alone with in-memory "
                + "clustering and grain storage. Every account, position and balance is lost when it stops.");
        }

        if (!keys.Enabled)
        {
            logger.LogWarning(
                "NO API KEYS ARE CONFIGURED (MarginGrid:ApiKeys): every request is allowed, with every role. "
                + "Use this only for local development.");
        }

        logger.LogInformation(
            "Silo {ClusterId}/{ServiceId} on {Address}: silo port {SiloPort}, gateway port {GatewayPort}, HTTP port {HttpPort}, storage {Storage}",
            settings.ClusterId, settings.ServiceId, settings.AdvertisedIP, settings.SiloPort, settings.GatewayPort, settings.HttpPort,
            settings.ConnectionString is null ? "in-memory" : "PostgreSQL");
    }
}
