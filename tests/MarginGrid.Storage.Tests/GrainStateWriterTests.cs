using Npgsql;
using Xunit;

namespace MarginGrid.Storage.Tests;

/// <summary>
/// <see cref="GrainStateWriter"/> against a real PostgreSQL with Orleans' schema: grouped writes keep each write's
/// fencing, a bad write fails alone, and a write is reported only once committed.
/// </summary>
public sealed class GrainStateWriterTests(InitializedDatabaseFixture fixture) : IClassFixture<InitializedDatabaseFixture>
{
    private static int s_service;

    /// <summary>Each test writes under a service id of its own, so the tests of the class share the database.</summary>
    private readonly string _service = $"writer-test-{Interlocked.Increment(ref s_service)}";

    private async Task<string> WriteQueryAsync()
    {
        await using var command = fixture.DataSource.CreateCommand(
            "select querytext from orleansquery where querykey = 'WriteToStorageKey'");
        return (string)(await command.ExecuteScalarAsync() ?? throw new InvalidOperationException("no WriteToStorageKey"));
    }

    private async Task<GrainStateWriter> WriterAsync(GrainStateWriterOptions options, List<int>? batches = null) =>
        new(fixture.DataSource, await WriteQueryAsync(), options, size =>
        {
            if (batches is not null)
            {
                lock (batches)
                {
                    batches.Add(size);
                }
            }
        });

    private GrainStateRow Row(string key, int? version, byte[] payload, string type = "test-state") =>
        new(key.GetHashCode(StringComparison.Ordinal), 0, 0, 7, type, key, _service, version, payload);

    /// <summary>The stored payload and version of <paramref name="key"/>, read on a connection of its own.</summary>
    private async Task<(byte[] Payload, int Version)?> StoredAsync(string key)
    {
        await using var command = fixture.DataSource.CreateCommand(
            "select payloadbinary, version from orleansstorage where serviceid = $1 and grainidextensionstring = $2");
        command.Parameters.AddWithValue(_service);
        command.Parameters.AddWithValue(key);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? ((byte[])reader[0], reader.GetInt32(1)) : null;
    }

    /// <summary>
    /// Locks <paramref name="key"/>'s row in a transaction of its own until disposed, and waits until a write of it is
    /// queued behind that lock: the writer's only batch in flight is then held there, and the writes that follow queue
    /// up into the next batch.
    /// </summary>
    private async Task<NpgsqlConnection> HoldAsync(string key, GrainStateWriter writer, int version)
    {
        var holder = await fixture.DataSource.OpenConnectionAsync();
        await using (var begin = new NpgsqlCommand("begin", holder))
        {
            await begin.ExecuteNonQueryAsync();
        }

        await using (var lockRow = new NpgsqlCommand(
            "select 1 from orleansstorage where serviceid = $1 and grainidextensionstring = $2 for update", holder))
        {
            lockRow.Parameters.AddWithValue(_service);
            lockRow.Parameters.AddWithValue(key);
            Assert.Equal(1, await lockRow.ExecuteScalarAsync());
        }

        _held = writer.WriteAsync(Row(key, version, [0]));
        await TestPostgres.WaitUntilBlockedByAsync(holder, fixture.DataSource, _held, "the write of the held row did not wait for it");
        return holder;
    }

    private Task<int?> _held = Task.FromResult<int?>(null);

    private async Task AssertStoredAsync(string key, byte[] payload, int version)
    {
        var stored = await StoredAsync(key);
        Assert.NotNull(stored);
        Assert.Equal(payload, stored.Value.Payload);
        Assert.Equal(version, stored.Value.Version);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public async Task Concurrent_writes_go_in_fewer_round_trips_and_each_is_committed_at_its_version(int concurrent)
    {
        var batches = new List<int>();
        await using var writer = await WriterAsync(new GrainStateWriterOptions { ConcurrentWriteBatches = concurrent, WriteBatchSize = 64 }, batches);
        const int Grains = 300;

        var created = await Task.WhenAll(Enumerable.Range(0, Grains).Select(i => writer.WriteAsync(Row($"g{i}", null, [(byte)i]))));
        Assert.All(created, v => Assert.Equal(1, v));
        var updated = await Task.WhenAll(Enumerable.Range(0, Grains).Select(i => writer.WriteAsync(Row($"g{i}", 1, [(byte)i, 2]))));
        Assert.All(updated, v => Assert.Equal(2, v));

        for (var i = 0; i < Grains; i += 37)
        {
            await AssertStoredAsync($"g{i}", [(byte)i, 2], 2);
        }

        Assert.Equal(2 * Grains, batches.Sum());
        Assert.All(batches, size => Assert.InRange(size, 1, 64));
        // At most `concurrent` batches in flight: the writes queued behind them go together (a round trip per write
        // would be 600).
        Assert.True(batches.Count <= 2 * Grains / 4, $"{batches.Count} batches for {2 * Grains} writes");
    }

    [Fact]
    public async Task A_write_at_a_stale_version_is_refused_and_the_rest_of_its_batch_commits()
    {
        var batches = new List<int>();
        await using var writer = await WriterAsync(new GrainStateWriterOptions { ConcurrentWriteBatches = 1 }, batches);
        foreach (var key in new[] { "a", "b", "c", "gate" })
        {
            Assert.Equal(1, await writer.WriteAsync(Row(key, null, [1])));
        }

        Assert.Equal(2, await writer.WriteAsync(Row("b", 1, [2]))); // b is now at version 2

        Task<int?[]> all;
        await using (await HoldAsync("gate", writer, 1))
        {
            all = Task.WhenAll(
                writer.WriteAsync(Row("a", 1, [3])),
                writer.WriteAsync(Row("b", 1, [3])), // a second activation that read version 1
                writer.WriteAsync(Row("c", 1, [3])),
                writer.WriteAsync(Row("d", 5, [3]))); // never written: no row to update
        }

        Assert.Equal(2, await _held);
        var results = await all;
        Assert.Equal(4, batches[^1]); // the four went together, after the held one

        Assert.Equal(2, results[0]);
        Assert.Equal(1, results[1]); // unchanged: refused
        Assert.Equal(2, results[2]);
        Assert.Equal(5, results[3]);
        await AssertStoredAsync("a", [3], 2);
        await AssertStoredAsync("b", [2], 2);
        await AssertStoredAsync("c", [3], 2);
        Assert.Null(await StoredAsync("d"));
        // A state never written cannot be created twice: the second insert at "no version" is refused.
        Assert.Null(await writer.WriteAsync(Row("a", null, [9])));
    }

    [Fact]
    public async Task A_write_the_database_refuses_fails_alone_and_its_batch_is_written_without_it()
    {
        var batches = new List<int>();
        await using var writer = await WriterAsync(new GrainStateWriterOptions { ConcurrentWriteBatches = 1 }, batches);
        Assert.Equal(1, await writer.WriteAsync(Row("first", null, [0])));
        Task<int?>[] writes;
        await using (await HoldAsync("first", writer, 1)) // the writes below queue up into one batch
        {
            writes = [.. Enumerable.Range(0, 20)
                .Select(i => writer.WriteAsync(i == 7
                    ? Row("bad", null, [1], type: new string('x', 600)) // longer than the column (512)
                    : Row($"ok{i}", null, [(byte)i])))];
        }

        Assert.Equal(2, await _held);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => writes[7]);
        Assert.Equal(PostgresErrorCodes.StringDataRightTruncation, refused.SqlState);
        for (var i = 0; i < writes.Length; i++)
        {
            if (i != 7)
            {
                Assert.Equal(1, await writes[i]);
                await AssertStoredAsync($"ok{i}", [(byte)i], 1);
            }
        }

        Assert.Null(await StoredAsync("bad"));
        Assert.Contains(20, batches); // the bad write was in a batch with the others, then each ran alone
    }

    [Fact]
    public async Task A_write_refused_at_commit_is_never_reported_written_and_its_batch_is_written_without_it()
    {
        // A deferred constraint trigger refuses one grain's row when its transaction commits, after every statement
        // of the batch has answered with its new version.
        await using (var trigger = fixture.DataSource.CreateCommand("""
            create or replace function margingrid_test_refuse_at_commit() returns trigger language plpgsql as $$
            begin
                if new.grainidextensionstring = 'refused-at-commit' then raise exception 'refused at commit'; end if;
                return null;
            end $$;
            drop trigger if exists margingrid_test_refuse_at_commit on orleansstorage;
            create constraint trigger margingrid_test_refuse_at_commit after insert or update on orleansstorage
                deferrable initially deferred for each row execute function margingrid_test_refuse_at_commit();
            """))
        {
            await trigger.ExecuteNonQueryAsync();
        }

        var batches = new List<int>();
        await using var writer = await WriterAsync(new GrainStateWriterOptions { ConcurrentWriteBatches = 1 }, batches);
        Assert.Equal(1, await writer.WriteAsync(Row("commit-gate", null, [0])));
        Task<int?>[] writes;
        await using (await HoldAsync("commit-gate", writer, 1))
        {
            writes = [.. Enumerable.Range(0, 10).Select(i => writer.WriteAsync(Row(i == 4 ? "refused-at-commit" : $"c{i}", null, [(byte)i])))];
        }

        Assert.Equal(2, await _held);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => writes[4]);
        Assert.Contains("refused at commit", refused.MessageText, StringComparison.Ordinal);
        Assert.Null(await StoredAsync("refused-at-commit"));
        for (var i = 0; i < writes.Length; i++)
        {
            if (i != 4)
            {
                Assert.Equal(1, await writes[i]);
                await AssertStoredAsync($"c{i}", [(byte)i], 1);
            }
        }

        Assert.Contains(10, batches);
    }

    [Fact]
    public async Task A_row_held_by_another_transaction_fails_its_write_after_the_lock_timeout_and_not_its_batch_mates()
    {
        await using var dataSource = NpgsqlDataSource.Create(PostgresConnections.ForGrainStateWriter(fixture.Database.ConnectionString));
        await using var writer = new GrainStateWriter(dataSource, await WriteQueryAsync(), new GrainStateWriterOptions { ConcurrentWriteBatches = 1 });
        foreach (var key in new[] { "lock-gate", "locked" })
        {
            Assert.Equal(1, await writer.WriteAsync(Row(key, null, [0])));
        }

        // "locked" stays held by a second activation's transaction for the whole test.
        await using var other = await fixture.DataSource.OpenConnectionAsync();
        await using (var begin = new NpgsqlCommand("begin", other))
        {
            await begin.ExecuteNonQueryAsync();
        }

        await using (var hold = new NpgsqlCommand(
            "select 1 from orleansstorage where serviceid = $1 and grainidextensionstring = 'locked' for update", other))
        {
            hold.Parameters.AddWithValue(_service);
            await hold.ExecuteNonQueryAsync();
        }

        Task<int?>[] writes;
        await using (await HoldAsync("lock-gate", writer, 1))
        {
            writes = [writer.WriteAsync(Row("locked", 1, [1])), writer.WriteAsync(Row("free1", null, [1])), writer.WriteAsync(Row("free2", null, [1]))];
        }

        Assert.Equal(2, await _held);
        var timedOut = await Assert.ThrowsAsync<PostgresException>(() => writes[0]);
        Assert.Equal(PostgresErrorCodes.LockNotAvailable, timedOut.SqlState);
        Assert.Equal(1, await writes[1]);
        Assert.Equal(1, await writes[2]);
        await AssertStoredAsync("locked", [0], 1);
    }

    [Fact]
    public async Task A_metrics_callback_that_throws_changes_no_write()
    {
        await using var writer = new GrainStateWriter(
            fixture.DataSource, await WriteQueryAsync(), new GrainStateWriterOptions(), _ => throw new InvalidOperationException("metrics down"));
        var versions = await Task.WhenAll(Enumerable.Range(0, 30).Select(i => writer.WriteAsync(Row($"m{i}", null, [1]))));

        Assert.All(versions, v => Assert.Equal(1, v));
    }

    [Fact]
    public async Task Without_batching_every_write_is_a_round_trip_of_its_own()
    {
        var batches = new List<int>();
        await using var writer = await WriterAsync(new GrainStateWriterOptions { BatchWrites = false }, batches);
        var versions = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => writer.WriteAsync(Row($"p{i}", null, [1]))));

        Assert.All(versions, v => Assert.Equal(1, v));
        Assert.Equal(50, batches.Count);
        Assert.All(batches, size => Assert.Equal(1, size));
    }

    [Fact]
    public async Task A_lost_database_fails_the_writes_and_a_disposed_writer_refuses_new_ones()
    {
        await using var unreachable = NpgsqlDataSource.Create(
            new NpgsqlConnectionStringBuilder(fixture.Database.ConnectionString) { Port = 1, Timeout = 2 }.ConnectionString);
        var writer = new GrainStateWriter(unreachable, await WriteQueryAsync(), new GrainStateWriterOptions());
        var writes = Enumerable.Range(0, 5).Select(i => writer.WriteAsync(Row($"lost{i}", null, [1]))).ToArray();

        foreach (var write in writes)
        {
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => write);
        }

        await writer.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => writer.WriteAsync(Row("late", null, [1])));
    }

    [Fact]
    public async Task A_database_that_refuses_the_connection_fails_a_batch_without_asking_again_per_write()
    {
        var batches = new List<int>();
        await using var refusing = NpgsqlDataSource.Create(
            new NpgsqlConnectionStringBuilder(fixture.Database.ConnectionString) { Database = "margingrid_no_such_database" }.ConnectionString);
        await using var writer = new GrainStateWriter(refusing, await WriteQueryAsync(), new GrainStateWriterOptions(), size =>
        {
            lock (batches)
            {
                batches.Add(size);
            }
        });
        var writes = Enumerable.Range(0, 40).Select(i => writer.WriteAsync(Row($"refused{i}", null, [1]))).ToArray();

        foreach (var write in writes)
        {
            var e = await Assert.ThrowsAsync<PostgresException>(() => write);
            Assert.Equal(PostgresErrorCodes.InvalidCatalogName, e.SqlState);
        }

        Assert.Equal(40, batches.Sum()); // each write in one attempt: none retried on its own
        Assert.True(batches.Count < 40, $"{batches.Count} connection attempts for 40 writes");
    }

    /// <summary>
    /// Two activations of one grain create its state at once (a split brain): the one that commits second must not
    /// add a second row (Orleans' read expects one row: the grain could no longer activate). The first
    /// creation is held uncommitted in a transaction of its own; the writer's creation of the same grain waits on its
    /// key (migration 004's unique index: without it, it would not wait and would insert a second row) and, once the
    /// first commits, is refused (no version: the provider's InconsistentStateException); if the first rolls back,
    /// the writer's creation is the row.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Of_two_concurrent_creations_of_a_grain_only_one_commits_a_row(bool firstCommits)
    {
        var first = Row("twice", null, [1]);
        await using var writer = await WriterAsync(new GrainStateWriterOptions());
        await using var holder = await fixture.DataSource.OpenConnectionAsync();
        await using var transaction = await holder.BeginTransactionAsync();
        await using (var create = new NpgsqlCommand("select * from writetostorage($1, $2, $3, $4, $5, $6, $7, $8, $9)", holder, transaction))
        {
            create.Parameters.AddWithValue(first.GrainIdHash);
            create.Parameters.AddWithValue(first.GrainIdN0);
            create.Parameters.AddWithValue(first.GrainIdN1);
            create.Parameters.AddWithValue(first.GrainTypeHash);
            create.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Varchar, first.GrainTypeString);
            create.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Varchar, first.GrainIdExtensionString!);
            create.Parameters.AddWithValue(NpgsqlTypes.NpgsqlDbType.Varchar, first.ServiceId);
            create.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer, Value = DBNull.Value });
            create.Parameters.AddWithValue(first.Payload);
            Assert.Equal(1, await create.ExecuteScalarAsync()); // created, not committed
        }

        var second = writer.WriteAsync(Row("twice", null, [2]));
        await TestPostgres.WaitUntilBlockedByAsync(
            holder, fixture.DataSource, second, "the second creation did not wait for the first's key (no unique key on OrleansStorage?)");

        if (firstCommits)
        {
            await transaction.CommitAsync();
            Assert.Null(await second); // refused: the caller raises InconsistentStateException
            await AssertStoredAsync("twice", [1], 1);
        }
        else
        {
            await transaction.RollbackAsync();
            Assert.Equal(1, await second);
            await AssertStoredAsync("twice", [2], 1);
        }

        await using var rows = fixture.DataSource.CreateCommand("select count(*) from orleansstorage where serviceid = $1 and grainidextensionstring = 'twice'");
        rows.Parameters.AddWithValue(_service);
        Assert.Equal(1L, await rows.ExecuteScalarAsync());
    }

    [Theory]
    [InlineData(0, 4, "WriteBatchSize")]
    [InlineData(1001, 4, "WriteBatchSize")]
    [InlineData(10, 0, "ConcurrentWriteBatches")]
    [InlineData(10, 65, "ConcurrentWriteBatches")]
    public void Options_out_of_range_are_refused_naming_the_setting(int size, int concurrent, string setting)
    {
        var options = new GrainStateWriterOptions { WriteBatchSize = size, ConcurrentWriteBatches = concurrent };
        var e = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.Equal($"MarginGrid:Storage:{setting}", e.ParamName);
    }
}
