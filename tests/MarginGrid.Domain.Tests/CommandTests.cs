namespace MarginGrid.Domain.Tests;

/// <summary>Fills, deposits, withdrawals and the pre-trade check (MARGIN-MODEL.md "Fills, deposits, withdrawals").</summary>
public sealed class CommandTests
{
    private const string Btc = "BTC-PERP";

    internal static RiskConfiguration ScenarioConfig { get; } = RiskConfiguration.Create(
        [new MarketSpec(Btc, 0.001m, 0.002m, [new(0m, 0.01m, 0.02m), new(100_000m, 0.02m, 0.04m), new(1_000_000m, 0.05m, 0.10m)])],
        [new CollateralSpec("BTC", 0.95m, Btc, 0.02m), new CollateralSpec("ETH", 0.9m, "ETH-PERP", 0.03m)]);

    private static MarkBook Marks(decimal btc) => new([new(Btc, btc)]);

    private static Portfolio Account(decimal usd, decimal size = 0m, decimal entry = 0m) =>
        Portfolio.Restore(
            usd == 0m ? [] : [new(Assets.Usd, usd)],
            size == 0m ? [] : [new(Btc, new Position(size, entry))],
            netUsdTransfers: usd);

    [Fact]
    public void FirstFillOpensAtTheFillPrice()
    {
        var p = new Portfolio();
        Assert.Equal(0m, p.ApplyFill(Btc, 1.5m, 50_000m));
        Assert.Equal(new Position(1.5m, 50_000m), p.PositionIn(Btc));
        Assert.Equal(0m, p.Usd);
    }

    [Theory]
    [InlineData(1, 100, 3, 200, 4, 175)]
    [InlineData(-2, 100, -2, 120, -4, 110)]
    [InlineData(0.5, 30000, 1.5, 31000, 2, 30750)]
    public void SameDirectionAveragesTheEntry(decimal s, decimal e, decimal f, decimal price, decimal size, decimal entry)
    {
        var p = Account(0m, s, e);
        Assert.Equal(0m, p.ApplyFill(Btc, f, price));
        Assert.Equal(new Position(size, entry), p.PositionIn(Btc));
        Assert.Equal(0m, p.RealizedPnl);
    }

    [Theory]
    [InlineData(4, 175, -1, 200, 25, 3, 175)] // partial close of a long: entry unchanged
    [InlineData(-2, 100, 1, 90, 10, -1, 100)] // partial close of a short at a profit
    [InlineData(-2, 100, 0.5, 130, -15, -1.5, 100)] // short closed at a loss
    public void OppositeDirectionRealizesOnTheClosedPart(decimal s, decimal e, decimal f, decimal price, decimal pnl, decimal size, decimal entry)
    {
        var p = Account(1000m, s, e);
        Assert.Equal(pnl, p.ApplyFill(Btc, f, price));
        Assert.Equal(new Position(size, entry), p.PositionIn(Btc));
        Assert.Equal(1000m + pnl, p.Usd);
        Assert.Equal(pnl, p.RealizedPnl);
        Assert.Equal(1000m, p.NetUsdTransfers);
    }

    [Fact]
    public void FlipRealizesTheWholeOldPositionAndOpensTheRemainderAtTheFillPrice()
    {
        var p = Account(1000m, 3m, 175m);
        Assert.Equal(-75m, p.ApplyFill(Btc, -5m, 150m)); // 3 × (150 − 175)
        Assert.Equal(new Position(-2m, 150m), p.PositionIn(Btc));
        Assert.Equal(925m, p.Usd);

        Assert.Equal(60m, p.ApplyFill(Btc, 3m, 120m)); // short 2 closed at 120: 2 × (150 − 120)
        Assert.Equal(new Position(1m, 120m), p.PositionIn(Btc));
        Assert.Equal(985m, p.Usd);
        Assert.Equal(-15m, p.RealizedPnl);
    }

    [Fact]
    public void ExactCloseRemovesThePosition()
    {
        var p = Account(0m, -1.234m, 40_000m);
        Assert.Equal(1.234m * 1_000m, p.ApplyFill(Btc, 1.234m, 39_000m));
        Assert.Null(p.PositionIn(Btc));
        Assert.False(p.HasPositions);
        Assert.Equal(1_234m, p.Usd);
    }

    [Fact]
    public void InvalidFillsAreRejected()
    {
        var marks = Marks(50_000m);
        Assert.Equal(RejectReasons.InvalidQuantity, AccountRules.CheckFill(Btc, 0m, 50_000m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InvalidPrice, AccountRules.CheckFill(Btc, 1m, 0m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InvalidPrice, AccountRules.CheckFill(Btc, 1m, -1m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.UnknownMarket, AccountRules.CheckFill("DOGE-PERP", 1m, 1m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.NoMark, AccountRules.CheckFill(Btc, 1m, 1m, new MarkBook(), ScenarioConfig).RejectReason);
        Assert.True(AccountRules.CheckFill(Btc, -1m, 1m, marks, ScenarioConfig).Accepted);

        var p = Account(100m, 1m, 100m);
        Assert.Throws<ArgumentOutOfRangeException>(() => p.ApplyFill(Btc, 0m, 100m));
        Assert.Throws<ArgumentOutOfRangeException>(() => p.ApplyFill(Btc, 1m, 0m));
        Assert.Equal(new Position(1m, 100m), p.PositionIn(Btc));
        Assert.Equal(100m, p.Usd);
    }

    [Fact]
    public void DepositsAreCheckedAndCounted()
    {
        Assert.Equal(RejectReasons.InvalidQuantity, AccountRules.CheckDeposit(Assets.Usd, 0m, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InvalidQuantity, AccountRules.CheckDeposit("BTC", -1m, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.AssetNotConfigured, AccountRules.CheckDeposit("DOGE", 1m, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.AssetNotPriced, AccountRules.CheckDeposit("ETH", 1m, ScenarioConfig).RejectReason);
        Assert.True(AccountRules.CheckDeposit(Assets.Usd, 1m, ScenarioConfig).Accepted);
        Assert.True(AccountRules.CheckDeposit("BTC", 0.5m, ScenarioConfig).Accepted);

        var p = new Portfolio();
        p.Deposit(Assets.Usd, 100m);
        p.Deposit("BTC", 0.5m);
        Assert.Equal(100m, p.Usd);
        Assert.Equal(0.5m, p.Balance("BTC"));
        Assert.Equal(100m, p.NetUsdTransfers); // only USD moves count as transfers
        Assert.Throws<ArgumentOutOfRangeException>(() => p.Deposit(Assets.Usd, 0m));
    }

    [Fact]
    public void WithdrawalRejectionReasons()
    {
        var marks = Marks(50_000m);
        var p = Account(10_000m, 2m, 50_000m);
        p.Deposit("BTC", 0.1m);
        Assert.Equal(RejectReasons.InvalidQuantity, AccountRules.CheckWithdrawal(p, Assets.Usd, 0m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InvalidQuantity, AccountRules.CheckWithdrawal(p, Assets.Usd, -5m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.AssetNotConfigured, AccountRules.CheckWithdrawal(p, "DOGE", 1m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InsufficientBalance, AccountRules.CheckWithdrawal(p, "BTC", 0.2m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InsufficientBalance, AccountRules.CheckWithdrawal(p, "ETH", 1m, marks, ScenarioConfig).RejectReason);
        Assert.Equal(RejectReasons.InsufficientBalance, AccountRules.CheckWithdrawal(p, Assets.Usd, 10_000.01m, marks, ScenarioConfig).RejectReason);
    }

    [Fact]
    public void WithdrawalMayGoDownToEquityEqualInitialMarginButNotBelow()
    {
        // Notional 100,000 sits on the second floor: IM = 100,000 × 0.04 − 100,000 × (0.04 − 0.02) = 2,000.
        var marks = Marks(50_000m);
        var p = Account(10_000m, 2m, 50_000m);
        var h = MarginCalculator.Evaluate(p, marks, ScenarioConfig);
        Assert.Equal(10_000m, h.Equity);
        Assert.Equal(2_000m, h.InitialMargin);
        Assert.Equal(1_000m, h.MaintenanceMargin);

        var refused = AccountRules.CheckWithdrawal(p, Assets.Usd, 8_000.01m, marks, ScenarioConfig);
        Assert.Equal(RejectReasons.InitialMargin, refused.RejectReason);
        Assert.Equal(10_000m, p.Usd); // nothing changed

        Assert.True(AccountRules.CheckWithdrawal(p, Assets.Usd, 8_000m, marks, ScenarioConfig).Accepted);
        p.Withdraw(Assets.Usd, 8_000m);
        Assert.Equal(2_000m, p.Usd);
        Assert.Equal(2_000m, p.NetUsdTransfers);
        h = MarginCalculator.Evaluate(p, marks, ScenarioConfig);
        Assert.Equal(h.InitialMargin, h.Equity);
    }

    [Fact]
    public void WithdrawingCollateralBackingADebtIsRefusedBelowZeroEquity()
    {
        // No positions: IM = 0, so a withdrawal is allowed while E stays ≥ 0. 1 BTC at 50,000 × 0.95 backs −40,000 USD.
        var marks = Marks(50_000m);
        var p = Portfolio.Restore([new(Assets.Usd, -40_000m), new("BTC", 1m)], []);
        Assert.Equal(7_500m, MarginCalculator.Evaluate(p, marks, ScenarioConfig).Equity);
        Assert.Equal(RejectReasons.InitialMargin, AccountRules.CheckWithdrawal(p, "BTC", 0.158m, marks, ScenarioConfig).RejectReason);
        Assert.True(AccountRules.CheckWithdrawal(p, "BTC", 0.15m, marks, ScenarioConfig).Accepted); // leaves E = 375
    }

    [Fact]
    public void PreTradeAllowsWithinInitialMarginAndRefusesABreach()
    {
        var marks = Marks(50_000m);
        var p = Account(1_000m, 1m, 50_000m); // E = 1,000 = IM (50,000 × 0.02)
        var more = AccountRules.PreTrade(p, Btc, 0.001m, 50_000m, marks, ScenarioConfig);
        Assert.False(more.Allowed);
        Assert.Equal(RejectReasons.InitialMargin, more.Reason);
        Assert.Equal(1_001m, more.HealthAfter!.Value.InitialMargin);

        var plenty = Account(2_000m, 1m, 50_000m);
        var ok = AccountRules.PreTrade(plenty, Btc, 0.5m, 50_000m, marks, ScenarioConfig);
        Assert.True(ok.Allowed);
        Assert.Null(ok.Reason);
        Assert.Equal(1m, p.PositionIn(Btc)!.Value.Size); // a check changes nothing
        Assert.Equal(1m, plenty.PositionIn(Btc)!.Value.Size);
    }

    [Fact]
    public void PreTradeAllowsReduceOnlyFillsEvenInBreachButNotAFlip()
    {
        var marks = Marks(49_000m);
        var p = Account(1_000m, 1m, 50_000m); // E = 0, IM = 980: in breach
        var h = MarginCalculator.Evaluate(p, marks, ScenarioConfig);
        Assert.True(h.Equity < h.InitialMargin);

        Assert.True(AccountRules.PreTrade(p, Btc, -0.5m, 49_000m, marks, ScenarioConfig).Allowed);
        Assert.True(AccountRules.PreTrade(p, Btc, -1m, 49_000m, marks, ScenarioConfig).Allowed); // exact close
        var flip = AccountRules.PreTrade(p, Btc, -1.5m, 49_000m, marks, ScenarioConfig);
        Assert.False(flip.Allowed); // not reduce-only: −0.5 short with E = 0 < IM = 490
        Assert.Equal(RejectReasons.InitialMargin, flip.Reason);
        var increase = AccountRules.PreTrade(p, Btc, 0.1m, 49_000m, marks, ScenarioConfig);
        Assert.False(increase.Allowed);

        var rejected = AccountRules.PreTrade(p, Btc, 0m, 49_000m, marks, ScenarioConfig);
        Assert.False(rejected.Allowed);
        Assert.Equal(RejectReasons.InvalidQuantity, rejected.Reason);
        Assert.Null(rejected.HealthAfter);
    }
}
