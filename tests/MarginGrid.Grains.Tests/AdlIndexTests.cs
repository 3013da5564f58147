using System.Collections.Immutable;
using MarginGrid.Domain;
using Orleans.Core.Internal;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>
/// v3: the market shards' ranked index of ADL counterparties follows the accounts as they change — opened, filled,
/// closed out — and answers, merged over the shards, exactly the domain's ranking of the accounts' current holdings.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AdlIndexTests(ClusterFixture fixture)
{
    private readonly IGrainFactory _grains = fixture.Grains;

    private async Task<(ImmutableArray<AdlCandidate> Ranked, ImmutableArray<string> Unranked)> TopAsync(string market, bool shorts)
    {
        var config = (await _grains.GetGrain<IRiskConfigGrain>(0).GetAsync())!;
        var mark = (await _grains.GetGrain<IMarketGrain>(market).GetMarkAsync())!;
        var query = new AdlQuery(market, shorts, 1_000_000m, ImmutableDictionary<string, decimal>.Empty.Add(market, mark.Price), config.Version, []);
        var answers = await Task.WhenAll(Enumerable.Range(0, 4).Select(k => _grains.GetGrain<IMarketShardGrain>(StableHash.ShardKey(market, k)).AdlTopAsync(query)));
        Assert.All(answers, a => Assert.True(a.Exhausted)); // a quantity beyond everybody's
        var merged = answers.SelectMany(a => a.Ranked).ToList();
        merged.Sort((a, b) => AutoDeleveraging.Compare(new AdlKey(a.Score, a.Account), new AdlKey(b.Score, b.Account)));
        return ([.. merged], [.. answers.SelectMany(a => a.Unranked)]);
    }

    /// <summary>The domain's ranking of the accounts' holdings as they are now (fresh snapshots), at the market's mark.</summary>
    private async Task<List<(string Account, decimal Score)>> DomainAsync(string market, bool shorts, IEnumerable<string> accounts)
    {
        var config = (await _grains.GetGrain<IRiskConfigGrain>(0).GetAsync())!.ToDomain();
        var mark = (await _grains.GetGrain<IMarketGrain>(market).GetMarkAsync())!;
        var snapshots = await Task.WhenAll(accounts.Select(a => _grains.GetGrain<IAccountRiskGrain>(a).SnapshotAsync()));
        return [.. AutoDeleveraging.Rank(
                market, shorts, snapshots.OfType<AccountSnapshot>().Select(s => KeyValuePair.Create(s.Account, s.ToPortfolio())),
                new MarkBook([KeyValuePair.Create(market, mark.Price)]), config)
            .Select(r => (r.Account, r.Score))];
    }

    /// <summary>Runs <paramref name="test"/> with auto-deleveraging on in the shared configuration, and turns it off again.</summary>
    private async Task WithAdlAsync(Func<Task> test)
    {
        var configs = _grains.GetGrain<IRiskConfigGrain>(0);
        var before = (await configs.GetAsync())!;
        await configs.SetAsync(before with { Risk = before.Risk with { BankruptcyResolution = BankruptcyResolutions.Adl } });
        try
        {
            await test();
        }
        finally
        {
            var after = (await configs.GetAsync())!;
            await configs.SetAsync(after with { Risk = after.Risk with { BankruptcyResolution = before.Risk.BankruptcyResolution } });
        }
    }

    [Fact]
    public async Task Without_auto_deleveraging_accounts_hand_the_shards_no_standing()
    {
        var market = $"NOADL-{Guid.NewGuid():N}"[..20];
        await fixture.AddMarketsAsync(ClusterFixture.Market(market));
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(50_000m, "test", ClusterFixture.Time.GetUtcNow()));
        var id = $"noadl-{Guid.NewGuid():N}"[..16];
        await _grains.GetGrain<IAccountGrain>(id).OpenAsync(ClusterFixture.Seed(20_000m, new PositionSnapshot(market, -0.5m, 52_000m)));

        var (ranked, unranked) = await TopAsync(market, shorts: true);
        Assert.Empty(ranked);
        Assert.Equal([id], unranked.ToArray()); // a holder the planner would fetch itself if ADL were turned on
    }

    [Fact]
    public Task The_index_follows_opens_fills_and_closes_and_ranks_as_the_domain_does() => WithAdlAsync(async () =>
    {
        var market = $"ADL-{Guid.NewGuid():N}"[..20];
        await fixture.AddMarketsAsync(ClusterFixture.Market(market));
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(50_000m, "test", ClusterFixture.Time.GetUtcNow()));
        var ids = Enumerable.Range(0, 12).Select(i => $"adl-{i:D2}-{Guid.NewGuid():N}"[..16]).ToList();
        await Task.WhenAll(ids.Select((id, i) => _grains.GetGrain<IAccountGrain>(id).OpenAsync(ClusterFixture.Seed(
            20_000m + (i * 1_000m), new PositionSnapshot(market, i % 3 == 0 ? 0.5m + (i * 0.1m) : -(0.2m + (i * 0.05m)), 48_000m + (i * 500m))))));

        async Task AgreeAsync(string stage)
        {
            foreach (var shorts in new[] { true, false })
            {
                var (ranked, unranked) = await TopAsync(market, shorts);
                Assert.True(unranked.IsEmpty, $"{stage}: holders without a standing: {string.Join(", ", unranked)}");
                Assert.Equal(await DomainAsync(market, shorts, ids), [.. ranked.Select(r => (r.Account, r.Score))]);
            }
        }

        await AgreeAsync("opened");
        Assert.NotEmpty((await TopAsync(market, shorts: true)).Ranked);

        // A fill that doubles a short at a higher entry, and one that closes a short out: the index follows both.
        var doubled = ids[1];
        var closed = ids[2];
        await _grains.GetGrain<IAccountGrain>(doubled).FillAsync(new FillCommand("adl-fill-1", market, -0.25m, 60_000m));
        await _grains.GetGrain<IAccountGrain>(closed).FillAsync(new FillCommand("adl-fill-2", market, 0.3m, 50_000m));
        await AgreeAsync("filled");
        Assert.DoesNotContain((await TopAsync(market, shorts: true)).Ranked, r => r.Account == closed);

        // A price move changes every score: the index ranks at the mark it is asked at.
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(47_000m, "test", ClusterFixture.Time.GetUtcNow()));
        await AgreeAsync("moved");

        // A shard that lost its memory (reactivated) knows its holders but not their standings: it says so, and the
        // planner fetches those holders itself (and hands the shard their standings back).
        foreach (var k in Enumerable.Range(0, 4))
        {
            await _grains.GetGrain<IMarketShardGrain>(StableHash.ShardKey(market, k)).Cast<IGrainManagementExtension>().DeactivateOnIdle();
        }

        var (lost, unranked) = await TopAsync(market, shorts: true);
        Assert.Empty(lost);
        Assert.NotEmpty(unranked);
        Assert.All(unranked, u => Assert.Contains(u, ids));
    });
}
