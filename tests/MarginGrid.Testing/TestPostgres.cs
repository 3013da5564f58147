using System.Globalization;
using System.Security.Cryptography;
using Npgsql;

namespace MarginGrid.Testing;

/// <summary>
/// The PostgreSQL server the tests run against, named by <c>MARGINGRID_TEST_PG</c> (an Npgsql connection string of a
/// user allowed to create databases; scripts/test.sh starts one). Tests never skip for want of it: they fail and say
/// how to get one.
/// </summary>
public static class TestPostgres
{
    public const string EnvironmentVariable = "MARGINGRID_TEST_PG";

    private const string HowToFix =
        "run the tests with ./scripts/test.sh, or start a throwaway server with "
        + "'eval \"$(scripts/pg.sh start)\"' (and 'scripts/pg.sh stop' afterwards)";

    /// <summary>The connection string of <c>MARGINGRID_TEST_PG</c>; throws with directions when it is not set.</summary>
    public static string AdminConnectionString
    {
        get
        {
            var value = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrWhiteSpace(value))
            {
                throw new InvalidOperationException(
                    $"{EnvironmentVariable} is not set: these tests need a real PostgreSQL. To get one, {HowToFix}.");
            }

            try
            {
                return new NpgsqlConnectionStringBuilder(value).ConnectionString;
            }
            catch (ArgumentException e)
            {
                throw new InvalidOperationException($"{EnvironmentVariable} is not a valid Npgsql connection string: {e.Message}", e);
            }
        }
    }

    /// <summary>
    /// Creates a fresh, empty database <c>&lt;prefix&gt;_&lt;random&gt;</c> on <paramref name="adminConnectionString"/>
    /// (default: the suite's server); disposing the result drops it.
    /// </summary>
    public static async Task<TestDatabase> CreateDatabaseAsync(string prefix = "mg_test", string? adminConnectionString = null)
    {
        var admin = adminConnectionString ?? AdminConnectionString;
        var name = prefix + "_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await ExecuteAdminAsync(admin, $"CREATE DATABASE {name}");
        var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        return new TestDatabase(name, connectionString, admin);
    }

    internal static async Task ExecuteAdminAsync(string admin, string sql)
    {
        // Unpooled: a pooled connection would not survive a server restart (the cluster tests restart their own).
        var unpooled = new NpgsqlConnectionStringBuilder(admin) { Pooling = false }.ConnectionString;
        NpgsqlConnection connection;
        try
        {
            connection = new NpgsqlConnection(unpooled);
            await connection.OpenAsync();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            var builder = new NpgsqlConnectionStringBuilder(admin);
            throw new InvalidOperationException(
                string.Create(CultureInfo.InvariantCulture,
                    $"PostgreSQL at host {builder.Host}, port {builder.Port}, database {builder.Database} is unreachable: {e.Message}. To get a local one, {HowToFix}."),
                e);
        }

        await using (connection)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// Waits until a backend of <paramref name="holder"/>'s database is blocked by <paramref name="holder"/>'s own
    /// (a statement waiting for a lock that its open transaction holds): <paramref name="pending"/>, the work expected
    /// to wait there. Fails when <paramref name="pending"/> completes first (it did not wait: <paramref name="what"/>
    /// says what that means) or nothing waits within 30 s. Checked every 10 ms.
    /// </summary>
    public static async Task WaitUntilBlockedByAsync(NpgsqlConnection holder, NpgsqlDataSource dataSource, Task pending, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (pending.IsCompleted)
            {
                throw new InvalidOperationException($"{what}: it completed ({pending.Status}) without waiting for the open transaction");
            }

            await using var waiting = dataSource.CreateCommand(
                "select count(*) from pg_stat_activity where datname = current_database() and $1 = any(pg_blocking_pids(pid))");
            waiting.Parameters.AddWithValue(holder.ProcessID);
            if ((long)(await waiting.ExecuteScalarAsync())! > 0)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{what}: it neither waited for the open transaction nor completed within 30 s");
            }

            await Task.Delay(10); // polling interval of a wait on a condition with a deadline
        }
    }
}

/// <summary>A database of its own for a test or a test class; dropped on dispose.</summary>
public sealed class TestDatabase(string name, string connectionString, string adminConnectionString) : IAsyncDisposable
{
    public string Name { get; } = name;

    public string ConnectionString { get; } = connectionString;

    public NpgsqlDataSource CreateDataSource() => NpgsqlDataSource.Create(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        // FORCE ends connections still open to it (pooled ones of data sources not yet disposed).
        await TestPostgres.ExecuteAdminAsync(adminConnectionString, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)");
    }
}
