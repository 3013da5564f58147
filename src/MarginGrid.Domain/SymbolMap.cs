using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace MarginGrid.Domain;

/// <summary>
/// A small map from symbol to value kept as one array sorted by ordinal key: an account holds a handful of assets and
/// positions, and a sorted dictionary's tree costs several times the memory (one node object per entry) for no gain at
/// that size. Enumerates in ordinal key order, which the model's ordering rules rely on.
/// </summary>
public sealed class SymbolMap<TValue> : IReadOnlyDictionary<string, TValue>
{
    private KeyValuePair<string, TValue>[] _entries = [];
    private int _count;
    private int _version;

    public int Count => _count;

    public TValue this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException(key);

    public IEnumerable<string> Keys => this.Select(e => e.Key);

    public IEnumerable<TValue> Values => this.Select(e => e.Value);

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out TValue value)
    {
        var i = IndexOf(key);
        if (i < 0)
        {
            value = default;
            return false;
        }

        value = _entries[i].Value;
        return true;
    }

    /// <summary>
    /// Sets the value of <paramref name="key"/>. A key already present keeps its stored instance; a new one is stored as
    /// <paramref name="newKey"/> makes it (e.g. interned) — so the caller pays for that only when a key is added.
    /// </summary>
    public void Set(string key, TValue value, Func<string, string>? newKey = null)
    {
        var i = IndexOf(key);
        if (i >= 0)
        {
            _entries[i] = new(_entries[i].Key, value);
            _version++;
            return;
        }

        key = newKey is null ? key : newKey(key);

        i = ~i;
        if (_count == _entries.Length)
        {
            Array.Resize(ref _entries, Math.Max(2, _count * 2));
        }

        Array.Copy(_entries, i, _entries, i + 1, _count - i);
        _entries[i] = new(key, value);
        _count++;
        _version++;
    }

    public bool Remove(string key)
    {
        var i = IndexOf(key);
        if (i < 0)
        {
            return false;
        }

        _count--;
        Array.Copy(_entries, i + 1, _entries, i, _count - i);
        _entries[_count] = default;
        _version++;
        return true;
    }

    public IEnumerator<KeyValuePair<string, TValue>> GetEnumerator()
    {
        var version = _version;
        for (var i = 0; i < _count; i++)
        {
            yield return _entries[i];
            if (version != _version)
            {
                throw new InvalidOperationException("the map was changed while it was enumerated");
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The index of <paramref name="key"/>, or the complement of where it would be inserted.</summary>
    private int IndexOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            var mid = lo + ((hi - lo) >> 1);
            var c = string.CompareOrdinal(_entries[mid].Key, key);
            if (c == 0)
            {
                return mid;
            }

            if (c < 0)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return ~lo;
    }
}
