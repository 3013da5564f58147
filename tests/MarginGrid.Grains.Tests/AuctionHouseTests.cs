using System.Collections.Immutable;
using System.Diagnostics;
using MarginGrid.Grains;
using Orleans.Core.Internal;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>
/// The auction house: its registry is persisted (a new activation still knows every running auction), and an auction
/// ends at its deadline on the engine's (fake) clock by the house's timer, with no step after it.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class AuctionHouseTests(ClusterFixture fixture)
{
    private readonly IGrainFactory _grains = fixture.Grains;

    [Fact]
    public async Task A_running_auction_is_kept_across_activations_of_the_house_and_ends_at_its_deadline_without_a_step()
    {
        var (_, perp, asset, debtor) = await DebtorWithAuctionedCollateralAsync("AH", "debtor");

        var step = await PriceAsync(perp, 53_600m);

        Assert.Single(step.Events, e => e.Type == GridEventType.AuctionStart);
        var house = _grains.GetGrain<IAuctionHouseGrain>(0);
        var scheduled = Assert.Single(await house.ListAsync(), a => a.Auction.Account == debtor.GetPrimaryKeyString());
        Assert.Equal((asset, 2m, 2_200m), (scheduled.Auction.Asset, scheduled.Auction.Lot, scheduled.Auction.Top));
        Assert.Equal(scheduled.Auction.Start.AddTicks(10 * TimeSpan.TicksPerSecond + 1), scheduled.Deadline);

        // A new activation of the house reads the registry back from storage (it no longer waits for accounts to re-register).
        await house.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        Assert.Contains(await house.ListAsync(), a => a.Auction == scheduled.Auction && a.Deadline == scheduled.Deadline);

        // The engine's clock passes the deadline; nothing else happens — no price step, no command.
        ClusterFixture.Time.Advance(scheduled.Deadline - ClusterFixture.Time.GetUtcNow());
        var clock = Stopwatch.StartNew();
        ImmutableArray<GridEvent> events;
        while (!(events = await debtor.GetRecentEventsAsync()).Any(e => e.Type == GridEventType.AuctionEnd))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the auction did not end at its deadline: {string.Join(", ", events.Select(e => e.TypeName))}");
            await Task.Delay(TimeSpan.FromMilliseconds(50)); // polling a condition with a deadline
        }

        var end = events.Single(e => e.Type == GridEventType.AuctionEnd);
        Assert.Equal(scheduled.Deadline, end.Timestamp);
        var sale = events.SkipWhile(e => e != end).Skip(1).First();
        Assert.Equal((GridEventType.CollateralLiquidation, asset), (sale.Type, sale.Asset)); // the fallback: the lot sold to the system
        Assert.DoesNotContain(await house.ListAsync(), a => a.Auction.Account == debtor.GetPrimaryKeyString());
        Assert.False((await _grains.GetGrain<IAccountRiskGrain>(debtor.GetPrimaryKeyString()).SnapshotAsync())!.InAuction);
    }

    [Fact]
    public async Task A_take_persists_its_events_with_the_take_itself()
    {
        var (id, perp, asset, debtor) = await DebtorWithAuctionedCollateralAsync("AT", "taken");
        var keeper = _grains.GetGrain<IAccountGrain>($"keeper-{id}");
        await keeper.OpenAsync(new AccountSeed(ImmutableDictionary<string, decimal>.Empty.Add("USD", 100_000m), []));
        Assert.Single((await PriceAsync(perp, 53_600m)).Events, e => e.Type == GridEventType.AuctionStart);

        var bid = await keeper.BidAsync(new BidCommand("take-1", debtor.GetPrimaryKeyString(), asset, 0.1m, 3_000m));
        Assert.True(bid.Accepted, bid.Reason);

        // The debtor's activation goes away without another write: what storage holds must already have the take's events.
        await _grains.GetGrain<IAccountRiskGrain>(debtor.GetPrimaryKeyString()).Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var events = await debtor.GetRecentEventsAsync();
        Assert.Contains(events, e => e.Type == GridEventType.AuctionTake && e.Quantity == 0.1m);

        // The rest of the debt: the auction ends (and leaves nothing running for the tests that move the clock).
        Assert.True((await keeper.BidAsync(new BidCommand("take-2", debtor.GetPrimaryKeyString(), asset, 2m, 3_000m))).Accepted);
        Assert.False((await _grains.GetGrain<IAccountRiskGrain>(debtor.GetPrimaryKeyString()).SnapshotAsync())!.InAuction);
        Assert.DoesNotContain(await _grains.GetGrain<IAuctionHouseGrain>(0).ListAsync(), a => a.Auction.Account == debtor.GetPrimaryKeyString());
    }

    /// <summary>
    /// Markets of its own (a perpetual and the collateral's market, priced), a collateral sold at a Dutch auction, and a
    /// debtor that owes USD against 2 of that collateral and is long the perpetual: a fall of the perpetual to 53,600
    /// starts an auction of its collateral.
    /// </summary>
    private async Task<(string Id, string Perp, string Asset, IAccountGrain Debtor)> DebtorWithAuctionedCollateralAsync(string prefix, string debtorName)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        var (perp, collateralMarket, asset) = ($"{prefix}{id}-PERP", $"{prefix}C{id}-PERP", $"{prefix}{id}");
        await fixture.AddAsync(
            [ClusterFixture.Market(perp), ClusterFixture.Market(collateralMarket)],
            [new CollateralConfig(asset, 0.9m, collateralMarket, 0.03m) { Auction = new AuctionConfig(1.1m, 1m, 0.99m, 10m, 0.5m) }]);
        await PriceAsync(perp, 60_000m);
        await PriceAsync(collateralMarket, 2_000m);
        var debtor = _grains.GetGrain<IAccountGrain>($"{debtorName}-{id}");
        await debtor.OpenAsync(new AccountSeed(
            ImmutableDictionary<string, decimal>.Empty.Add("USD", -500m).Add(asset, 2m), [new PositionSnapshot(perp, 0.5m, 60_000m)]));
        return (id, perp, asset, debtor);
    }

    private Task<StepOutcome> PriceAsync(string market, decimal price) =>
        _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(price, "test", ClusterFixture.Time.GetUtcNow()));
}
