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
        await using var writer = await WriterAsync(new GrainStateWriterOptions { ConcurrentWriteBatches = 1 });
        foreach (var key in new[] { "a", "b", "c" })
        {
            Assert.Equal(1, await writer.WriteAsync(Row(key, null, [1])));
        }

        Assert.Equal(2, await writer.WriteAsync(Row("b", 1, [2]))); // b is now at version 2

        var results = await Task.WhenAll(
            writer.WriteAsync(Row("a", 1, [3])),
            writer.WriteAsync(Row("b", 1, [3])), // a second activation that read version 1
            writer.WriteAsync(Row("c", 1, [3])),
            writer.WriteAsync(Row("d", 5, [3]))); // never written: no row to update

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
        // Hold the only drain on a first write, so that the next ones queue up into one batch.
        var first = writer.WriteAsync(Row("first", null, [0]));
        var writes = Enumerable.Range(0, 20)
            .Select(i => writer.WriteAsync(i == 7
                ? Row("bad", null, [1], type: new string('x', 600)) // longer than the column (512)
                : Row($"ok{i}", null, [(byte)i])))
            .ToArray();

        Assert.Equal(1, await first);
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
        Assert.Contains(batches, size => size > 1); // the bad write was in a batch with others
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
