using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace MarginGrid.Simulation;

/// <summary>
/// Grain storage for a grid of ONE silo (the embedded grid: demo, replay, the load tool; <c>margingrid silo</c> without a
/// database): the silo's own dictionary of serialized states, with the ETag check of a real store (a second activation's
/// write fails with <see cref="InconsistentStateException"/>). Orleans' memory storage keeps the same bytes in storage
/// grains, so every write was also a grain call and a deep copy of the serialized state (11 % of the CPU of a crash step
/// in a profile); a silo that is the whole cluster needs neither. A cluster of several silos must use a shared store.
/// </summary>
public sealed class LocalGrainStorage(Orleans.Serialization.Serializer serializer) : IGrainStorage
{
    // Keyed by the state's name and the grain's id as they are (the id shares the activation's bytes): a key string per
    // state would cost about 70 bytes per account.
    private readonly ConcurrentDictionary<(string State, GrainId Grain), Entry> _states = new();
    private long _version;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_states.TryGetValue(Key(stateName, grainId), out var entry))
        {
            grainState.State = serializer.Deserialize<T>(entry.Data);
            grainState.ETag = ETag(entry.Version);
            grainState.RecordExists = true;
        }
        else
        {
            grainState.State = Activator.CreateInstance<T>();
            grainState.ETag = null;
            grainState.RecordExists = false;
        }

        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        var data = serializer.SerializeToArray(grainState.State); // exactly its length: a buffer writer's spare capacity would stay with every state
        var next = new Entry(Interlocked.Increment(ref _version), data);
        if (grainState.ETag is null)
        {
            if (!_states.TryAdd(key, next))
            {
                throw Mismatch(key, null);
            }
        }
        else if (!_states.TryGetValue(key, out var current) || ETag(current.Version) != grainState.ETag || !_states.TryUpdate(key, next, current))
        {
            throw Mismatch(key, grainState.ETag);
        }

        grainState.ETag = ETag(next.Version);
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        if (grainState.ETag is not null
            && (!_states.TryGetValue(key, out var current) || ETag(current.Version) != grainState.ETag || !_states.TryRemove(new KeyValuePair<(string, GrainId), Entry>(key, current))))
        {
            throw Mismatch(key, grainState.ETag);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }

    private static (string, GrainId) Key(string stateName, GrainId grainId) => (stateName, grainId);

    private static InconsistentStateException Mismatch((string State, GrainId Grain) key, string? etag) =>
        new($"the stored state {key.State} of {key.Grain} is not the version this activation read (ETag {etag ?? "none"})");

    private static string ETag(long version) => version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A stored state: its bytes and the store-wide write number that is its ETag (kept as a number, not a string).</summary>
    private readonly record struct Entry(long Version, byte[] Data);

    public static LocalGrainStorage Create(IServiceProvider services, string name) =>
        new(services.GetRequiredService<Orleans.Serialization.Serializer>());
}
