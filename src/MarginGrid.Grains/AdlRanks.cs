using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// v3: where each position of an account stands in its market's auto-deleveraging queue (docs/margin-model.md, "ADL
/// rank"): its score at the current marks (<see cref="AutoDeleveraging.Score"/>) placed among the eligible positions on
/// its side that the market's shards rank (<see cref="IMarketShardGrain.AdlPlaceAsync"/>). I/O only.
/// </summary>
public sealed class AdlRanks(IGrainFactory grains, GridOptions options, RiskConfigProvider configs)
{
    /// <summary>
    /// The view with <see cref="PositionView.AdlQuantile"/> set on each position that is in its queue: <c>(n − a) / n</c>,
    /// n the eligible positions on its side (itself included), a those ranked before it — 1 for the first deleveraged.
    /// Null when auto-deleveraging is off, the position is no counterparty (not in profit, equity ≤ 0) or the account is in auction.
    /// </summary>
    public async Task<AccountView> WithQuantilesAsync(AccountView view)
    {
        if (view.Positions.IsEmpty)
        {
            return view;
        }

        var (config, version) = await configs.GetAsync(); // an account exists: so does a configuration
        if (!config.Risk.AutoDeleveraging
            || await grains.Ref<IAccountRiskGrain>(view.Account).SnapshotAsync() is not { InAuction: false } snapshot)
        {
            return view;
        }

        var marks = await new LiquidationPlanner(grains, options).MarksAsync(config);
        var wire = marks.All.ToImmutableDictionary(StringComparer.Ordinal);
        var portfolio = snapshot.ToPortfolio();
        var positions = await Task.WhenAll(view.Positions.Select(async p => p with
        {
            AdlQuantile = await QuantileAsync(view.Account, portfolio, p.Market, marks, wire, config, version),
        }));
        return view with { Positions = [.. positions] };
    }

    private async Task<decimal?> QuantileAsync(
        string account, Portfolio portfolio, string market, MarkBook marks, ImmutableDictionary<string, decimal> wire, RiskConfiguration config, long version)
    {
        decimal? score;
        try
        {
            score = AutoDeleveraging.Score(portfolio, market, marks, config);
        }
        catch (MissingMarkException)
        {
            return null; // a market without a price yet
        }

        if (score is not { } s || portfolio.PositionIn(market) is not { } position)
        {
            return null;
        }

        var query = new AdlPlaceQuery(market, position.Size < 0m, s, account, wire, version);
        var places = await Task.WhenAll(Enumerable.Range(0, options.ShardsPerMarket)
            .Select(k => grains.Ref<IMarketShardGrain>(StableHash.ShardKey(market, k)).AdlPlaceAsync(query)));
        var n = places.Sum(p => p.Total) + 1m;
        return (n - places.Sum(p => p.Ahead)) / n;
    }
}
