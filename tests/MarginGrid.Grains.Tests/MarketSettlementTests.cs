using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>Issue 9: which markets cannot settle, from reports that may arrive out of order.</summary>
public sealed class MarketSettlementTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void AFailedEvaluationMakesTheMarketUnsettledUntilALaterStepSettles()
    {
        var settlement = new MarketSettlement();
        settlement.StepSettled("ETH-USD", 4);
        settlement.EvaluationFailed("ETH-USD#5", "acct-2", T0);
        settlement.EvaluationFailed("ETH-USD#5", "acct-1", T0.AddSeconds(1));
        settlement.StepSettled("ETH-USD", 5); // the step itself settled without them: still unsettled
        var unsettled = Assert.Single(settlement.Unsettled());
        Assert.Equal("ETH-USD", unsettled.Market);
        Assert.Equal("ETH-USD#5", unsettled.Step);
        Assert.Equal(T0, unsettled.Since);
        Assert.Equal("2 account(s) could not be evaluated at ETH-USD#5 (acct-1, acct-2)", unsettled.Reason);

        settlement.StepSettled("ETH-USD", 6);
        Assert.Empty(settlement.Unsettled());
    }

    [Fact]
    public void AFailureReportedAfterItsStepSettledStillCounts()
    {
        var settlement = new MarketSettlement();
        settlement.StepSettled("ETH-USD", 5);
        settlement.EvaluationFailed("ETH-USD#5", "acct-1", T0);
        Assert.Single(settlement.Unsettled());
        settlement.EvaluationFailed("ETH-USD#4", "acct-9", T0); // older: does not replace the newest failed step
        Assert.Contains("(acct-1)", Assert.Single(settlement.Unsettled()).Reason, StringComparison.Ordinal);
        settlement.StepSettled("ETH-USD", 6);
        Assert.Empty(settlement.Unsettled());
    }

    [Fact]
    public void StepsThatFailRepeatedlyMakeTheMarketUnsettledUntilOneSettles()
    {
        var settlement = new MarketSettlement(failedStepsThreshold: 3);
        settlement.StepFailed("BTC-USD", "storage away", T0);
        settlement.StepFailed("BTC-USD", "storage away", T0);
        Assert.Empty(settlement.Unsettled()); // a failed step is retried by its callers: not yet a market that cannot settle
        settlement.StepFailed("BTC-USD", "storage still away", T0.AddSeconds(3));
        var unsettled = Assert.Single(settlement.Unsettled());
        Assert.Equal("its last 3 steps failed: storage still away", unsettled.Reason);
        Assert.Equal(T0.AddSeconds(3), unsettled.Since);

        settlement.StepSettled("BTC-USD", 1);
        Assert.Empty(settlement.Unsettled());
    }

    [Fact]
    public void OnlyTheFailingMarketIsNamedAndStepIdsWithoutASequenceAreIgnored()
    {
        var settlement = new MarketSettlement();
        settlement.StepSettled("ETH-USD", 1);
        settlement.EvaluationFailed("BTC-USD#7", "acct-1", T0);
        settlement.EvaluationFailed("ETH-USD#1/stale", "acct-2", T0);
        settlement.EvaluationFailed("fill-1", "acct-3", T0);
        Assert.Equal(["BTC-USD"], settlement.Unsettled().Select(m => m.Market));
    }
}
