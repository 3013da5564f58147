using MarginGrid.Grains;
using MarginGrid.Host.Silo;
using MarginGrid.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;
using Xunit;

namespace MarginGrid.Host.Tests.Storage;

/// <summary>
/// The silo's grain storage on PostgreSQL (<see cref="BatchedGrainStorage"/>) and Orleans' own ADO.NET provider keep
/// the same rows: what one writes the other reads and overwrites at its version, for every kind of grain key — so the
/// batched writes key their rows exactly as Orleans does, and a cluster's existing states stay readable.
/// </summary>
public sealed class BatchedGrainStorageTests : IAsyncLifetime
{
    private const string Provider = "grid";
    private TestDatabase? _database;
    private ServiceProvider? _services;
    private readonly List<ILifecycleObserver> _started = [];

    private AdoNetGrainStorage Orleans { get; set; } = null!;

    private BatchedGrainStorage Batched { get; set; } = null!;

    public static TheoryData<string> Keys => ["string", "integer", "integer+extension", "guid", "guid+extension"];

    private static GrainId Key(string kind, int n)
    {
        var type = GrainType.Create("test-grain");
        var guid = new Guid(n, 0x1234, 0x5678, [1, 2, 3, 4, 5, 6, 7, (byte)n]);
        return kind switch
        {
            "string" => GrainId.Create("account", $"acct-{n}"),
            "integer" => GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(1_000_000_007L * n)),
            "integer+extension" => GrainId.Create(type, GrainIdKeyExtensions.CreateIntegerKey(-n, $"ext-{n}")),
            "guid" => GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid)),
            "guid+extension" => GrainId.Create(type, GrainIdKeyExtensions.CreateGuidKey(guid, $"ext-{n}")),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
        };
    }

    public async Task InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        await DatabaseInitializer.InitializeAsync(_database.ConnectionString);
        var services = new ServiceCollection()
            .AddLogging()
            .AddSerializer(b => b.AddAssembly(typeof(ShardState).Assembly));
        services.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = "storage-test";
            o.ServiceId = "storage-test";
        });
        services.AddOptions<GrainStateWriterOptions>();
        services.AddOptions<AdoNetGrainStorageOptions>(Provider).Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = SiloOrleans.Invariant;
            o.ConnectionString = _database.ConnectionString;
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        });
        _services = services.BuildServiceProvider();
        Orleans = AdoNetGrainStorageFactory.Create(_services, Provider);
        Batched = BatchedGrainStorage.Create(_services, Provider);
        var lifecycle = new Lifecycle(_started);
        Orleans.Participate(lifecycle);
        Batched.Participate(lifecycle);
        foreach (var observer in _started)
        {
            await observer.OnStart(CancellationToken.None);
        }
    }

    public async Task DisposeAsync()
    {
        await Batched.DisposeAsync();
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    private static GrainState<ShardState> State(params string[] holders) => new(new ShardState { Holders = [.. holders] });

    private static async Task<GrainState<ShardState>> ReadAsync(IGrainStorage storage, GrainId id)
    {
        var state = new GrainState<ShardState>();
        await storage.ReadStateAsync("shard", id, state);
        return state;
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public async Task A_state_written_by_Orleans_provider_is_overwritten_by_the_batched_one_at_its_version(string kind)
    {
        var id = Key(kind, 3);
        var state = State("a");
        await Orleans.WriteStateAsync("shard", id, state);
        Assert.Equal("1", state.ETag);

        state.State!.Holders.Add("b");
        await Batched.WriteStateAsync("shard", id, state); // finds Orleans' row by its key and version
        Assert.Equal("2", state.ETag);

        var read = await ReadAsync(Orleans, id);
        Assert.Equal("2", read.ETag);
        Assert.Equal(["a", "b"], read.State!.Holders.Order());
    }

    [Theory]
    [MemberData(nameof(Keys))]
    public async Task A_state_created_by_the_batched_provider_is_Orleans_row_and_keeps_its_fencing(string kind)
    {
        var id = Key(kind, 4);
        var state = State("x");
        await Batched.WriteStateAsync("shard", id, state);
        Assert.Equal("1", state.ETag);

        var read = await ReadAsync(Orleans, id);
        Assert.True(read.RecordExists);
        Assert.Equal("1", read.ETag);
        read.State!.Holders.Add("y");
        await Orleans.WriteStateAsync("shard", id, read);
        Assert.Equal("2", read.ETag);

        // The first writer still holds version 1: refused, and the row keeps Orleans' write.
        state.State!.Holders.Add("stale");
        var refused = await Assert.ThrowsAsync<InconsistentStateException>(() => Batched.WriteStateAsync("shard", id, state));
        Assert.Contains("Version conflict", refused.Message, StringComparison.Ordinal);
        Assert.Equal("1", state.ETag);
        var after = await ReadAsync(Batched, id);
        Assert.Equal(["x", "y"], after.State!.Holders.Order());

        // A second activation that never read the state cannot create it again.
        await Assert.ThrowsAsync<InconsistentStateException>(() => Batched.WriteStateAsync("shard", id, State("other")));
    }

    [Fact]
    public async Task Many_grains_writing_at_once_all_land_at_their_versions()
    {
        var ids = Enumerable.Range(100, 200).Select(n => Key(n % 2 == 0 ? "string" : "guid+extension", n)).ToArray();
        var states = ids.Select(id => State(id.ToString())).ToArray();
        await Task.WhenAll(ids.Select((id, i) => Batched.WriteStateAsync("shard", id, states[i])));
        foreach (var state in states)
        {
            state.State!.Holders.Add("second");
        }

        await Task.WhenAll(ids.Select((id, i) => Batched.WriteStateAsync("shard", id, states[i])));

        for (var i = 0; i < ids.Length; i++)
        {
            Assert.Equal("2", states[i].ETag);
            var read = await ReadAsync(Orleans, ids[i]);
            Assert.Equal("2", read.ETag);
            Assert.Equal(new[] { ids[i].ToString(), "second" }.Order(StringComparer.Ordinal), read.State!.Holders.Order(StringComparer.Ordinal));
        }
    }

    public static TheoryData<string> Providers => ["batched", "orleans"];

    /// <summary>
    /// Two activations create one grain at once (a split brain): another creation of the grain, its row written with
    /// the provider's own key columns, is held uncommitted; the provider's creation waits on the grain's key and, once
    /// the other commits, is refused as a version conflict — the grain keeps one row, the other's.
    /// </summary>
    [Theory]
    [MemberData(nameof(Providers))]
    public async Task A_creation_racing_another_creation_of_the_grain_is_refused_and_leaves_one_row(string provider)
    {
        IGrainStorage storage = provider == "batched" ? Batched : Orleans;
        var id = Key("string", provider == "batched" ? 901 : 902);
        await using var dataSource = _database!.CreateDataSource();

        // The row's key columns as this provider writes them: written once, read back, removed.
        await storage.WriteStateAsync("shard", id, State("probe"));
        await using var holder = await dataSource.OpenConnectionAsync();
        object[] key;
        await using (var read = new Npgsql.NpgsqlCommand(
            "delete from orleansstorage where serviceid = 'storage-test' returning grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, payloadbinary", holder))
        await using (var reader = await read.ExecuteReaderAsync())
        {
            Assert.True(await reader.ReadAsync());
            key = new object[7];
            reader.GetValues(key);
            Assert.False(await reader.ReadAsync());
        }

        await using var other = await holder.BeginTransactionAsync();
        await using (var create = new Npgsql.NpgsqlCommand(
            "insert into orleansstorage (grainidhash, grainidn0, grainidn1, graintypehash, graintypestring, grainidextensionstring, serviceid, payloadbinary, modifiedon, version) "
            + "values ($1, $2, $3, $4, $5, $6, 'storage-test', $7, now(), 1)", holder, other))
        {
            foreach (var value in key)
            {
                create.Parameters.Add(new Npgsql.NpgsqlParameter { Value = value });
            }

            Assert.Equal(1, await create.ExecuteNonQueryAsync());
        }

        var racing = storage.WriteStateAsync("shard", id, State("mine"));
        await TestPostgres.WaitUntilBlockedByAsync(
            holder, dataSource, racing, "the provider's creation did not wait for the other creation's key (no unique key on OrleansStorage?)");

        await other.CommitAsync();
        await Assert.ThrowsAsync<InconsistentStateException>(() => racing);
        await using var rows = dataSource.CreateCommand("select count(*) from orleansstorage where serviceid = 'storage-test'");
        Assert.Equal(1L, await rows.ExecuteScalarAsync());
        Assert.Equal(["probe"], (await ReadAsync(storage, id)).State!.Holders); // the other activation's state
    }

    /// <summary>The silo's lifecycle reduced to what the providers use: their start observers, run by the test.</summary>
    private sealed class Lifecycle(List<ILifecycleObserver> observers) : ISiloLifecycle
    {
        public int HighestCompletedStage => ServiceLifecycleStage.Active;

        public int LowestStoppedStage => int.MaxValue;

        public IDisposable Subscribe(string observerName, int stage, ILifecycleObserver observer)
        {
            observers.Add(observer);
            return new Unsubscribe();
        }

        private sealed class Unsubscribe : IDisposable
        {
            public void Dispose()
            {
            }
        }
    }
}
