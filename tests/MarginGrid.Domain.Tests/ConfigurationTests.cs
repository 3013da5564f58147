namespace MarginGrid.Domain.Tests;

/// <summary>Configuration validation: every rule of MARGIN-MODEL.md "Configuration" rejects with the offending field.</summary>
public sealed class ConfigurationTests
{
    private static readonly Bracket[] ValidBrackets =
    [
        new Bracket(0m, 0.01m, 0.02m),
        new Bracket(100_000m, 0.02m, 0.04m),
        new Bracket(1_000_000m, 0.05m, 0.10m),
    ];

    private static MarketSpec Btc(decimal phi = 0.002m, params Bracket[] brackets) =>
        new("BTC-PERP", 0.001m, phi, brackets.Length == 0 ? ValidBrackets : brackets);

    private static CollateralSpec BtcCollateral => new("BTC", 0.95m, "BTC-PERP", 0.02m);

    [Fact]
    public void TheScenarioConfigurationIsValid()
    {
        var config = RiskConfiguration.Create([Btc()], [BtcCollateral, new CollateralSpec("ETH", 0.9m, "ETH-PERP", 0.03m)]);
        Assert.Equal(1.25m, config.Risk.MarginCallRatio);
        Assert.Equal(1.10m, config.Risk.LiquidationTargetRatio);
        Assert.True(config.TryGetCollateral(Assets.Usd, out var usd));
        Assert.Equal(CollateralSpec.Usd, usd);
        Assert.True(config.IsPricedAsset("BTC"));
        Assert.False(config.IsPricedAsset("ETH")); // configured, but ETH-PERP is not a market
    }

    [Theory]
    [InlineData("floor-not-increasing", "markets[0].brackets[2].floor")]
    [InlineData("floor-out-of-order", "markets[0].brackets[2].floor")]
    [InlineData("first-floor-not-zero", "markets[0].brackets[0].floor")]
    [InlineData("second-market-first-floor", "markets[1].brackets[0].floor")]
    [InlineData("mmr-equals-imr", "markets[0].brackets[1].mmr")]
    [InlineData("mmr-above-imr", "markets[0].brackets[0].mmr")]
    [InlineData("mmr-decreases", "markets[0].brackets[1].mmr")]
    [InlineData("imr-decreases", "markets[0].brackets[2].imr")]
    [InlineData("mmr-zero", "markets[0].brackets[0].mmr")]
    [InlineData("imr-above-one", "markets[0].brackets[2].imr")]
    [InlineData("no-brackets", "markets[0].brackets")]
    [InlineData("penalty-at-bound", "markets[0].liquidationPenalty")]
    [InlineData("penalty-above-bound-with-gamma", "markets[0].liquidationPenalty")]
    [InlineData("penalty-negative", "markets[0].liquidationPenalty")]
    [InlineData("lot-zero", "markets[0].lotSize")]
    [InlineData("symbol-empty", "markets[0].symbol")]
    [InlineData("duplicate-symbol", "markets[1].symbol")]
    [InlineData("weight-zero", "collateral[0].weight")]
    [InlineData("weight-above-one", "collateral[1].weight")]
    [InlineData("discount-one", "collateral[0].liquidationDiscount")]
    [InlineData("discount-negative", "collateral[0].liquidationDiscount")]
    [InlineData("duplicate-asset", "collateral[1].asset")]
    [InlineData("usd-weight", "collateral[0].asset")]
    [InlineData("usd-price-market", "collateral[0].asset")]
    [InlineData("usd-discount", "collateral[0].asset")]
    [InlineData("asset-without-price-market", "collateral[0].priceMarket")]
    [InlineData("margin-call-ratio-below-one", "risk.marginCallRatio")]
    [InlineData("target-ratio-below-one", "risk.liquidationTargetRatio")]
    public void InvalidConfigurationNamesTheField(string rule, string field)
    {
        var ex = Assert.Throws<ConfigurationException>(() => Build(rule));
        Assert.Equal(field, ex.Field);
        Assert.StartsWith(field + ": ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("penalty-just-below-bound")]
    [InlineData("weight-one")]
    [InlineData("discount-zero")]
    [InlineData("usd-listed-correctly")]
    [InlineData("flat-rates-across-brackets")]
    [InlineData("single-bracket")]
    [InlineData("ratios-exactly-one")]
    public void BoundaryConfigurationsAreAccepted(string rule)
    {
        var config = Build(rule);
        Assert.NotEmpty(config.Markets);
    }

    private static RiskConfiguration Build(string rule) => rule switch
    {
        "floor-not-increasing" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(100_000m, 0.02m, 0.04m), new Bracket(100_000m, 0.05m, 0.1m))),
        "floor-out-of-order" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(1_000_000m, 0.02m, 0.04m), new Bracket(100_000m, 0.05m, 0.1m))),
        "first-floor-not-zero" => Markets(Btc(0.002m, new Bracket(10m, 0.01m, 0.02m))),
        "second-market-first-floor" => Markets(Btc(), new MarketSpec("ETH-PERP", 0.01m, 0.002m, [new Bracket(1m, 0.01m, 0.02m)])),
        "mmr-equals-imr" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(100_000m, 0.04m, 0.04m))),
        "mmr-above-imr" => Markets(Btc(0.002m, new Bracket(0m, 0.03m, 0.02m))),
        "mmr-decreases" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(100_000m, 0.009m, 0.04m))),
        "imr-decreases" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.05m), new Bracket(100_000m, 0.02m, 0.05m), new Bracket(200_000m, 0.03m, 0.049m))),
        "mmr-zero" => Markets(Btc(0m, new Bracket(0m, 0m, 0.02m))),
        "imr-above-one" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(100_000m, 0.5m, 0.9m), new Bracket(200_000m, 0.9m, 1.01m))),
        "no-brackets" => Markets(new MarketSpec("BTC-PERP", 0.001m, 0.002m, [])),
        "penalty-at-bound" => Markets(Btc(0.011m)), // γ × mmr₁ = 1.10 × 0.01
        "penalty-just-below-bound" => Markets(Btc(0.0109999m)),
        "penalty-above-bound-with-gamma" => RiskConfiguration.Create([Btc(0.0101m)], [], new RiskParameters(1.25m, 1.01m)),
        "penalty-negative" => Markets(Btc(-0.001m)),
        "lot-zero" => Markets(new MarketSpec("BTC-PERP", 0m, 0.002m, ValidBrackets)),
        "symbol-empty" => Markets(new MarketSpec(" ", 0.001m, 0.002m, ValidBrackets)),
        "duplicate-symbol" => Markets(Btc(), Btc()),
        "weight-zero" => Collateral(BtcCollateral with { Weight = 0m }),
        "weight-above-one" => Collateral(BtcCollateral, new CollateralSpec("SOL", 1.01m, "BTC-PERP", 0m)),
        "weight-one" => Collateral(BtcCollateral with { Weight = 1m }),
        "discount-one" => Collateral(BtcCollateral with { LiquidationDiscount = 1m }),
        "discount-negative" => Collateral(BtcCollateral with { LiquidationDiscount = -0.01m }),
        "discount-zero" => Collateral(BtcCollateral with { LiquidationDiscount = 0m }),
        "duplicate-asset" => Collateral(BtcCollateral, BtcCollateral with { Weight = 0.5m }),
        "usd-weight" => Collateral(CollateralSpec.Usd with { Weight = 0.9m }),
        "usd-price-market" => Collateral(CollateralSpec.Usd with { PriceMarket = "BTC-PERP" }),
        "usd-discount" => Collateral(CollateralSpec.Usd with { LiquidationDiscount = 0.01m }),
        "usd-listed-correctly" => Collateral(CollateralSpec.Usd, BtcCollateral),
        "asset-without-price-market" => Collateral(BtcCollateral with { PriceMarket = null }),
        "flat-rates-across-brackets" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m), new Bracket(100_000m, 0.01m, 0.02m))),
        "single-bracket" => Markets(Btc(0.002m, new Bracket(0m, 0.01m, 0.02m))),
        "margin-call-ratio-below-one" => RiskConfiguration.Create([Btc()], [], new RiskParameters(0.99m, 1.1m)),
        "target-ratio-below-one" => RiskConfiguration.Create([Btc()], [], new RiskParameters(1.25m, 0.99m)),
        "ratios-exactly-one" => RiskConfiguration.Create([Btc(0.0099m)], [], new RiskParameters(1m, 1m)),
        _ => throw new ArgumentOutOfRangeException(nameof(rule), rule),
    };

    private static RiskConfiguration Markets(params MarketSpec[] markets) => RiskConfiguration.Create(markets, [BtcCollateral]);

    private static RiskConfiguration Collateral(params CollateralSpec[] collateral) => RiskConfiguration.Create([Btc()], collateral);
}
