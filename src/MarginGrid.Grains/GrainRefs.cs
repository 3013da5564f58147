using System.Collections.Concurrent;

namespace MarginGrid.Grains;

/// <summary>
/// Grain references by string key without Orleans' per-call interface resolution: <c>IGrainFactory.GetGrain&lt;T&gt;(key)</c>
/// resolves the interface's <see cref="GrainInterfaceType"/> through its attributes on every call (reflection; 9 % of the
/// CPU of a crash step in a profile, the shards and the coordinator making one reference per account per tick). The
/// grain and interface types are resolved once per interface and the reference is made from its <see cref="GrainId"/>.
/// </summary>
public static class GrainRefs
{
    private static readonly ConcurrentDictionary<Type, (GrainType Grain, GrainInterfaceType Interface)> Types = new();

    public static T Ref<T>(this IGrainFactory grains, string key) where T : IGrainWithStringKey
    {
        if (Types.TryGetValue(typeof(T), out var types))
        {
            return (T)grains.GetGrain(GrainId.Create(types.Grain, key), types.Interface);
        }

        var reference = grains.GetGrain<T>(key);
        if (reference is GrainReference r)
        {
            Types.TryAdd(typeof(T), (r.GrainId.Type, r.InterfaceType));
        }

        return reference;
    }
}
