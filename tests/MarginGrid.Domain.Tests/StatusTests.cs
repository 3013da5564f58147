namespace MarginGrid.Domain.Tests;

/// <summary>
/// Status, first rule that applies: no positions and USD ≥ 0 → Healthy; E ≤ 0 → Bankrupt; no positions → Healthy;
/// E &lt; MM → Liquidatable; E &lt; c·MM → MarginCall; else Healthy.
/// </summary>
public sealed class StatusTests
{
    private static readonly RiskParameters Risk = new(1.25m, 1.10m);

    [Theory]
    // rule 1 wins over everything, even a (malformed) non-positive equity
    [InlineData(false, 0, 0, 0, AccountStatus.Healthy)]
    [InlineData(false, 5, -1, 0, AccountStatus.Healthy)]
    // rule 2: E ≤ 0 → Bankrupt, before "no positions → Healthy" and before E < MM
    [InlineData(false, -1, 0, 0, AccountStatus.Bankrupt)]
    [InlineData(false, -100, -3, 0, AccountStatus.Bankrupt)]
    [InlineData(true, 10, 0, 50, AccountStatus.Bankrupt)]
    [InlineData(true, 10, -0.01, 0.001, AccountStatus.Bankrupt)]
    // rule 3: a USD debt backed by collateral
    [InlineData(false, -100, 0.01, 0, AccountStatus.Healthy)]
    // rule 4: 0 < E < MM
    [InlineData(true, 0, 0.01, 50, AccountStatus.Liquidatable)]
    [InlineData(true, 0, 49.99, 50, AccountStatus.Liquidatable)]
    // rule 5: MM ≤ E < c·MM (E = MM is not liquidatable)
    [InlineData(true, 0, 50, 50, AccountStatus.MarginCall)]
    [InlineData(true, -10, 62.49, 50, AccountStatus.MarginCall)]
    // rule 6: E ≥ c·MM
    [InlineData(true, 0, 62.5, 50, AccountStatus.Healthy)]
    [InlineData(true, -10, 1000, 50, AccountStatus.Healthy)]
    public void ClassifyAppliesTheFirstMatchingRule(bool hasPositions, decimal usd, decimal equity, decimal mm, AccountStatus expected) =>
        Assert.Equal(expected, MarginCalculator.Classify(hasPositions, usd, equity, mm, Risk));

    [Fact]
    public void EvaluateUsesTheRuleOnRealPortfolios()
    {
        var config = CommandTests.ScenarioConfig;
        MarkBook Marks(decimal m) => new([new("BTC-PERP", m)]);
        var withPosition = Portfolio.Restore([new(Assets.Usd, 10_000m)], [new("BTC-PERP", new Position(2m, 50_000m))]);

        // MM = 1% of notional below 100,000; E = 10,000 + 2 × (M − 50,000)
        Assert.Equal(AccountStatus.Healthy, MarginCalculator.Evaluate(withPosition, Marks(47_000m), config).Status);
        Assert.Equal(AccountStatus.MarginCall, MarginCalculator.Evaluate(withPosition, Marks(45_480m), config).Status);
        Assert.Equal(AccountStatus.Liquidatable, MarginCalculator.Evaluate(withPosition, Marks(45_440m), config).Status);
        Assert.Equal(AccountStatus.Bankrupt, MarginCalculator.Evaluate(withPosition, Marks(45_000m), config).Status);
        Assert.Equal(AccountStatus.Bankrupt, MarginCalculator.Evaluate(withPosition, Marks(44_000m), config).Status);

        var debtBacked = Portfolio.Restore([new(Assets.Usd, -1_000m), new("BTC", 1m)], []);
        var h = MarginCalculator.Evaluate(debtBacked, Marks(50_000m), config);
        Assert.Equal(46_500m, h.Equity);
        Assert.Equal(AccountStatus.Healthy, h.Status);
        Assert.Null(h.Health);
        Assert.Equal(AccountStatus.Bankrupt, MarginCalculator.Evaluate(debtBacked, Marks(1_000m), config).Status);
    }

    [Fact]
    public void LiquidationOrderPutsAccountsWithoutPositionsFirstThenHealthThenId()
    {
        var flat = new AccountHealth(-5m, 0m, 0m, AccountStatus.Bankrupt, false);
        var low = new AccountHealth(50m, 100m, 200m, AccountStatus.Liquidatable, true);
        var high = new AccountHealth(90m, 100m, 200m, AccountStatus.Liquidatable, true);
        Assert.True(MarginCalculator.CompareForLiquidation("z", flat, "a", low) < 0);
        Assert.True(MarginCalculator.CompareForLiquidation("a", high, "z", low) > 0);
        Assert.True(MarginCalculator.CompareForLiquidation("a", low, "b", low) < 0);
        Assert.True(MarginCalculator.CompareForLiquidation("B", flat, "a", flat) < 0); // ordinal
    }
}
