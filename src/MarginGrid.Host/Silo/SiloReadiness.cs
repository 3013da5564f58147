using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MarginGrid.Host.Silo;

/// <summary>Ready once every hosted service, the Orleans silo included, has started (the silo has joined its cluster), until shutdown begins.</summary>
public sealed class SiloReadiness(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public const string Tag = "ready";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            lifetime.ApplicationStopping.IsCancellationRequested ? HealthCheckResult.Unhealthy("the silo is stopping")
            : lifetime.ApplicationStarted.IsCancellationRequested ? HealthCheckResult.Healthy("the silo is up")
            : HealthCheckResult.Unhealthy("the silo is starting"));
}
