using System.Text.Json;
using MarginGrid.Grains;
using Spectre.Console;
using Xunit;

namespace MarginGrid.Load.Tests;

/// <summary>
/// Small load runs (seconds): the grid's margin calls and liquidations are exactly the exhaustive baseline's (zero misses,
/// zero extras) and money is conserved. Speed is not asserted here; it lives in the load tool's report.
/// </summary>
public sealed class LoadSmokeTests
{
    /// <summary>A run of seconds: 600 accounts, 4 markets, 4 s at 400 updates/s, no live display.</summary>
    private static LoadOptions Small(LoadScenario scenario) => new()
    {
        Scenario = scenario,
        Accounts = 600,
        Markets = 4,
        Duration = TimeSpan.FromSeconds(4),
        Rate = 400,
        Plain = true,
    };

    private static readonly IAnsiConsole Quiet = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });

    [Theory]
    [InlineData(LoadScenario.Crash20200312, FanOutMode.Gated)]
    [InlineData(LoadScenario.Crash20200312, FanOutMode.Naive)]
    [InlineData(LoadScenario.Wick, FanOutMode.Gated)]
    [InlineData(LoadScenario.Cascade, FanOutMode.Gated)]
    [InlineData(LoadScenario.OracleAttack, FanOutMode.Gated)]
    [InlineData(LoadScenario.Calm, FanOutMode.Gated)]
    public async Task The_grid_decides_exactly_what_exhaustive_evaluation_decides_and_conserves_money(LoadScenario scenario, FanOutMode fanOut)
    {
        var options = Small(scenario) with { FanOut = fanOut };

        var report = (await LoadRun.RunAsync(options, Quiet, CancellationToken.None)).Checked(options.FailOn);

        var baseline = Assert.IsType<BaselineResult>(report.Baseline);
        Assert.True(baseline.Misses == 0 && baseline.Extras == 0, string.Join(Environment.NewLine, baseline.Examples));
        Assert.True(report.ConservationHolds, $"conservation off by {report.ConservationDifference}");
        Assert.Empty(report.Failures);
        Assert.Equal(report.InsuranceFund, baseline.InsuranceFund);
        Assert.Equal(report.BadDebt, baseline.SocializedLoss);
        if (scenario is LoadScenario.Crash20200312 or LoadScenario.Cascade)
        {
            Assert.True(report.MarginCalls > 0 && report.Liquidations > 0, $"{scenario} produced {report.MarginCalls} margin calls and {report.Liquidations} liquidations");
        }

        if (fanOut == FanOutMode.Gated)
        {
            Assert.True(report.AccountEvaluations < report.HolderTicksDecided, "gating delivered every tick to every holder");
        }
    }

    /// <summary>
    /// Markets stepping concurrently (the grid conflates): no baseline to compare with, but every evaluation must succeed
    /// and money must be conserved — a failed evaluation is now a failed check of the report. (A liquidation begun by one
    /// market's step and overtaken by a re-band threw on this path at 100k accounts; this size does not reproduce it —
    /// checked without the fix, three runs — the grain test in AccountGrainTests does.)
    /// </summary>
    [Fact]
    public async Task A_per_market_crash_evaluates_every_account_without_failure_and_conserves_money()
    {
        var options = Small(LoadScenario.Crash20200312) with
        {
            Feed = FeedMode.PerMarket,
            Baseline = false,
            Accounts = 2_000,
            Markets = 8,
            Duration = TimeSpan.FromSeconds(5),
        };

        var report = (await LoadRun.RunAsync(options, Quiet, CancellationToken.None)).Checked(options.FailOn);

        Assert.Equal(0, report.EvaluationFailures);
        Assert.True(report.ConservationHolds, $"conservation off by {report.ConservationDifference}");
        Assert.Empty(report.Failures);
        Assert.True(report.Liquidations > 0, "the crash liquidated nobody");
    }

    [Fact]
    public async Task The_command_writes_the_report_and_plots_and_exits_non_zero_when_a_threshold_is_missed()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"mg-load-{Guid.NewGuid():N}");
        try
        {
            var exit = await Program.Command().Parse(
            [
                "--scenario", "wick", "--accounts", "300", "--markets", "2", "--duration", "2", "--rate", "200",
                "--plain", "--out", folder, "--fail-on", "ticks-per-second=1000000000",
            ]).InvokeAsync();

            Assert.Equal(1, exit);
            using var json = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, "report.json")));
            Assert.Equal("wick", json.RootElement.GetProperty("scenario").GetString());
            Assert.Contains("ticks-per-second", Assert.Single(json.RootElement.GetProperty("failures").EnumerateArray()).GetString(), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(folder, "report.md")));
            foreach (var png in new[] { "latency.png", "accounts-by-status.png", "insurance-fund.png" })
            {
                Assert.True(new FileInfo(Path.Combine(folder, png)).Length > 1000, png);
            }
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
    }

    [Fact]
    public async Task Bad_flags_exit_with_code_2()
    {
        Assert.Equal(2, await Program.Command().Parse(["--scenario", "moon", "--plain"]).InvokeAsync());
        Assert.Equal(2, await Program.Command().Parse(["--accounts", "0", "--plain"]).InvokeAsync());
        Assert.Equal(2, await Program.Command().Parse(["--fail-on", "speed=3", "--plain"]).InvokeAsync());
    }
}
