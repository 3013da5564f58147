using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace MarginGrid.Host.Silo;

/// <summary>
/// Ready only while PostgreSQL answers (<c>SELECT 1</c> within <see cref="Timeout"/>): a silo whose database is away
/// can accept no command durably, so the load balancer should send none to it. Registered only with a connection string.
/// </summary>
public sealed class PostgresReadiness(string connectionString) : IHealthCheck, IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    private readonly NpgsqlDataSource _dataSource = new NpgsqlDataSourceBuilder(
        new NpgsqlConnectionStringBuilder(connectionString) { Timeout = (int)Timeout.TotalSeconds, Pooling = true, MaxPoolSize = 2 }.ConnectionString)
        .Build();

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(Timeout);
            await using var command = _dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(deadline.Token);
            return HealthCheckResult.Healthy("PostgreSQL answers");
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL does not answer", e);
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
