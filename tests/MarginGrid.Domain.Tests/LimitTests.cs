namespace MarginGrid.Domain.Tests;

/// <summary>
/// Issue 9, bounded arithmetic across commands: the account aggregate refuses a fill or deposit whose result would take
/// a position or a balance beyond its market's or asset's limits, even when each command is within them on its own.
/// A command that does not make an out-of-bounds position or balance larger is never refused for the limits.
/// </summary>
public sealed class LimitTests
{
    private const string Eth = "ETH-PERP";
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Retention = TimeSpan.FromDays(7);

    /// <summary>ETH-PERP: max price 1000, max |size| 10, max notional 5000 (at entry); BTC max 3 units; USD max 1e6.</summary>
    private static RiskConfiguration Config { get; } = RiskConfiguration.Create(
        [
            new MarketSpec(Eth, 0.001m, 0.01m, [new(0m, 0.05m, 0.1m)]) { Limits = new MarketLimits(1_000m, 10m, 5_000m) },
            new MarketSpec("BTC-PERP", 0.001m, 0.01m, [new(0m, 0.05m, 0.1m)]),
        ],
        [
            new CollateralSpec(Assets.Usd, 1m, null, 0m) { MaxQuantity = 1_000_000m },
            new CollateralSpec("BTC", 0.9m, "BTC-PERP", 0.02m) { MaxQuantity = 3m },
        ]);

    private static MarkBook Marks(decimal eth = 100m) => new([new(Eth, eth), new("BTC-PERP", 100m)]);

    private static Account Open(decimal usd, decimal size = 0m, decimal entry = 100m)
    {
        var account = new Account("acct");
        account.Open(
            Portfolio.Restore([new(Assets.Usd, usd)], size == 0m ? [] : [new(Eth, new Position(size, entry))], netUsdTransfers: usd),
            Config);
        return account;
    }

    private static CommandStep Fill(Account account, string id, decimal size, decimal price = 100m, decimal mark = 100m) =>
        account.Execute(new AccountCommand.Fill(id, Eth, size, price), Marks(mark), Config, Now, Retention);

    private static CommandStep Deposit(Account account, string id, string asset, decimal quantity) =>
        account.Execute(new AccountCommand.Deposit(id, asset, quantity), Marks(), Config, Now, Retention);

    [Fact]
    public void FillsEachWithinMaxPositionSizeCannotAddUpBeyondIt()
    {
        var account = Open(100_000m);
        Assert.True(Fill(account, "f-1", 6m, 10m).Record.Accepted);
        var version = account.Version;

        var refused = Fill(account, "f-2", 6m, 10m); // each fill is 6 ≤ 10; together 12 > 10
        Assert.False(refused.Record.Accepted);
        Assert.Equal(RejectReasons.MaxPositionSize, refused.Record.Reason);
        Assert.Contains("maxPositionSize", refused.Record.Reason, StringComparison.Ordinal);
        Assert.Equal(ModelEventType.Rejected, Assert.Single(refused.Record.Events).Type);
        Assert.False(refused.NeedsLiquidation);
        Assert.Equal(new Position(6m, 10m), account.Holdings.PositionIn(Eth));
        Assert.Equal(version + 1, account.Version); // the refusal is recorded, nothing else changes

        Assert.True(Fill(account, "f-3", 4m, 10m).Record.Accepted); // up to the limit exactly
        Assert.Equal(10m, account.Holdings.PositionIn(Eth)!.Value.Size);
    }

    [Fact]
    public void ShortFillsAreBoundedToo()
    {
        var account = Open(100_000m);
        Assert.True(Fill(account, "f-1", -7m, 10m).Record.Accepted);
        Assert.Equal(RejectReasons.MaxPositionSize, Fill(account, "f-2", -4m, 10m).Record.Reason);
        Assert.True(Fill(account, "f-3", 10m, 10m).Record.Accepted); // a flip to long 3
        Assert.True(Fill(account, "f-4", 7m, 10m).Record.Accepted);
        Assert.Equal(10m, account.Holdings.PositionIn(Eth)!.Value.Size);
        Assert.Equal(RejectReasons.MaxPositionSize, Fill(account, "f-5", 17m, 10m).Record.Reason); // one fill beyond the limit
    }

    [Fact]
    public void FillsEachWithinMaxNotionalCannotAddUpBeyondIt()
    {
        var account = Open(100_000m);
        Assert.True(Fill(account, "f-1", 4m, 1_000m, mark: 1_000m).Record.Accepted); // 4000 ≤ 5000

        var refused = Fill(account, "f-2", 2m, 1_000m, mark: 1_000m); // 2000 ≤ 5000 alone; 6000 together
        Assert.Equal(RejectReasons.MaxNotional, refused.Record.Reason);
        Assert.Equal(new Position(4m, 1_000m), account.Holdings.PositionIn(Eth));
    }

    [Fact]
    public void AFillItselfBeyondTheLimitsIsRefusedByTheAggregate()
    {
        var account = Open(100_000m);
        Assert.Equal(RejectReasons.MaxPositionSize, Fill(account, "f-1", 11m, 1m).Record.Reason);
        Assert.Equal(RejectReasons.MaxPrice, Fill(account, "f-2", 1m, 1_001m).Record.Reason);
        Assert.Equal(RejectReasons.MaxNotional, Fill(account, "f-3", 6m, 900m).Record.Reason);
        Assert.Equal(RejectReasons.MaxPositionSize, Fill(account, "f-4", decimal.MaxValue, decimal.MaxValue).Record.Reason);
        Assert.Null(account.Holdings.PositionIn(Eth));
    }

    [Fact]
    public void DepositsEachWithinMaxQuantityCannotAddUpBeyondIt()
    {
        var account = Open(0m);
        Assert.True(Deposit(account, "d-1", "BTC", 2m).Record.Accepted);

        var refused = Deposit(account, "d-2", "BTC", 2m); // 2 ≤ 3 alone; 4 together
        Assert.Equal(RejectReasons.MaxQuantity, refused.Record.Reason);
        Assert.Contains("maxQuantity", refused.Record.Reason, StringComparison.Ordinal);
        Assert.Equal(2m, account.Holdings.Balance("BTC"));

        Assert.Equal(RejectReasons.MaxQuantity, Deposit(account, "d-3", Assets.Usd, 1_000_001m).Record.Reason);
        Assert.True(Deposit(account, "d-4", Assets.Usd, 1_000_000m).Record.Accepted);
        Assert.Equal(RejectReasons.MaxQuantity, Deposit(account, "d-5", Assets.Usd, 0.01m).Record.Reason);
        Assert.Equal(1_000_000m, account.Holdings.Usd);
    }

    [Fact]
    public void AFillWhoseRealizedPnlTakesUsdBeyondMaxQuantityIsRefused()
    {
        var account = Open(999_000m, size: 10m, entry: 100m);
        var refused = Fill(account, "f-1", -10m, 300m, mark: 300m); // realizes 10 × 200 = 2000: USD 1,001,000 > 1e6
        Assert.Equal(RejectReasons.MaxQuantity, refused.Record.Reason);
        Assert.Equal(new Position(10m, 100m), account.Holdings.PositionIn(Eth));
        Assert.Equal(999_000m, account.Holdings.Usd);
    }

    [Fact]
    public void APositionAlreadyBeyondTheLimitsMayAlwaysBeReduced()
    {
        // Held before the limit was lowered (or opened by an admin migration): reducing it is never refused.
        var account = Account.Restore(
            "acct", true, Portfolio.Restore([new(Assets.Usd, 100_000m)], [new(Eth, new Position(40m, 100m))], netUsdTransfers: 100_000m),
            AccountStatus.Healthy, true, 1, [], null, []);
        Assert.True(Fill(account, "f-1", -5m).Record.Accepted);
        Assert.Equal(35m, account.Holdings.PositionIn(Eth)!.Value.Size);
        Assert.Equal(RejectReasons.MaxPositionSize, Fill(account, "f-2", 1m).Record.Reason);
        Assert.True(Fill(account, "f-3", -10m).Record.Accepted);
        Assert.Equal(25m, account.Holdings.PositionIn(Eth)!.Value.Size);

        // The same for the notional at entry: 8 at 1000 = 8000 > 5000.
        var rich = Account.Restore(
            "rich", true, Portfolio.Restore([new(Assets.Usd, 100_000m)], [new(Eth, new Position(8m, 1_000m))], netUsdTransfers: 100_000m),
            AccountStatus.Healthy, true, 1, [], null, []);
        Assert.Equal(RejectReasons.MaxNotional, Fill(rich, "f-1", 1m).Record.Reason); // 9 at 900 = 8100 > 8000
        Assert.True(Fill(rich, "f-2", -3m, 1_000m).Record.Accepted); // 5 at 1000 = 5000
        Assert.Equal(new Position(5m, 1_000m), rich.Holdings.PositionIn(Eth));
    }

    [Fact]
    public void ARetryOfARefusedCommandIsTheStoredRefusal()
    {
        var account = Open(100_000m);
        Fill(account, "f-1", 10m);
        var first = Fill(account, "f-2", 1m);
        var retry = Fill(account, "f-2", 1m);
        Assert.True(retry.Duplicate);
        Assert.Equal(first.Record, retry.Record);
    }

    [Fact]
    public void PreTradeSaysAFillBeyondTheLimitsWouldBeRefused()
    {
        var holdings = Portfolio.Restore([new(Assets.Usd, 100_000m)], [new(Eth, new Position(6m, 100m))], netUsdTransfers: 100_000m);
        var result = AccountRules.PreTrade(holdings, Eth, 6m, 100m, Marks(), Config);
        Assert.False(result.Allowed);
        Assert.Equal(RejectReasons.MaxPositionSize, result.Reason);
        Assert.True(AccountRules.PreTrade(holdings, Eth, 4m, 100m, Marks(), Config).Allowed);
    }

    [Fact]
    public void AnAccountCannotBeOpenedBeyondTheLimits()
    {
        var big = Assert.Throws<ArgumentException>(() => new Account("a").Open(
            Portfolio.Restore([new(Assets.Usd, 1_000m)], [new(Eth, new Position(11m, 100m))], netUsdTransfers: 1_000m), Config));
        Assert.Contains("maxPositionSize", big.Message, StringComparison.Ordinal);
        var rich = Assert.Throws<ArgumentException>(() => new Account("b").Open(
            Portfolio.Restore([new("BTC", 4m)], [], netUsdTransfers: 0m), Config));
        Assert.Contains("maxQuantity", rich.Message, StringComparison.Ordinal);
        var opened = new Account("c");
        opened.Open(Portfolio.Restore([new("BTC", 3m)], [new(Eth, new Position(-10m, 500m))], netUsdTransfers: 0m), Config);
        Assert.True(opened.Opened);
    }

    [Fact]
    public void ConfiguredLimitsAreValidatedAgainstTheCeilings()
    {
        var market = new MarketSpec(Eth, 0.001m, 0.01m, [new(0m, 0.05m, 0.1m)]);
        var tooBig = Assert.Throws<ConfigurationException>(() => RiskConfiguration.Create(
            [new MarketSpec(Eth, 0.001m, 0.01m, [new(0m, 0.05m, 0.1m)]) { Limits = new MarketLimits(Limits.PriceCeiling * 10m, 1m, 1m) }], []));
        Assert.Equal("markets[0].limits.maxPrice", tooBig.Field);
        var zero = Assert.Throws<ConfigurationException>(() => RiskConfiguration.Create(
            [market], [new CollateralSpec("BTC", 0.9m, Eth, 0m) { MaxQuantity = 0m }]));
        Assert.Equal("collateral[0].maxQuantity", zero.Field);
        Assert.Equal(MarketLimits.Default, market.Limits);
    }

    [Fact]
    public void AnAuctionPurchaseCannotTakeABalanceBeyondItsLimit()
    {
        var account = Open(100_000m);
        Assert.True(Deposit(account, "d-btc", "BTC", 2m).Record.Accepted);

        // BTC max 3: buying 1.5 BTC at an auction would hold 3.5.
        Assert.Equal(RejectReasons.MaxQuantity, account.PurchaseRefusal("BTC", 1.5m, 150m, Marks(), Config));
        Assert.Null(account.PurchaseRefusal("BTC", 1m, 100m, Marks(), Config)); // up to the limit exactly
        Assert.Equal(RejectReasons.InitialMargin, Open(0m).PurchaseRefusal("BTC", 1m, 100m, Marks(), Config)); // paid with USD it does not have
    }
}
