using Xunit;

namespace MarginGrid.Load.Tests;

/// <summary>The report's reading of its own closes per second: the feed's pace, or the grid's capacity.</summary>
public sealed class LoadReportTests
{
    private static LoadReport Run(double requested, double settled) => new()
    {
        Scenario = "crash-2020-03-12",
        FanOut = "gated",
        RequestedRate = requested,
        UpdatesPerSecond = settled,
        GridSeconds = 10,
        Liquidations = 120_000,
        Baseline = new BaselineResult(1, 1, 1, 0, 0, [], 0m, 0m) { LiquidationCloses = 120_000, LiquidationSeconds = 1 },
    };

    [Theory]
    [InlineData(200, 200.0, true)]
    [InlineData(200, 196.5, true)]
    [InlineData(200, 195.0, false)]
    [InlineData(1000, 234.9, false)]
    public void Closes_per_second_of_a_grid_that_kept_up_with_the_feed_are_reported_as_a_lower_bound(double requested, double settled, bool bound)
    {
        var report = Run(requested, settled);

        Assert.Equal(bound, report.FeedBound);
        Assert.Equal(bound, report.ToMarkdown().Contains("kept up with the feed, so this is a lower bound", StringComparison.Ordinal));
        Assert.Contains($"\"feedBound\": {(bound ? "true" : "false")}", report.ToJson(), StringComparison.Ordinal);
    }
}
