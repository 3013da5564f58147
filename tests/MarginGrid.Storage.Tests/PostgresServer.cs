using System.Globalization;
using System.Security.Cryptography;
using Npgsql;

namespace MarginGrid.Storage.Tests;

/// <summary>
/// The PostgreSQL server the tests run against, named by <c>MARGINGRID_TEST_PG</c> (an Npgsql connection string to
/// a database of a user allowed to create databases). Tests never skip for want of it: they fail and say how to get one.
/// </summary>
public static class PostgresServer
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

    /// <summary>Creates a fresh, empty database <c>mg_test_&lt;random&gt;</c>; disposing the result drops it.</summary>
    public static async Task<TestDatabase> CreateDatabaseAsync()
    {
        var admin = AdminConnectionString;
        var name = "mg_test_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await ExecuteAdminAsync(admin, $"CREATE DATABASE {name}");
        var connectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
        return new TestDatabase(name, connectionString, admin);
    }

    internal static async Task ExecuteAdminAsync(string admin, string sql)
    {
        NpgsqlConnection connection;
        try
        {
            connection = new NpgsqlConnection(admin);
            await connection.OpenAsync();
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            var builder = new NpgsqlConnectionStringBuilder(admin);
            throw new InvalidOperationException(
                string.Create(CultureInfo.InvariantCulture,
                    $"PostgreSQL named by {EnvironmentVariable} (host {builder.Host}, port {builder.Port}, database {builder.Database}) is unreachable: {e.Message}. To get a local one, {HowToFix}."),
                e);
        }

        await using (connection)
        {
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
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
        await PostgresServer.ExecuteAdminAsync(adminConnectionString, $"DROP DATABASE IF EXISTS {Name} WITH (FORCE)");
    }
}

/// <summary>xunit class fixture: one fresh database for the test class, initialized by <see cref="DatabaseInitializer"/>.</summary>
public sealed class InitializedDatabaseFixture : IAsyncLifetime
{
    private TestDatabase? _database;

    public TestDatabase Database => _database ?? throw new InvalidOperationException("fixture not initialized");

    public NpgsqlDataSource DataSource { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _database = await PostgresServer.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(_database.ConnectionString);
        DataSource = _database.CreateDataSource();
    }

    public async Task DisposeAsync()
    {
        if (DataSource is not null)
        {
            await DataSource.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}
