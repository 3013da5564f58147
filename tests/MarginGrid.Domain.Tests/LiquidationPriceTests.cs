namespace MarginGrid.Domain.Tests;

/// <summary>Hand-computed liquidation prices, including a two-root case where the nearest root must be chosen.</summary>
public sealed class LiquidationPriceTests
{
    [Fact]
    public void Scenario01LongLiquidatesBetween45440And45480()
    {
        // E = 10,000 + 2 (M − 50,000) = 2M − 90,000; MM = 0.01 × 2M in the first bracket: 1.98 M = 90,000.
        var alice = Portfolio.Restore([new(Assets.Usd, 10_000m)], [new("BTC-PERP", new Position(2m, 50_000m))]);
        var price = LiquidationPrice.For(alice, "BTC-PERP", new MarkBook([new("BTC-PERP", 50_000m)]), CommandTests.ScenarioConfig);
        Assert.Equal(90_000m / 1.98m, price);
        Assert.InRange(price!.Value, 45_440m, 45_480m);
        Assert.Null(LiquidationPrice.For(alice, "ETH-PERP", new MarkBook([new("BTC-PERP", 50_000m)]), CommandTests.ScenarioConfig));
    }

    [Theory]
    [InlineData(12_000, "13000")] // nearer the upper root
    [InlineData(7_000, "5263.1578947368421052631578947")] // nearer the lower root: 1,000 / 0.19
    public void ShortWithSameMarketCollateralHasTwoRootsAndTheNearestIsReturned(decimal mark, string expectedText)
    {
        // Short 1 @ 10,000 with 2 units of X (w 0.6) priced by Z and USD −11,000: E = −1,000 + 0.2 M.
        // MM = 0.01 M below 10,000 and 0.5 M − 4,900 above, so E − MM rises to 10,000 and then falls:
        // roots at 1,000 / 0.19 and at 13,000.
        var expected = decimal.Parse(expectedText, System.Globalization.CultureInfo.InvariantCulture);
        var config = RiskConfiguration.Create(
            [new MarketSpec("Z", 1m, 0m, [new Bracket(0m, 0.01m, 0.02m), new Bracket(10_000m, 0.5m, 0.6m)])],
            [new CollateralSpec("X", 0.6m, "Z", 0m)]);
        var p = Portfolio.Restore([new(Assets.Usd, -11_000m), new("X", 2m)], [new("Z", new Position(-1m, 10_000m))]);
        var marks = new MarkBook([new("Z", mark)]);
        var h = MarginCalculator.Evaluate(p, marks, config);
        Assert.True(h.Equity > h.MaintenanceMargin);

        var price = LiquidationPrice.For(p, "Z", marks, config);
        Assert.NotNull(price);
        Reference.Near(expected, price.Value, 0.0000000000000000000001m);
    }
}
