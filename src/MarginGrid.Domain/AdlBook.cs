namespace MarginGrid.Domain;

/// <summary>
/// What auto-deleveraging needs to know of one account to rank it: its holdings (positions and collateral: the score
/// uses its equity and gross notional), the version they are at, and whether its collateral is in auction.
/// </summary>
public sealed record AdlStanding(Portfolio Holdings, long Version, bool InAuction);

/// <summary>
/// The first counterparties of one market's ADL queue among an <see cref="AdlBook"/>'s accounts, in the queue's order,
/// enough to cover the quantity asked for; <see cref="Exhausted"/> when they are all of its eligible accounts.
/// Otherwise every eligible account left out ranks after the last one given.
/// </summary>
public sealed record AdlPrefix(IReadOnlyList<AdlRanked> Ranked, bool Exhausted);

/// <summary>
/// An incremental index of the auto-deleveraging counterparties of some accounts (the grid keeps one per market shard):
/// each account's <see cref="AdlStanding"/>, and per market and side its positions sorted by entry price. The score
/// depends on the marks of every market the account holds, so no order of the accounts survives a price move; what the
/// index keeps is what makes a query cheap at the marks of the step: only positions in profit can be counterparties
/// (a short with <c>e &gt; M</c>, a long with <c>e &lt; M</c>), a range of the entry order, and only those are scored
/// and sorted, by <see cref="AutoDeleveraging.Rank"/> — so the order is exactly the model's.
/// </summary>
public sealed class AdlBook
{
    private static readonly Comparer<(decimal Entry, string Account)> ByEntry = Comparer<(decimal Entry, string Account)>.Create((a, b) =>
    {
        var c = a.Entry.CompareTo(b.Entry);
        return c != 0 ? c : string.CompareOrdinal(a.Account, b.Account);
    });

    private readonly Dictionary<string, AdlStanding> _standings = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Market, bool Shorts), SortedSet<(decimal Entry, string Account)>> _sides = [];

    /// <summary>How many accounts have a standing here.</summary>
    public int Count => _standings.Count;

    public bool Contains(string account) => _standings.ContainsKey(account);

    public AdlStanding? Get(string account) => _standings.GetValueOrDefault(account);

    /// <summary>Sets (replaces) an account's standing: O(p log n) for its p positions.</summary>
    public void Set(string account, AdlStanding standing)
    {
        Remove(account);
        _standings[account] = standing;
        foreach (var (market, position) in standing.Holdings.Positions)
        {
            if (position.Size == 0m)
            {
                continue;
            }

            var key = (market, position.Size < 0m);
            if (!_sides.TryGetValue(key, out var side))
            {
                _sides[key] = side = new SortedSet<(decimal Entry, string Account)>(ByEntry);
            }

            side.Add((position.Entry, account));
        }
    }

    public void Remove(string account)
    {
        if (!_standings.Remove(account, out var old))
        {
            return;
        }

        foreach (var (market, position) in old.Holdings.Positions)
        {
            if (_sides.TryGetValue((market, position.Size < 0m), out var side))
            {
                side.Remove((position.Entry, account));
            }
        }
    }

    /// <summary>
    /// The eligible counterparties here on the <paramref name="shorts"/> side of <paramref name="market"/>, in the queue's
    /// order (<see cref="AutoDeleveraging.Rank"/> at <paramref name="marks"/>): positions in profit, of accounts not in
    /// auction and not in <paramref name="exclude"/>.
    /// </summary>
    public List<AdlRanked> Ranked(string market, bool shorts, IMarks marks, RiskConfiguration config, IReadOnlySet<string>? exclude = null)
    {
        var accounts = InProfit(market, shorts, MarginCalculator.Mark(marks, market))
            .Where(id => exclude is null || !exclude.Contains(id))
            .Select(id => KeyValuePair.Create(id, _standings[id]))
            .Where(x => !x.Value.InAuction)
            .Select(x => KeyValuePair.Create(x.Key, x.Value.Holdings));
        return AutoDeleveraging.Rank(market, shorts, accounts, marks, config);
    }

    /// <summary>
    /// The first of <see cref="Ranked"/> whose sizes reach <paramref name="quantity"/> (all of them if they do not).
    /// A merge of the prefixes of several books holds the first counterparties of their union that reach the quantity.
    /// </summary>
    public AdlPrefix Top(
        string market, bool shorts, decimal quantity, IMarks marks, RiskConfiguration config, IReadOnlySet<string>? exclude = null)
    {
        // Scored once each (the model's score), then only the first are taken off a heap in the model's order.
        var heap = new PriorityQueue<AdlRanked, AdlKey>(Comparer<AdlKey>.Create(AutoDeleveraging.Compare));
        foreach (var id in InProfit(market, shorts, MarginCalculator.Mark(marks, market)))
        {
            var standing = _standings[id];
            if ((exclude is null || !exclude.Contains(id)) && !standing.InAuction
                && AutoDeleveraging.Score(standing.Holdings, market, marks, config) is { } score)
            {
                var ranked = new AdlRanked(id, standing.Holdings, standing.Holdings.PositionIn(market)!.Value, score);
                heap.Enqueue(ranked, ranked.Key);
            }
        }

        var prefix = new List<AdlRanked>();
        var covered = 0m;
        while (covered < quantity && heap.TryDequeue(out var next, out _))
        {
            prefix.Add(next);
            covered += Math.Abs(next.Position.Size);
        }

        return new AdlPrefix(prefix, heap.Count == 0);
    }

    /// <summary>
    /// Where <paramref name="key"/> would stand among this book's eligible counterparties on the <paramref name="shorts"/>
    /// side of <paramref name="market"/> (leaving out <paramref name="except"/>): how many rank before it, and how many there are.
    /// </summary>
    public (int Ahead, int Total) Place(string market, bool shorts, AdlKey key, IMarks marks, RiskConfiguration config, string? except = null)
    {
        var ahead = 0;
        var total = 0;
        foreach (var id in InProfit(market, shorts, MarginCalculator.Mark(marks, market)))
        {
            var standing = _standings[id];
            if (id == except || standing.InAuction || AutoDeleveraging.Score(standing.Holdings, market, marks, config) is not { } score)
            {
                continue;
            }

            total++;
            if (AutoDeleveraging.Compare(new AdlKey(score, id), key) < 0)
            {
                ahead++;
            }
        }

        return (ahead, total);
    }

    /// <summary>
    /// The accounts whose position on that side is in profit at <paramref name="mark"/>: the entries above the mark for the
    /// shorts (walked down from the highest), below it for the longs (walked up from the lowest), stopping at the mark.
    /// </summary>
    private IEnumerable<string> InProfit(string market, bool shorts, decimal mark)
    {
        if (!_sides.TryGetValue((market, shorts), out var side))
        {
            yield break;
        }

        foreach (var (entry, account) in shorts ? side.Reverse() : side)
        {
            if (shorts ? entry <= mark : entry >= mark)
            {
                yield break;
            }

            yield return account;
        }
    }
}
