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
