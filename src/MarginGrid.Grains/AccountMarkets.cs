using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// An account's links to the markets that price it: the marks it knows (from ticks or fetched from the market grains),
/// its registrations with the holder shards, and the safe bands it hands them (gated fan-out). I/O only: which markets
/// and which bands is decided by the domain.
/// </summary>
public sealed class AccountMarkets(IGrainFactory grains, string account, GridOptions options)
{
    private readonly MarketLinks _links = new();

    /// <summary>v3: the standing (version, in auction) last handed to each market's shard for its ADL index.</summary>
    private Dictionary<string, (long Version, bool InAuction)>? _standings; // only once ADL is on (most accounts never need it)

    /// <summary>The marks this account knows, for the domain to decide at.</summary>
    public IMarks Marks => _links;

    private bool Gated => options.FanOut == FanOutMode.Gated;

    /// <summary>Takes a tick's mark unless a newer one of its market is known; the shard dropped the band to deliver it.</summary>
    public bool TakeTick(MarketTick tick)
    {
        if (!_links.ApplyMark(tick.Market, tick.Sequence, tick.Price, tick.Multiplier))
        {
            return false;
        }

        if (tick.Evaluate)
        {
            _links.SetBandHeld(tick.Market, false);
        }

        return true;
    }

    /// <summary>Registers with the holder shard of each market (before fetching, so no tick falls between) and fetches marks.</summary>
    public async Task LinkAsync(IReadOnlyCollection<string> markets, bool refresh)
    {
        foreach (var market in markets)
        {
            if (_links.Register(market))
            {
                await Shard(market).RegisterAsync(account);
            }
        }

        await RefreshAsync(refresh ? markets : [.. markets.Where(m => !_links.TryGetMark(m, out _))]);
    }

    public async Task UnlinkAsync(string market)
    {
        _links.Unregister(market);
        _standings?.Remove(market); // unregistering drops the standing there too
        await Shard(market).UnregisterAsync(account);
    }

    /// <summary>Fetches the current mark of each market from its market grain.</summary>
    public async Task RefreshAsync(IReadOnlyCollection<string> markets)
    {
        var marks = await Task.WhenAll(markets.Select(m => grains.Ref<IMarketGrain>(m).GetMarkAsync()));
        foreach (var mark in marks.OfType<MarkPrice>())
        {
            _links.ApplyMark(mark.Market, mark.Sequence, mark.Price, mark.Multiplier);
        }
    }

    /// <summary>
    /// With gating, ticks inside a band never reach the account: fetch the current marks of <paramref name="markets"/>
    /// unless no shard holds a band for it (then every tick of them reaches it).
    /// </summary>
    public Task RefreshIfGatedAsync(IReadOnlyList<string> markets, string? except = null) =>
        Gated && markets.Any(m => _links.BandHeld(m) != false)
            ? RefreshAsync([.. markets.Where(m => m != except)])
            : Task.CompletedTask;

    /// <summary>
    /// Hands each market's shard its band (or clears it) and returns the ticks the shards had that are newer than the
    /// marks the bands were computed at, taken here: the account must settle a step of its own for them.
    /// v3: with <paramref name="standing"/>, also keeps each shard's ADL index current — the standing goes (with the band,
    /// or alone without gating) to every shard whose copy is of another version, and once more to the shards of markets
    /// that no longer price the account.
    /// </summary>
    public async Task<IReadOnlyList<MarketTick>> BandAsync(
        IReadOnlyList<string> markets, IReadOnlyDictionary<string, SafeBand>? bands, AdlStanding? standing = null)
    {
        var sent = standing is null ? null : _standings ??= new(StringComparer.Ordinal);
        var stale = sent is null ? [] : markets.Where(m => !sent.TryGetValue(m, out var was) || was != (standing!.Version, standing.InAuction)).ToHashSet(StringComparer.Ordinal);
        var gone = sent is null ? [] : sent.Keys.Where(m => !markets.Contains(m)).ToList();
        var wire = stale.Count > 0 || gone.Count > 0 ? standing!.ToWire() : null; // copied once, only when a shard's copy is out of date

        // A market that no longer prices the account: its shard still has it as a holder until it unlinks, so it gets the
        // standing without a position there (known not to be a counterparty) and is no longer followed.
        var withdrawals = Task.WhenAll(gone.Select(m => Shard(m).SetStandingAsync(account, wire)));
        foreach (var m in gone)
        {
            sent!.Remove(m);
        }

        if (!Gated)
        {
            await Task.WhenAll(stale.Select(m => Shard(m).SetStandingAsync(account, wire)));
            await withdrawals;
            Remember(stale, wire);
            return [];
        }

        var replies = await Task.WhenAll(markets.Select(m =>
        {
            var band = bands is not null && bands.TryGetValue(m, out var b) ? b : (SafeBand?)null;
            var send = stale.Contains(m) ? wire : null;
            if (band is null && _links.BandHeld(m) == false && send is null)
            {
                return Task.FromResult<MarketTick?>(null); // no band there already: every tick reaches us
            }

            _links.SetBandHeld(m, band is not null);
            return Shard(m).SetBandAsync(account, band?.Low, band?.High, _links.Sequence(m), send);
        }));
        await withdrawals;
        Remember(stale, wire);
        return [.. replies.OfType<MarketTick>().Where(t => _links.ApplyMark(t.Market, t.Sequence, t.Price, t.Multiplier))];
    }

    private void Remember(IEnumerable<string> markets, AdlStandingView? standing)
    {
        if (standing is null)
        {
            return;
        }

        _standings ??= new(StringComparer.Ordinal);
        foreach (var m in markets)
        {
            _standings[m] = (standing.Version, standing.InAuction);
        }
    }

    private IMarketShardGrain Shard(string market) =>
        grains.Ref<IMarketShardGrain>(StableHash.ShardKey(market, StableHash.Shard(account, options.ShardsPerMarket)));
}
