namespace MarginGrid.Domain.Tests;

/// <summary>
/// <see cref="DutchAuction.Deadline"/>: the first instant at which <see cref="DutchAuction.Expired"/> holds, to the tick —
/// the engine's auction timers fire there, and a step's start ends exactly the auctions whose deadline has come.
/// </summary>
public sealed class DutchAuctionDeadlineTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    // tail first: cut^k stays ≥ cusp past the tail; the first instant after t0 + tail (elapsed > tail, strictly)
    [InlineData("1.2", "10", "0.9", "30", "0.01", 300_000_001L)]
    // cusp first: 0.5^4 = 0.0625 < 0.1 at k = 4, i.e. at 4 × 10 s = 40 s, before the tail of 100 s
    [InlineData("1.1", "10", "0.5", "100", "0.1", 400_000_000L)]
    // a fractional step: 0.8^3 = 0.512 < 0.6 at k = 3, 3 × 0.25 s
    [InlineData("1", "0.25", "0.8", "60", "0.6", 7_500_000L)]
    // a tail that is not a whole number of ticks: the first tick after it
    [InlineData("1", "1", "0.99", "0.00000005", "0.5", 1L)]
    public void The_deadline_is_the_first_expired_tick(string buf, string step, string cut, string tail, string cusp, long expectedTicks)
    {
        var spec = new AuctionSpec(D(buf), D(step), D(cut), D(tail), D(cusp));

        var deadline = DutchAuction.Deadline(Start, spec);

        Assert.Equal(expectedTicks, (deadline - Start).Ticks);
        Assert.True(DutchAuction.Expired(spec, DutchAuction.Elapsed(Start, deadline)));
        Assert.False(DutchAuction.Expired(spec, DutchAuction.Elapsed(Start, deadline.AddTicks(-1))));
    }

    [Fact]
    public void Time_left_counts_down_to_zero_on_the_engine_clock()
    {
        var spec = new AuctionSpec(1.2m, 10m, 0.9m, 30m, 0.01m);

        Assert.Equal(TimeSpan.FromTicks(300_000_001L), DutchAuction.TimeLeft(Start, spec, Start));
        Assert.Equal(TimeSpan.FromTicks(100_000_001L), DutchAuction.TimeLeft(Start, spec, Start.AddSeconds(20)));
        Assert.Equal(TimeSpan.Zero, DutchAuction.TimeLeft(Start, spec, Start.AddSeconds(31)));
    }

    [Fact]
    public void Deadlines_agree_with_expiry_for_many_specs()
    {
        var random = new Random(13);
        for (var i = 0; i < 500; i++)
        {
            var spec = new AuctionSpec(
                1m + random.Next(0, 100) / 100m,
                random.Next(1, 10_000) / 1000m,
                random.Next(1, 999) / 1000m,
                random.Next(1, 100_000) / 1000m,
                random.Next(1, 999) / 1000m);
            var start = Start.AddTicks(random.Next());

            var deadline = DutchAuction.Deadline(start, spec);

            Assert.True(DutchAuction.Expired(spec, DutchAuction.Elapsed(start, deadline)), $"{spec} at {deadline:O}");
            Assert.False(DutchAuction.Expired(spec, DutchAuction.Elapsed(start, deadline.AddTicks(-1))), $"{spec} before {deadline:O}");
        }
    }

    private static decimal D(string s) => decimal.Parse(s, System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>The end fence in the aggregate: an expired auction quotes nothing and sells nothing, even before its end is applied.</summary>
public sealed class AuctionFenceTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
    private static readonly AuctionSpec Rule = new(1.1m, 10m, 0.95m, 120m, 0.6m);

    private static readonly RiskConfiguration Config = RiskConfiguration.Create(
        [new MarketSpec("BTC-PERP", 0.001m, 0.002m, [new(0m, 0.01m, 0.02m)])],
        [new CollateralSpec("ETH", 0.9m, "ETH-PERP", 0.03m) { Auction = Rule }]);

    private static Account InAuction() => Account.Restore(
        "debtor", true, Portfolio.Restore([new("USD", -3700m), new("ETH", 2m)], [], netUsdTransfers: 0m), AccountStatus.Bankrupt, true, 7, [], null, [],
        new RunningAuction("ETH", 2m, Start, 2200m));

    [Fact]
    public void Up_to_the_deadline_it_quotes_and_sells_from_it_on_it_refuses()
    {
        var deadline = DutchAuction.Deadline(Start, Rule); // 0.95^10 < 0.6: at 100 s
        var marks = new MarkBook([new("ETH-PERP", 2000m)]);

        var last = InAuction();
        Assert.NotNull(last.AuctionQuote("ETH", deadline.AddTicks(-1), Config));
        Assert.NotNull(last.TakeAtAuction("l/1", "l", "ETH", 1m, 1200m, 1200m, marks, Config, deadline.AddTicks(-1)));

        var late = InAuction();
        Assert.Null(late.AuctionQuote("ETH", deadline, Config));
        Assert.Null(late.TakeAtAuction("l/2", "l", "ETH", 1m, 1200m, 1200m, marks, Config, deadline));
        Assert.Equal((-3700m, 2m, 7L), (late.Holdings.Usd, late.Holdings.Balance("ETH"), late.Version)); // nothing changed
    }

    /// <summary>
    /// A take that empties the lot ends the auction, and the end needs the auctioned asset's configuration: with the
    /// asset no longer configured (a configuration change while its auction runs) the end fails, and the take must leave
    /// nothing behind — not the sale, not the bid id (a retried bid would otherwise answer "taken" for a sale that was
    /// never written).
    /// </summary>
    [Fact]
    public void A_take_whose_auction_end_fails_changes_nothing()
    {
        var config = RiskConfiguration.Create(
            [new MarketSpec("BTC-PERP", 0.001m, 0.002m, [new(0m, 0.01m, 0.02m)])],
            [new CollateralSpec("BTC", 0.9m, "BTC-PERP", 0.03m)]); // ETH, the auctioned asset, no longer configured
        var account = Account.Restore(
            "debtor", true, Portfolio.Restore([new("USD", -3700m), new("ETH", 2m), new("BTC", 1m)], [], netUsdTransfers: 0m), AccountStatus.Bankrupt, true, 7, [], null, [],
            new RunningAuction("ETH", 2m, Start, 2200m));
        var marks = new MarkBook([new("ETH-PERP", 2000m), new("BTC-PERP", 60000m)]);

        Assert.Throws<InvalidOperationException>(() => account.TakeAtAuction("l/1", "l", "ETH", 2m, 1000m, 500m, marks, config, Start.AddSeconds(1)));

        Assert.Equal((-3700m, 2m, 1m, 7L), (account.Holdings.Usd, account.Holdings.Balance("ETH"), account.Holdings.Balance("BTC"), account.Version));
        Assert.Equal(new RunningAuction("ETH", 2m, Start, 2200m), account.Auction);
        Assert.DoesNotContain("l/1", account.RecentLiquidations);
        Assert.Null(account.Outbox);
    }
}
