using System.Security.Cryptography;
using Npgsql;

namespace MarginGrid.Api.Tests;

/// <summary>
/// The PostgreSQL server named by <c>MARGINGRID_TEST_PG</c>. Tests never skip for want of it: they fail and say how
/// to get one.
/// </summary>
public static class TestPostgres
{
    public const string EnvironmentVariable = "MARGINGRID_TEST_PG";

    public static string AdminConnectionString =>
        Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{EnvironmentVariable} is not set: these tests need a real PostgreSQL. Run them with ./scripts/test.sh, "
                + "or start one with 'eval \"$(scripts/pg.sh start)\"' (and 'scripts/pg.sh stop' afterwards).");

    /// <summary>Creates an empty database of its own; returns its connection string.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var admin = AdminConnectionString;
        var name = "mg_api_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        await ExecuteAsync(admin, $"CREATE DATABASE {name}");
        return new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public static async Task DropDatabaseAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await ExecuteAsync(AdminConnectionString, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    private static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
