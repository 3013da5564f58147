namespace MarginGrid.Domain;

/// <summary>A price from one source.</summary>
public readonly record struct SourcePrice(decimal Price, DateTimeOffset Timestamp);

/// <summary>
/// The mark of one market from several price sources: the median of the latest price of every source that is fresh
/// (within <c>freshness</c> of the newest update). One lying source among three cannot move it; with one source it is
/// that source's price. An update older than its source's last one is stale and ignored.
/// </summary>
public sealed class PriceBoard(TimeSpan freshness)
{
    private readonly Dictionary<string, SourcePrice> _latest = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, SourcePrice> Latest => _latest;

    public void Restore(IEnumerable<KeyValuePair<string, SourcePrice>> prices)
    {
        foreach (var (source, price) in prices)
        {
            _latest[source] = price;
        }
    }

    /// <summary>Takes an update; returns false (and changes nothing) when it is stale for its source.</summary>
    public bool Update(string source, decimal price, DateTimeOffset timestamp)
    {
        if (price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(price), $"a price must be positive, got {price}");
        }

        if (_latest.TryGetValue(source, out var last) && timestamp < last.Timestamp)
        {
            return false;
        }

        _latest[source] = new SourcePrice(price, timestamp);
        return true;
    }

    /// <summary>The median of the fresh sources' latest prices; null before any update.</summary>
    public decimal? Mark()
    {
        if (_latest.Count == 0)
        {
            return null;
        }

        var newest = _latest.Values.Max(p => p.Timestamp);
        var fresh = _latest.Values.Where(p => p.Timestamp >= newest - freshness).Select(p => p.Price).Order().ToArray();
        var mid = fresh.Length / 2;
        return fresh.Length % 2 == 1 ? fresh[mid] : (fresh[mid - 1] + fresh[mid]) / 2m;
    }
}
