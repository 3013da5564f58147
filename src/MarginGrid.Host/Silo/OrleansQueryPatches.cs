using Npgsql;

namespace MarginGrid.Host.Silo;

/// <summary>
/// Queries that Orleans 10.4.2's ADO.NET providers require but the vendored v10.2.2 PostgreSQL scripts lack
/// (dotnet/orleans#9125 added <c>CleanupDefunctSiloEntriesKey</c> after the tag). Applied by <c>db init</c>, idempotently.
/// </summary>
/// <remarks>This belongs in a MarginGrid.Storage migration under deploy/sql/margingrid; it lives here until one is added.</remarks>
public static class OrleansQueryPatches
{
    private const string Sql = """
        INSERT INTO OrleansQuery(QueryKey, QueryText)
        VALUES
        (
            'CleanupDefunctSiloEntriesKey',
            'DELETE FROM OrleansMembershipTable
            WHERE DeploymentId = @DeploymentId
                AND @DeploymentId IS NOT NULL
                AND IAmAliveTime < @IAmAliveTime
                AND Status != 3;
        ')
        ON CONFLICT (QueryKey) DO NOTHING;
        """;

    /// <summary>Adds the missing queries; returns how many were added (0 when the database already has them).</summary>
    public static async Task<int> ApplyAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(Sql, connection);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
