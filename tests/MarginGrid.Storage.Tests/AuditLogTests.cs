using System.Text.Json.Nodes;
using Npgsql;

namespace MarginGrid.Storage.Tests;

/// <summary>
/// The audit log against a database of this class's own. Tests share it, so each uses its own account and command
/// ids (command ids are unique per kind and type across all accounts).
/// </summary>
public sealed class AuditLogTests(InitializedDatabaseFixture fixture) : IClassFixture<InitializedDatabaseFixture>
{
    private readonly AuditLog _log = new(fixture.DataSource);

    [Fact]
    public async Task An_appended_record_reads_back_with_every_field()
    {
        var account = NewAccount();
        var record = new AuditRecord(AuditKind.Event, "MarginCall", account, """{"equity": "1250.50", "mark": {"BTC-PERP": 64000.5}}""")
        {
            CommandId = "tick-42",
            Market = "BTC-PERP",
            GrainVersion = 7,
            Silo = "silo-1",
        };
        var before = await ScalarAsync<DateTime>("SELECT now()");

        Assert.True(await _log.AppendAsync(record));
        var stored = Assert.Single(await _log.ReadAsync(account));

        AssertSame(record, stored.Record);
        Assert.True(stored.Id > 0);
        Assert.Equal(TimeSpan.Zero, stored.RecordedAt.Offset);
        Assert.InRange(stored.RecordedAt.UtcDateTime, before, before.AddMinutes(5));
    }

    [Fact]
    public async Task Optional_fields_read_back_as_null()
    {
        var account = NewAccount();
        var record = new AuditRecord(AuditKind.Command, "Deposit", account, """{"amount":"100"}""");

        Assert.True(await _log.AppendAsync(record));

        var stored = Assert.Single(await _log.ReadAsync(account));
        AssertSame(record, stored.Record);
        Assert.Null(stored.Record.CommandId);
        Assert.Null(stored.Record.Market);
        Assert.Null(stored.Record.GrainVersion);
        Assert.Null(stored.Record.Silo);
    }

    [Fact]
    public async Task The_same_command_twice_is_stored_once()
    {
        var account = NewAccount();
        var fill = new AuditRecord(AuditKind.Command, "Fill", account, """{"qty":"1"}""") { CommandId = NewId("fill") };

        Assert.True(await _log.AppendAsync(fill));
        Assert.False(await _log.AppendAsync(fill));
        Assert.False(await _log.AppendAsync(fill with { PayloadJson = """{"qty":"2"}""" }));

        var stored = Assert.Single(await _log.ReadAsync(account));
        Assert.Equal("""{"qty": "1"}""", stored.Record.PayloadJson);
    }

    [Fact]
    public async Task A_command_id_is_unique_per_kind_and_type_only()
    {
        var account = NewAccount();
        var fill = new AuditRecord(AuditKind.Command, "Fill", account, "{}") { CommandId = NewId("c") };

        Assert.True(await _log.AppendAsync(fill));
        Assert.True(await _log.AppendAsync(fill with { Type = "Deposit" }));
        Assert.True(await _log.AppendAsync(fill with { Kind = AuditKind.Event }));

        Assert.Equal(3, (await _log.ReadAsync(account)).Count);
    }

    [Fact]
    public async Task Records_without_command_id_are_all_kept()
    {
        var account = NewAccount();
        var tick = new AuditRecord(AuditKind.Event, "MarginCall", account, "{}");

        Assert.True(await _log.AppendAsync(tick));
        Assert.True(await _log.AppendAsync(tick));

        Assert.Equal(2, (await _log.ReadAsync(account)).Count);
    }

    [Fact]
    public async Task A_batch_is_stored_in_order_skipping_commands_already_stored_or_repeated()
    {
        var account = NewAccount();
        var (f1, f2, f3) = (NewId("f1"), NewId("f2"), NewId("f3"));
        Assert.True(await _log.AppendAsync(Fill(account, f1)));

        var stored = await _log.AppendManyAsync(
        [
            Fill(account, f1),
            Fill(account, f2),
            new AuditRecord(AuditKind.Event, "Liquidation", account, """{"step":1}""") { Market = "ETH-PERP", GrainVersion = 12 },
            Fill(account, f2),
            Fill(account, f3),
        ]);

        Assert.Equal(3, stored);
        var trail = await _log.ReadAsync(account);
        Assert.Equal([$"Fill:{f1}", $"Fill:{f2}", "Liquidation:", $"Fill:{f3}"], trail.Select(r => $"{r.Record.Type}:{r.Record.CommandId}"));
        Assert.Equal(trail.Select(r => r.Id).Order(), trail.Select(r => r.Id));
        Assert.Equal(12, trail[2].Record.GrainVersion);
        Assert.Equal("ETH-PERP", trail[2].Record.Market);
        Assert.Null(trail[1].Record.Market);
    }

    [Fact]
    public async Task An_empty_batch_stores_nothing()
    {
        Assert.Equal(0, await _log.AppendManyAsync([]));
    }

    [Fact]
    public async Task A_batch_with_invalid_JSON_stores_nothing()
    {
        var account = NewAccount();

        var error = await Assert.ThrowsAsync<PostgresException>(
            () => _log.AppendManyAsync([Fill(account, NewId("ok")), Fill(account, NewId("bad")) with { PayloadJson = "{not json" }]));

        Assert.Equal(PostgresErrorCodes.InvalidTextRepresentation, error.SqlState);

        Assert.Empty(await _log.ReadAsync(account));
    }

    [Fact]
    public async Task Reading_pages_by_id_and_sees_only_the_account()
    {
        var account = NewAccount();
        var other = NewAccount();
        var ids = Enumerable.Range(1, 5).Select(i => NewId($"p{i}")).ToArray();
        var otherId = NewId("o");
        Assert.Equal(6, await _log.AppendManyAsync([.. ids.Select(id => Fill(account, id)), Fill(other, otherId)]));

        var firstPage = await _log.ReadAsync(account, limit: 2);
        var secondPage = await _log.ReadAsync(account, afterId: firstPage[^1].Id, limit: 2);
        var lastPage = await _log.ReadAsync(account, afterId: secondPage[^1].Id, limit: 2);

        Assert.Equal([2, 2, 1], [firstPage.Count, secondPage.Count, lastPage.Count]);
        Assert.Equal(ids, firstPage.Concat(secondPage).Concat(lastPage).Select(r => r.Record.CommandId));
        Assert.All(firstPage.Concat(secondPage).Concat(lastPage), r => Assert.Equal(account, r.Record.AccountId));
        Assert.Equal([otherId], (await _log.ReadAsync(other)).Select(r => r.Record.CommandId));
    }

    [Theory]
    [InlineData("UPDATE margingrid_audit SET type = 'Changed' WHERE account_id = @account")]
    [InlineData("UPDATE margingrid_audit SET type = 'Changed' WHERE false")]
    [InlineData("DELETE FROM margingrid_audit WHERE account_id = @account")]
    [InlineData("DELETE FROM margingrid_audit WHERE false")]
    [InlineData("TRUNCATE margingrid_audit")]
    public async Task The_audit_table_refuses_changes_and_removals(string sql)
    {
        var account = NewAccount();
        var record = Fill(account, NewId("immutable"));
        Assert.True(await _log.AppendAsync(record));

        await using var command = fixture.DataSource.CreateCommand(sql);
        if (sql.Contains("@account", StringComparison.Ordinal))
        {
            command.Parameters.AddWithValue("account", account);
        }

        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());

        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        Assert.Contains("append-only", error.MessageText, StringComparison.Ordinal);
        AssertSame(record, Assert.Single(await _log.ReadAsync(account)).Record);
    }

    [Fact]
    public async Task Invalid_records_are_rejected_before_reaching_the_database()
    {
        var account = NewAccount();

        await Assert.ThrowsAsync<ArgumentException>(() => _log.AppendAsync(new AuditRecord(AuditKind.Command, "", account, "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => _log.AppendAsync(new AuditRecord(AuditKind.Command, "Fill", "", "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => _log.AppendAsync(new AuditRecord((AuditKind)7, "Fill", account, "{}")));
        await Assert.ThrowsAsync<ArgumentException>(() => _log.AppendManyAsync([Fill(account, NewId("a")), new AuditRecord(AuditKind.Command, "Fill", account, null!)]));

        Assert.Empty(await _log.ReadAsync(account));
    }

    [Fact]
    public async Task A_log_created_from_a_connection_string_owns_its_pool()
    {
        var account = NewAccount();
        var id = NewId("own");
        await using (var log = AuditLog.Create(fixture.Database.ConnectionString))
        {
            Assert.True(await log.AppendAsync(Fill(account, id)));
        }

        Assert.Equal(id, Assert.Single(await _log.ReadAsync(account)).Record.CommandId);
    }

    private static AuditRecord Fill(string account, string commandId) =>
        new(AuditKind.Command, "Fill", account, """{"qty":"1"}""") { CommandId = commandId };

    private static string NewAccount() => NewId("acct");

    private static string NewId(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    /// <summary>Equal records, the payloads compared as JSON (jsonb normalizes whitespace and key order).</summary>
    private static void AssertSame(AuditRecord expected, AuditRecord actual)
    {
        Assert.True(
            JsonNode.DeepEquals(JsonNode.Parse(expected.PayloadJson), JsonNode.Parse(actual.PayloadJson)),
            $"payload {actual.PayloadJson} differs from {expected.PayloadJson}");
        Assert.Equal(expected with { PayloadJson = actual.PayloadJson }, actual);
    }

    private async Task<T> ScalarAsync<T>(string sql)
    {
        await using var command = fixture.DataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
