using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// What one account knows of each market that prices it: the mark and the tick sequence it came with, whether the
/// account is registered with the market's holder shard, and whether that shard holds a safe band for it. One small
/// dictionary per account instead of one per concern: at 100k accounts every collection an activation keeps costs
/// tens of megabytes.
/// </summary>
public sealed class MarketLinks : IMarks
{
    private readonly Dictionary<string, Link> _links = new(StringComparer.Ordinal);

    public bool TryGetMark(string market, out decimal mark)
    {
        if (_links.TryGetValue(market, out var link) && link.HasMark)
        {
            mark = link.Mark;
            return true;
        }

        mark = 0m;
        return false;
    }

    /// <summary>Takes a mark unless one of an equal or newer sequence was already taken; true when it was taken.</summary>
    public bool ApplyMark(string market, long sequence, decimal price)
    {
        if (price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(price), $"mark of {market} must be positive, got {price}");
        }

        ref var link = ref Entry(market);
        if (link.HasMark && sequence <= link.Sequence)
        {
            return false;
        }

        link.Mark = price;
        link.Sequence = sequence;
        link.HasMark = true;
        return true;
    }

    /// <summary>The sequence of the market's newest mark taken here; 0 before any.</summary>
    public long Sequence(string market) => _links.TryGetValue(market, out var link) && link.HasMark ? link.Sequence : 0;

    /// <summary>Marks the account registered with the market's shard; true when it was not registered before.</summary>
    public bool Register(string market)
    {
        ref var link = ref Entry(market);
        if (link.Registered)
        {
            return false;
        }

        link.Registered = true;
        return true;
    }

    public void Unregister(string market)
    {
        if (_links.ContainsKey(market))
        {
            Entry(market).Registered = false;
        }
    }

    /// <summary>Whether the market's shard holds a safe band for the account; null when the account has not told it yet.</summary>
    public bool? BandHeld(string market) =>
        _links.TryGetValue(market, out var link) && link.Band != BandState.Unknown ? link.Band == BandState.Held : null;

    public void SetBandHeld(string market, bool held) => Entry(market).Band = held ? BandState.Held : BandState.None;

    private ref Link Entry(string market) =>
        ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_links, market, out _);

    private enum BandState : byte
    {
        Unknown = 0,
        Held = 1,
        None = 2,
    }

    private struct Link
    {
        public decimal Mark;
        public long Sequence;
        public bool HasMark;
        public bool Registered;
        public BandState Band;
    }
}
