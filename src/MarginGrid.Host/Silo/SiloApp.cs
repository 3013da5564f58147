using System.Net;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Events;
using MarginGrid.Host.Silo.Metrics;
using MarginGrid.Host.Silo.Security;
using MarginGrid.Storage;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Orleans.Dashboard;

namespace MarginGrid.Host.Silo;

/// <summary><c>margingrid silo</c>: one cluster node, an Orleans silo and the HTTP API in one process.</summary>
public static class SiloApp
{
    /// <summary>Where the Orleans Dashboard is served (admin role).</summary>
    public const string DashboardPath = "/dashboard";

    public static WebApplication Build(IReadOnlyDictionary<string, string?> overrides)
    {
        MetricsEndpoint.ConfigureDefaultRegistry();
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
        var audit = AuditSettings.From(builder.Configuration);
        services.AddSingleton(audit);
        services.AddSingleton(sp => new AuditTrail(
            settings.ConnectionString is not null,
            $"{settings.AdvertisedIP}:{settings.SiloPort}",
            audit,
            sp.GetRequiredService<ILogger<AuditTrail>>()));
        services.AddSingleton<PrometheusGridObserver>(_ => new PrometheusGridObserver());
        services.AddSingleton<IGridObserver, SiloGridObserver>();
        if (settings.ConnectionString is { } connectionString)
        {
            services.AddSingleton(_ => AuditLog.Create(connectionString));
            services.AddHostedService<AuditWriter>();
        }

        services.AddMarginGridGrains(o =>
        {
            builder.Configuration.GetSection(GridOptions.Section).Bind(o);
            o.AuditOutbox |= settings.ConnectionString is not null; // an audit trail confirms what it stored (AccountAudit)
        });
        services.AddSingleton(keys);
        services.AddSingleton<ConfigLookup>();
        services.AddSingleton(TimeProvider.System);
        services.AddProblemDetails();
        services.AddUnavailableProblems(); // 503 + Retry-After when PostgreSQL or a cluster node is unavailable (Problems.cs)
        services.ConfigureHttpJsonOptions(o => ApiJson.Configure(o.SerializerOptions));
        services.AddMarginGridRateLimits(builder.Configuration);
        var health = services.AddHealthChecks()
            .AddCheck<SiloReadiness>("silo", tags: [SiloReadiness.Tag])
            .AddCheck<MarketSettlementReadiness>("markets", tags: [SiloReadiness.Tag]); // degraded (200) naming markets that cannot settle
        if (settings.ConnectionString is { } readinessConnection)
        {
            // /health/ready answers 503 while PostgreSQL is away.
            services.AddSingleton(_ => new PostgresReadiness(readinessConnection));
            health.AddCheck<PostgresReadiness>("postgresql", tags: [SiloReadiness.Tag]);
        }

        services.AddSingleton(sp => new PriceClock(
            sp.GetRequiredService<GridClock>().Time, // the engine's clock
            builder.Configuration.GetValue(PriceClock.SkewKey, PriceClock.DefaultSkew)));
        services.AddOpenApi();
        builder.UseOrleans(silo => silo.ConfigureGrid(settings));
        // After UseOrleans: hosted services start in order, so the silo is up when the hub subscribes.
        services.AddSingleton<GridEventHub>();
        services.AddHostedService(sp => sp.GetRequiredService<GridEventHub>());

        var app = builder.Build();
        WarnAboutDevelopmentModes(app.Logger, settings, keys);

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRateLimiter();
        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = c => c.Tags.Contains(SiloReadiness.Tag),
            ResponseWriter = MarketSettlementReadiness.WriteAsync,
        });
        app.MapMarginGridMetrics();
        app.MapOpenApi();
        app.MapMarginGridApi();
        // The Orleans Dashboard (page, assets and its JSON API) for admins only, checked like every other admin route;
        // a browser presents the key as Authorization: Bearer (e.g. through a proxy that adds it). Not in the OpenAPI document.
        app.MapOrleansDashboard(routePrefix: DashboardPath).RequireApiRole(ApiRole.Admin).ExcludeFromDescription();
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

        foreach (var trader in keys.All.Where(k => k.Role == ApiRole.Trader && k.Accounts.Count == 0))
        {
            logger.LogWarning(
                "The trader key {Name} has no {Section}:{Name}:Accounts: it may act on no account", trader.Name, ApiKeys.Section, trader.Name);
        }

        if (settings.ConnectionString is not null)
        {
            logger.LogInformation("Audit trail: every command and event is appended to margingrid_audit");
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
