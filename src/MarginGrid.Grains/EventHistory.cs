using System.Buffers.Binary;
using Orleans.Serialization;

namespace MarginGrid.Grains;

/// <summary>
/// An account's recent events as stored: one byte array of entries, oldest first, each a 4-byte little-endian length
/// and the event encoded by the Orleans serializer. An event is encoded once, when it is recorded; every later write of
/// the account copies the array instead of encoding the whole history again (issue 10: re-encoding the 50-event history
/// on every write was the largest item of a crash's CPU profile). Decoded only when read (the API, a retried call).
/// Arrays are never changed in place: each change makes a new one, so a reference taken before a change stays valid.
/// </summary>
public sealed class EventHistory(Serializer<GridEvent> serializer)
{
    private const int Header = sizeof(int);

    /// <summary>The entry of one event (what <see cref="Append"/> adds and <see cref="Remove"/> takes away).</summary>
    public byte[] Encode(GridEvent e) => serializer.SerializeToArray(e);

    /// <summary>The history's events, oldest first.</summary>
    public List<GridEvent> Decode(byte[]? history)
    {
        var events = new List<GridEvent>();
        foreach (var (offset, length) in Entries(history))
        {
            events.Add(serializer.Deserialize(new ReadOnlyMemory<byte>(history, offset, length))
                ?? throw new InvalidDataException("the stored event history holds a null event"));
        }

        return events;
    }

    /// <summary>
    /// The account's encoded history. A state written before the history was kept encoded holds it as a list of events
    /// (<see cref="AccountState.Recent"/>): converted here, on the first use, and written with the account's next write.
    /// </summary>
    public byte[]? Of(AccountState state, int keep)
    {
        if (state.Recent is { } earlier)
        {
            state.History = Append(Append(null, [.. earlier.Select(Encode)], keep), Split(state.History), keep);
            state.Recent = null;
        }

        return state.History;
    }

    /// <summary>A new history: <paramref name="history"/> with <paramref name="entries"/> after it, the newest <paramref name="keep"/> kept.</summary>
    public static byte[]? Append(byte[]? history, IReadOnlyList<byte[]> entries, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        var old = Entries(history);
        var fromNew = Math.Max(0, entries.Count - keep);
        var fromOld = Math.Min(old.Count, Math.Max(0, old.Count + entries.Count - keep));
        var oldStart = fromOld < old.Count ? old[fromOld].Offset - Header : history?.Length ?? 0;
        var oldBytes = (history?.Length ?? 0) - oldStart;
        var size = oldBytes + entries.Skip(fromNew).Sum(e => Header + e.Length);
        if (size == 0)
        {
            return null;
        }

        var result = new byte[size];
        if (oldBytes > 0)
        {
            Buffer.BlockCopy(history!, oldStart, result, 0, oldBytes);
        }

        var at = oldBytes;
        foreach (var entry in entries.Skip(fromNew))
        {
            BinaryPrimitives.WriteInt32LittleEndian(result.AsSpan(at), entry.Length);
            entry.CopyTo(result, at + Header);
            at += Header + entry.Length;
        }

        return result;
    }

    /// <summary>A new history without the newest entry equal to each of <paramref name="entries"/> (a failed write's events).</summary>
    public static byte[]? Remove(byte[]? history, IReadOnlyList<byte[]> entries)
    {
        var kept = Entries(history);
        var removed = false;
        foreach (var entry in entries)
        {
            var index = kept.FindLastIndex(e => history.AsSpan(e.Offset, e.Length).SequenceEqual(entry));
            if (index >= 0)
            {
                kept.RemoveAt(index);
                removed = true;
            }
        }

        return removed ? Append(null, [.. kept.Select(e => history.AsSpan(e.Offset, e.Length).ToArray())], int.MaxValue) : history;
    }

    /// <summary>The entries of a history, oldest first.</summary>
    public static List<byte[]> Split(byte[]? history) => [.. Entries(history).Select(e => history.AsSpan(e.Offset, e.Length).ToArray())];

    private static List<(int Offset, int Length)> Entries(byte[]? history)
    {
        var entries = new List<(int, int)>();
        for (var at = 0; history is not null && at < history.Length;)
        {
            var length = at + Header <= history.Length ? BinaryPrimitives.ReadInt32LittleEndian(history.AsSpan(at)) : -1;
            if (length < 0 || at + Header + length > history.Length)
            {
                throw new InvalidDataException($"the stored event history is damaged at byte {at} of {history.Length}");
            }

            entries.Add((at + Header, length));
            at += Header + length;
        }

        return entries;
    }
}
