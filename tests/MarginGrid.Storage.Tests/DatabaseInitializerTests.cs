using Npgsql;

namespace MarginGrid.Storage.Tests;

/// <summary>Each test gets a database of its own: initialization is about what an empty database becomes.</summary>
public sealed class DatabaseInitializerTests
{
    private static readonly string[] s_allScripts =
    [
        "PostgreSQL-Main.sql",
        "PostgreSQL-Clustering.sql",
        "PostgreSQL-Persistence.sql",
        "PostgreSQL-Reminders.sql",
        "001-audit",
        "002-orleans-cleanup-defunct-silos",
        "003-audit-prices-config-quarantine",
        "004-orleansstorage-one-row-per-grain",
    ];

    [Fact]
    public async Task First_run_applies_every_script_in_order_and_a_second_run_nothing()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();

        var first = await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        var second = await DatabaseInitializer.InitializeAsync(database.ConnectionString);

        Assert.Equal(s_allScripts, first.AppliedScripts);
        Assert.False(first.WasUpToDate);
        Assert.Empty(second.AppliedScripts);
        Assert.True(second.WasUpToDate);
    }

    [Fact]
    public async Task Creates_the_Orleans_queries_and_tables_and_the_MarginGrid_schema()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(database.ConnectionString);

        await using var dataSource = database.CreateDataSource();
        foreach (var table in new[]
        {
            "orleansquery", "orleansmembershipversiontable", "orleansmembershiptable", "orleansstorage",
            "orleansreminderstable", "margingrid_audit", "margingrid_schema_version",
        })
        {
            Assert.True(await ScalarAsync<bool>(dataSource, $"SELECT to_regclass('{table}') IS NOT NULL"), $"table {table} missing");
        }

        // The queries Orleans' clustering, grain storage and reminder providers look up by key.
        var keys = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = dataSource.CreateCommand("SELECT querykey FROM orleansquery"))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                keys.Add(reader.GetString(0));
            }
        }

        string[] expected =
        [
            "CleanupDefunctSiloEntriesKey", "ClearStorageKey", "DeleteMembershipTableEntriesKey", "DeleteReminderRowKey", "DeleteReminderRowsKey",
            "DeleteStorageKey", "GatewaysQueryKey", "InsertMembershipKey", "InsertMembershipVersionKey",
            "MembershipReadAllKey", "MembershipReadRowKey", "ReadFromStorageKey", "ReadRangeRows1Key",
            "ReadRangeRows2Key", "ReadReminderRowKey",
            "ReadReminderRowsKey", "UpdateIAmAlivetimeKey", "UpdateMembershipKey", "UpsertReminderRowKey",
            "WriteToStorageKey",
        ];
        Assert.Equal(expected, keys.Order(StringComparer.Ordinal));

        var versions = await ScalarAsync<long>(dataSource, "SELECT count(*) FROM margingrid_schema_version WHERE version = 1 AND name = '001-audit'");
        Assert.Equal(1, versions);
    }

    [Fact]
    public async Task Migration_002_keeps_a_CleanupDefunctSiloEntriesKey_query_that_is_already_there()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        await using var dataSource = database.CreateDataSource();
        // A database initialized before migration 002 existed, whose query came from the former `db init` patch
        // (or from a newer Orleans clustering script).
        await ExecuteAsync(dataSource, """
            DELETE FROM margingrid_schema_version WHERE version = 2;
            UPDATE orleansquery SET querytext = 'already here' WHERE querykey = 'CleanupDefunctSiloEntriesKey';
            """);

        var upgraded = await DatabaseInitializer.InitializeAsync(database.ConnectionString);

        Assert.Equal(["002-orleans-cleanup-defunct-silos"], upgraded.AppliedScripts);
        Assert.Equal("already here", await ScalarAsync<string>(dataSource,
            "SELECT querytext FROM orleansquery WHERE querykey = 'CleanupDefunctSiloEntriesKey'"));
    }

    [Fact]
    public async Task Three_concurrent_initializations_apply_each_script_exactly_once()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        using var start = new Barrier(3);

        var results = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(30));
            return await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        })));

        var appliers = results.Where(r => !r.WasUpToDate).ToList();
        var applier = Assert.Single(appliers);
        Assert.Equal(s_allScripts, applier.AppliedScripts);
        Assert.Equal(2, results.Count(r => r.WasUpToDate));

        await using var dataSource = database.CreateDataSource();
        Assert.Equal(s_allScripts.Count(s => !s.EndsWith(".sql", StringComparison.Ordinal)), await ScalarAsync<long>(dataSource, "SELECT count(*) FROM margingrid_schema_version"));
    }

    [Fact]
    public async Task Applies_only_the_Orleans_scripts_whose_tables_are_missing()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        await using (var dataSource = database.CreateDataSource())
        {
            await ExecuteAsync(dataSource, """
                DROP TABLE orleansreminderstable;
                DROP FUNCTION upsert_reminder_row, delete_reminder_row;
                DELETE FROM orleansquery WHERE querykey IN
                    ('UpsertReminderRowKey', 'ReadReminderRowsKey', 'ReadReminderRowKey', 'ReadRangeRows1Key',
                     'ReadRangeRows2Key', 'DeleteReminderRowKey', 'DeleteReminderRowsKey');
                """);
        }

        var repaired = await DatabaseInitializer.InitializeAsync(database.ConnectionString);

        Assert.Equal(["PostgreSQL-Reminders.sql"], repaired.AppliedScripts);
    }

    [Fact]
    public async Task Refuses_a_database_whose_applied_migration_differs_from_the_embedded_one()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        await using (var dataSource = database.CreateDataSource())
        {
            await ExecuteAsync(dataSource, "UPDATE margingrid_schema_version SET checksum = 'edited' WHERE version = 1");
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => DatabaseInitializer.InitializeAsync(database.ConnectionString));

        Assert.Contains("001-audit", error.Message, StringComparison.Ordinal);
        Assert.Contains("must not change", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failing_initialization_leaves_nothing_behind()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await using (var dataSource = database.CreateDataSource())
        {
            // The clustering script runs (its sentinel table is missing) and fails on this table, after the main
            // script has already run in the same transaction.
            await ExecuteAsync(dataSource, "CREATE TABLE orleansmembershipversiontable (x int)");
        }

        var error = await Assert.ThrowsAsync<PostgresException>(() => DatabaseInitializer.InitializeAsync(database.ConnectionString));
        Assert.Equal(PostgresErrorCodes.DuplicateTable, error.SqlState);

        await using (var dataSource = database.CreateDataSource())
        {
            Assert.False(await ScalarAsync<bool>(dataSource, "SELECT to_regclass('orleansquery') IS NOT NULL"));
            Assert.False(await ScalarAsync<bool>(dataSource, "SELECT to_regclass('margingrid_audit') IS NOT NULL"));
        }
    }

    /// <summary>
    /// A database from before migration 004 in which a grain already has two rows (two concurrent creations): the
    /// migration cannot tell which is right, so it stops naming the count and changes nothing (no index, not recorded,
    /// both rows kept); once the operator deleted one, it applies.
    /// </summary>
    [Fact]
    public async Task Migration_004_refuses_a_grain_with_two_rows_and_applies_once_they_are_resolved()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        await using var dataSource = database.CreateDataSource();
        Assert.True(await ScalarAsync<bool>(dataSource, "SELECT to_regclass('ux_orleansstorage_grain') IS NOT NULL"));

        // Back to the state before 004, then a grain created twice, as the vendored function allows.
        await ExecuteAsync(dataSource, "DROP INDEX ux_orleansstorage_grain; DELETE FROM margingrid_schema_version WHERE version = 4");
        const string Columns = "INSERT INTO orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version)";
        await ExecuteAsync(dataSource, Columns + @" VALUES (11, 0, 0, 22, 'account', 'acct-1', 'svc', '\x01', now(), 1), (33, 0, 0, 22, 'account', 'acct-2', 'svc', '\x01', now(), 1)");
        await ExecuteAsync(dataSource, Columns + @" VALUES (11, 0, 0, 22, 'account', 'acct-1', 'svc', '\x02', now(), 2)");

        var error = await Assert.ThrowsAsync<PostgresException>(() => DatabaseInitializer.InitializeAsync(database.ConnectionString));
        Assert.Contains("OrleansStorage holds 1 grain(s) with more than one row", error.MessageText, StringComparison.Ordinal);
        Assert.Contains("docs/operations.md", error.Hint, StringComparison.Ordinal);
        Assert.False(await ScalarAsync<bool>(dataSource, "SELECT to_regclass('ux_orleansstorage_grain') IS NOT NULL"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource, "SELECT count(*) FROM margingrid_schema_version WHERE version = 4"));
        Assert.Equal(3L, await ScalarAsync<long>(dataSource, "SELECT count(*) FROM orleansstorage"));

        await ExecuteAsync(dataSource, "DELETE FROM orleansstorage WHERE grainidextensionstring = 'acct-1' AND version = 1");
        var applied = await DatabaseInitializer.InitializeAsync(database.ConnectionString);
        Assert.Equal(["004-orleansstorage-one-row-per-grain"], applied.AppliedScripts);
        Assert.True(await ScalarAsync<bool>(dataSource, "SELECT to_regclass('ux_orleansstorage_grain') IS NOT NULL"));
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }
}
