using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// What one account knows of each market that prices it: the mark and the tick sequence it came with, whether the
/// account is registered with the market's holder shard, and whether that shard holds a safe band for it. One small
/// array searched linearly (an account depends on a handful of markets) instead of one dictionary per concern: at
/// 100k accounts every collection an activation keeps costs tens of megabytes.
/// </summary>
public sealed class MarketLinks : IMarks
{
    private Link[] _links = [];

    public bool TryGetMark(string market, out decimal mark)
    {
        var i = IndexOf(market);
        if (i >= 0 && _links[i].HasMark)
        {
            mark = _links[i].Mark;
            return true;
        }

        mark = 0m;
        return false;
    }

    /// <summary>The margin multiplier k of the market's mark (v2 volatility-scaled margin; 1 without it).</summary>
    public decimal Multiplier(string market)
    {
        var i = IndexOf(market);
        return i >= 0 && _links[i].HasMark && _links[i].Multiplier > 1m ? _links[i].Multiplier : 1m;
    }

    /// <summary>Takes a mark unless one of an equal or newer sequence was already taken; true when it was taken.</summary>
    public bool ApplyMark(string market, long sequence, decimal price, decimal multiplier = 1m)
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
        link.Multiplier = multiplier;
        link.Sequence = sequence;
        link.HasMark = true;
        return true;
    }

    /// <summary>The sequence of the market's newest mark taken here; 0 before any.</summary>
    public long Sequence(string market)
    {
        var i = IndexOf(market);
        return i >= 0 && _links[i].HasMark ? _links[i].Sequence : 0;
    }

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
        var i = IndexOf(market);
        if (i >= 0)
        {
            // Forget the mark too: no tick of this market reaches the account any more, so it would only grow stale.
            _links[i].Registered = false;
            _links[i].HasMark = false;
            _links[i].Band = BandState.Unknown;
        }
    }

    /// <summary>Whether the market's shard holds a safe band for the account; null when the account has not told it yet.</summary>
    public bool? BandHeld(string market)
    {
        var i = IndexOf(market);
        return i >= 0 && _links[i].Band != BandState.Unknown ? _links[i].Band == BandState.Held : null;
    }

    public void SetBandHeld(string market, bool held) => Entry(market).Band = held ? BandState.Held : BandState.None;

    private int IndexOf(string market)
    {
        for (var i = 0; i < _links.Length; i++)
        {
            if (string.Equals(_links[i].Market, market, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private ref Link Entry(string market)
    {
        var i = IndexOf(market);
        if (i < 0)
        {
            i = _links.Length;
            Array.Resize(ref _links, i + 1);
            _links[i].Market = string.Intern(market); // a configured market's name (unknown ones never get here)
        }

        return ref _links[i];
    }

    private enum BandState : byte
    {
        Unknown = 0,
        Held = 1,
        None = 2,
    }

    private struct Link
    {
        public string Market;
        public decimal Mark;
        public decimal Multiplier;
        public long Sequence;
        public bool HasMark;
        public bool Registered;
        public BandState Band;
    }
}
