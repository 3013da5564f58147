namespace MarginGrid.Domain.Tests;

/// <summary>Scenario 01 (partial long), re-derived from the domain alone and checked against hand arithmetic.</summary>
public sealed class WorkedExampleTests
{
    private const string Btc = "BTC-PERP";

    [Fact]
    public void Scenario01FirstLiquidationClosesTheLeastLotsAt45440()
    {
        var config = CommandTests.ScenarioConfig;
        var alice = Portfolio.Restore([new(Assets.Usd, 10_000m)], [new(Btc, new Position(2m, 50_000m))], netUsdTransfers: 10_000m);
        var marks = new MarkBook([new(Btc, 45_440m)]);

        // E = 10,000 + 2 × (45,440 − 50,000) = 880; N = 90,880 (first bracket) so MM = 908.8 > E.
        var h = MarginCalculator.Evaluate(alice, marks, config);
        Assert.Equal(880m, h.Equity);
        Assert.Equal(908.8m, h.MaintenanceMargin);
        Assert.Equal(AccountStatus.Liquidatable, h.Status);

        // Closing q: E' = 880 − 0.002 × q × 45,440 and MM' = (2 − q) × 454.4; E' ≥ 1.1 × MM' ⇔ 408.96 q ≥ 119.68,
        // q ≥ 0.29264…, so the least multiple of 0.001 is 0.293 (0.292 falls short: 853.46304 < 853.72672).
        Assert.False(880m - (0.002m * 0.292m * 45_440m) >= 1.1m * (2m - 0.292m) * 454.4m);
        Assert.True(880m - (0.002m * 0.293m * 45_440m) >= 1.1m * (2m - 0.293m) * 454.4m);

        var ledger = new InsuranceLedger(1_000m);
        var result = Liquidator.Liquidate(alice, marks, config);
        Assert.Null(ledger.Apply(result));
        var close = Assert.Single(result.Closes);
        Assert.Equal(new PositionClose(Btc, 0.293m, 45_440m, 26.62784m, 0.293m * -4_560m), close);
        Assert.Empty(result.Sales);
        Assert.Equal(0m, result.Deficit);
        Assert.Equal(new Position(1.707m, 50_000m), alice.PositionIn(Btc));
        Assert.Equal(10_000m - 1_336.08m - 26.62784m, alice.Usd);
        Assert.Equal(1_026.62784m, ledger.Fund);

        h = MarginCalculator.Evaluate(alice, marks, config);
        Assert.Equal(853.37216m, h.Equity);
        Assert.Equal(775.6608m, h.MaintenanceMargin);
        Assert.True(h.Equity >= 1.1m * h.MaintenanceMargin);
    }

    [Fact]
    public void Scenario01EndsInBankruptcyCoveredByTheFundAndSocialized()
    {
        var config = CommandTests.ScenarioConfig;
        var alice = Portfolio.Restore([new(Assets.Usd, 10_000m)], [new(Btc, new Position(2m, 50_000m))], netUsdTransfers: 10_000m);
        var ledger = new InsuranceLedger(1_000m);
        var statuses = new List<AccountStatus>();
        foreach (var price in new[] { 50_000m, 47_000m, 45_480m, 45_440m, 47_000m, 44_000m })
        {
            var marks = new MarkBook([new(Btc, price)]);
            var h = MarginCalculator.Evaluate(alice, marks, config);
            statuses.Add(h.Status);
            if (h.NeedsLiquidation)
            {
                var result = Liquidator.Liquidate(alice, marks, config);
                var cover = ledger.Apply(result);
                if (price == 44_000m)
                {
                    // E = 8,637.29216 + 1.707 × (44,000 − 50,000) = −1,604.70784 ≤ 0: close all, no penalty, bankrupt.
                    Assert.Equal(new PositionClose(Btc, 1.707m, 44_000m, 0m, -10_242m), Assert.Single(result.Closes));
                    Assert.Equal(new BankruptcyCover(1_604.70784m, 1_026.62784m, 578.08m), cover);
                }
            }

            Assert.True(Conservation.Check([LiquidationProperties.Entry(alice)], 1_000m, ledger.Fund, ledger.SocializedLoss).Holds);
        }

        Assert.Equal(
            [AccountStatus.Healthy, AccountStatus.Healthy, AccountStatus.MarginCall, AccountStatus.Liquidatable, AccountStatus.Healthy, AccountStatus.Bankrupt],
            statuses);
        Assert.False(alice.HasPositions);
        Assert.Equal(0m, alice.Usd);
        Assert.Empty(alice.Balances);
        Assert.Equal(0m, ledger.Fund);
        Assert.Equal(578.08m, ledger.SocializedLoss);
    }
}
