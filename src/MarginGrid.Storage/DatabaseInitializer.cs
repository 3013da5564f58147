using Npgsql;

namespace MarginGrid.Storage;

/// <summary>
/// Brings a PostgreSQL database to the schema MarginGrid needs: the Orleans ADO.NET tables and queries
/// (clustering, grain storage, reminders) from the scripts of <c>deploy/sql/orleans</c>, then MarginGrid's own
/// migrations from <c>deploy/sql/margingrid</c>, tracked in <c>margingrid_schema_version</c>.
/// </summary>
/// <remarks>
/// Idempotent and safe to run from several silos at once: everything runs in one transaction that first takes a
/// transaction-scoped advisory lock, so concurrent callers wait for the first and then find nothing left to do.
/// The Orleans scripts are not idempotent themselves; each is skipped when the table it creates already exists.
/// A MarginGrid migration that was applied with different content is an error: add a new migration instead.
/// The SQL is embedded in this assembly.
/// </remarks>
public static class DatabaseInitializer
{
    /// <summary>The <c>pg_advisory_xact_lock</c> key serializing schema changes ("MGSCHEMA" in ASCII).</summary>
    public const long AdvisoryLockKey = 0x4D47_5343_4845_4D41;

    private const int CommandTimeoutSeconds = 300;

    // Must stay identical to the definition in deploy/sql/margingrid/001-audit.sql.
    private const string SchemaVersionTableSql = """
        CREATE TABLE IF NOT EXISTS margingrid_schema_version
        (
            version    integer     NOT NULL PRIMARY KEY,
            name       text        NOT NULL,
            checksum   text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """;

    /// <summary>Initializes the database that <paramref name="connectionString"/> names.</summary>
    public static async Task<DatabaseInitialization> InitializeAsync(
        string connectionString, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        return await InitializeAsync(dataSource, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Initializes the database of <paramref name="dataSource"/>.</summary>
    public static async Task<DatabaseInitialization> InitializeAsync(
        NpgsqlDataSource dataSource, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var orleansScripts = SqlScripts.LoadOrleans();
        var migrations = SqlScripts.LoadMigrations();
        var applied = new List<string>();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        await using (var lockCommand = Command(connection, transaction, "SELECT pg_advisory_xact_lock(@key)"))
        {
            lockCommand.Parameters.AddWithValue("key", AdvisoryLockKey);
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var script in orleansScripts)
        {
            if (await TableExistsAsync(connection, transaction, script.SentinelTable, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            await ExecuteScriptAsync(connection, transaction, script.Sql, cancellationToken).ConfigureAwait(false);
            applied.Add(script.Name);
        }

        await ExecuteScriptAsync(connection, transaction, SchemaVersionTableSql, cancellationToken).ConfigureAwait(false);
        var done = await ReadAppliedMigrationsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
        foreach (var migration in migrations)
        {
            if (done.TryGetValue(migration.Version, out var existing))
            {
                if (!string.Equals(existing.Checksum, migration.Checksum, StringComparison.Ordinal))
                {
                    throw new InvalidOperationException(
                        $"migration {migration.Version} was applied as '{existing.Name}' with checksum {existing.Checksum}, "
                        + $"but this build carries '{migration.Name}' with checksum {migration.Checksum}: "
                        + "applied migrations must not change; add a new one");
                }

                continue;
            }

            await ExecuteScriptAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            await using var record = Command(connection, transaction,
                "INSERT INTO margingrid_schema_version (version, name, checksum) VALUES (@version, @name, @checksum)");
            record.Parameters.AddWithValue("version", migration.Version);
            record.Parameters.AddWithValue("name", migration.Name);
            record.Parameters.AddWithValue("checksum", migration.Checksum);
            await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            applied.Add(migration.Name);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new DatabaseInitialization(applied);
    }

    private static NpgsqlCommand Command(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql) =>
        new(sql, connection, transaction) { CommandTimeout = CommandTimeoutSeconds };

    private static async Task ExecuteScriptAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<bool> TableExistsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string table, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, transaction, "SELECT to_regclass(@table) IS NOT NULL");
        command.Parameters.AddWithValue("table", table);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    private static async Task<Dictionary<int, (string Name, string Checksum)>> ReadAppliedMigrationsAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<int, (string Name, string Checksum)>();
        await using var command = Command(connection, transaction,
            "SELECT version, name, checksum FROM margingrid_schema_version");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            applied.Add(reader.GetInt32(0), (reader.GetString(1), reader.GetString(2)));
        }

        return applied;
    }
}
