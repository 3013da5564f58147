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
public sealed class LocalGrainStorage(IGrainStorageSerializer serializer) : IGrainStorage
{
    private readonly ConcurrentDictionary<string, Entry> _states = new(StringComparer.Ordinal);
    private long _etag;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_states.TryGetValue(Key(stateName, grainId), out var entry))
        {
            grainState.State = serializer.Deserialize<T>(entry.Data);
            grainState.ETag = entry.ETag;
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
        var data = serializer.Serialize(grainState.State);
        var etag = Interlocked.Increment(ref _etag).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var next = new Entry(etag, data);
        if (grainState.ETag is null)
        {
            if (!_states.TryAdd(key, next))
            {
                throw Mismatch(key, null);
            }
        }
        else if (!_states.TryGetValue(key, out var current) || current.ETag != grainState.ETag || !_states.TryUpdate(key, next, current))
        {
            throw Mismatch(key, grainState.ETag);
        }

        grainState.ETag = etag;
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = Key(stateName, grainId);
        if (grainState.ETag is not null
            && (!_states.TryGetValue(key, out var current) || current.ETag != grainState.ETag || !_states.TryRemove(new KeyValuePair<string, Entry>(key, current))))
        {
            throw Mismatch(key, grainState.ETag);
        }

        grainState.ETag = null;
        grainState.RecordExists = false;
        grainState.State = Activator.CreateInstance<T>();
        return Task.CompletedTask;
    }

    private static string Key(string stateName, GrainId grainId) => $"{stateName}/{grainId}";

    private static InconsistentStateException Mismatch(string key, string? etag) =>
        new($"the stored state of {key} is not the version this activation read (ETag {etag ?? "none"})");

    private sealed record Entry(string ETag, BinaryData Data);

    public static LocalGrainStorage Create(IServiceProvider services, string name) =>
        new LocalGrainStorage(new OrleansGrainStorageSerializer(services.GetRequiredService<Orleans.Serialization.Serializer>()));
}
