using MarginGrid.Grains;
using MarginGrid.Simulation;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Orleans.Storage;
using Xunit;

namespace MarginGrid.Host.Tests.Storage;

/// <summary>
/// The one-silo grid's storage keeps a real store's fencing: a write must name the version it read (ETag), so a second
/// activation of the same grain (or a write after a failed one) cannot overwrite a newer state; and its activations
/// never share a state object (a read is a copy).
/// </summary>
public sealed class LocalGrainStorageTests
{
    private static readonly GrainId Shard = GrainId.Create("shard", "BTC-PERP/0");

    private static LocalGrainStorage NewStorage()
    {
        var services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(ShardState).Assembly)).BuildServiceProvider();
        return LocalGrainStorage.Create(services, "grid");
    }

    private static GrainState<ShardState> State(params string[] holders) => new(new ShardState { Holders = [.. holders] });

    private static async Task<GrainState<ShardState>> ReadAsync(LocalGrainStorage storage)
    {
        var state = new GrainState<ShardState>();
        await storage.ReadStateAsync("shard", Shard, state);
        return state;
    }

    [Fact]
    public async Task A_write_is_read_back_as_a_copy_with_its_etag()
    {
        var storage = NewStorage();
        var written = State("a", "b");
        await storage.WriteStateAsync("shard", Shard, written);

        var read = await ReadAsync(storage);

        Assert.True(read.RecordExists);
        Assert.Equal(written.ETag, read.ETag);
        Assert.Equal(["a", "b"], read.State!.Holders.Order());
        Assert.NotSame(written.State, read.State);
    }

    [Fact]
    public async Task A_write_at_a_version_it_did_not_read_is_refused_and_changes_nothing()
    {
        var storage = NewStorage();
        var first = State("a");
        await storage.WriteStateAsync("shard", Shard, first);
        var second = await ReadAsync(storage); // a second activation reads the same version

        second.State!.Holders.Add("b");
        await storage.WriteStateAsync("shard", Shard, second);
        first.State!.Holders.Add("stale");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("shard", Shard, first));
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("shard", Shard, State("fresh"))); // no ETag: a record exists

        var read = await ReadAsync(storage);
        Assert.Equal(["a", "b"], read.State!.Holders.Order());
    }

    /// <summary>
    /// The store keeps the written object and gives every read a copy: what an activation does to the state it read
    /// reaches neither the stored state nor the object another activation holds, until it writes.
    /// </summary>
    [Fact]
    public async Task Two_activations_never_share_a_state_object()
    {
        var storage = NewStorage();
        var writer = State("a");
        await storage.WriteStateAsync("shard", Shard, writer);

        var first = await ReadAsync(storage);
        var second = await ReadAsync(storage);
        Assert.NotSame(first.State, second.State);
        first.State!.Holders.Add("unwritten");

        Assert.Equal(["a"], second.State!.Holders);
        Assert.Equal(["a"], writer.State!.Holders);
        var again = await ReadAsync(storage);
        Assert.Equal(["a"], again.State!.Holders);

        await storage.WriteStateAsync("shard", Shard, first); // now it is the stored state
        var after = await ReadAsync(storage);
        Assert.Equal(["a", "unwritten"], after.State!.Holders.Order());
        Assert.Equal(["a"], second.State!.Holders);
    }

    [Fact]
    public async Task Clearing_needs_the_current_version_and_leaves_no_record()
    {
        var storage = NewStorage();
        var state = State("a");
        await storage.WriteStateAsync("shard", Shard, state);
        var stale = new GrainState<ShardState>(new ShardState(), "not-the-etag");
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.ClearStateAsync("shard", Shard, stale));

        await storage.ClearStateAsync("shard", Shard, state);
        var read = await ReadAsync(storage);
        Assert.False(read.RecordExists);
        Assert.Null(read.ETag);
        Assert.Empty(read.State!.Holders);
    }
}
