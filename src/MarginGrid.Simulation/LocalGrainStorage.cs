using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Storage;

namespace MarginGrid.Simulation;

/// <summary>
/// Grain storage for a grid of ONE silo (the embedded grid: demo, replay, the load tool; <c>margingrid silo</c> without a
/// database): the silo's own dictionary of states, with the ETag check of a real store (a second activation's write
/// fails with <see cref="InconsistentStateException"/>). Nothing here outlives the process, so a write keeps the
/// activation's state object itself — no serialization on the write path, where the one-silo grid spends most of its
/// storage time (the account state's encoding was 17 % of a sequential crash's CPU) — and a read, which happens when a
/// grain activates, gets a deep copy of it (serialized and read back), so that two activations of a grain never share
/// one object and a stale activation's later changes cannot reach the stored state once another activation has
/// written. What this gives up, against keeping bytes: a change an activation makes in memory after its last write
/// and never writes is what the next activation reads. The grains keep that from mattering: a step changes memory
/// only to write it, and undoes it when its write or its decision fails (<c>AccountSession.PersistAsync</c>,
/// <c>Account.Restore</c>); the one change kept unwritten on purpose, an account's derived status, is never decided
/// from. Orleans' memory storage kept the bytes in storage grains (a grain call and a deep copy per write: 11 % of a
/// crash step's CPU once). A cluster of several silos must use a shared store.
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
            grainState.State = serializer.Deserialize<T>(serializer.SerializeToArray((T)entry.State!)); // a copy: never the object another activation holds
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
        var next = new Entry(Interlocked.Increment(ref _version), grainState.State);
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

    /// <summary>A stored state: the object written and the store-wide write number that is its ETag (a number, not a string).</summary>
    private readonly record struct Entry(long Version, object? State);

    public static LocalGrainStorage Create(IServiceProvider services, string name) =>
        new(services.GetRequiredService<Orleans.Serialization.Serializer>());
}
