using System.Text.Json;
using Xunit;

namespace MarginGrid.Host.Tests;

/// <summary>The `margingrid` executable as a process: invalid scenarios exit non-zero naming the field and write nothing.</summary>
public sealed class ReplayCommandTests
{
    public static TheoryData<string> InvalidScenarios() =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios", "invalid"), "*.json").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(InvalidScenarios))]
    public async Task An_invalid_scenario_exits_non_zero_with_a_message_naming_the_field_and_writes_no_result(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Scenarios", "invalid", file);
        using var doc = JsonDocument.Parse(await File.ReadAllTextAsync(path));
        var field = doc.RootElement.GetProperty("_expectField").GetString()!;
        var output = Path.Combine(Path.GetTempPath(), $"mg-{Guid.NewGuid():N}.json");

        var (exit, stdout, stderr) = await RunAsync("replay", path, "--out", output);

        Assert.Equal(2, exit);
        Assert.Contains(field, stderr, StringComparison.Ordinal);
        Assert.Empty(stdout);
        Assert.False(File.Exists(output));
    }

    [Fact]
    public async Task A_valid_scenario_writes_its_result_to_stdout_and_logs_nothing_there()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Scenarios", "public", "04-fills-withdrawals.json");

        var (exit, stdout, _) = await RunAsync("replay", path);

        Assert.Equal(0, exit);
        using var result = JsonDocument.Parse(stdout);
        Assert.Equal("8750", result.RootElement.GetProperty("accounts").GetProperty("erin").GetProperty("equity").GetString());
    }

    [Fact]
    public async Task The_demo_runs_a_crash_and_ends_with_a_passing_conservation_check()
    {
        var (exit, stdout, stderr) = await RunAsync("demo", "--accounts", "1500", "--markets", "3", "--duration", "6", "--plain", "--seed", "7");

        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("holds", stdout, StringComparison.Ordinal);
        Assert.Matches(@"margin calls\s+│\s+[1-9]", stdout);
        Assert.Matches(@"liquidations \(closes\)\s+│\s+[1-9]", stdout);
    }

    [Fact]
    public async Task A_short_demo_is_quiet_on_stderr_and_writes_its_report()
    {
        var folder = Directory.CreateTempSubdirectory("margingrid-demo-").FullName;
        try
        {
            var (exit, stdout, stderr) = await RunAsync("demo", "--accounts", "500", "--markets", "2", "--duration", "3", "--plain", "--out", folder);

            Assert.True(exit == 0, stdout + stderr);
            var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.True(lines.Length < 50, $"{lines.Length} lines on stderr:\n{string.Join('\n', lines.Take(20))}");
            Assert.DoesNotContain("Polly", stderr, StringComparison.Ordinal);
            Assert.Matches(@"insurance fund\s+│", stdout); // the chart over the run
            foreach (var file in new[] { "report.html", "accounts-by-status.png", "insurance-fund.png" })
            {
                Assert.True(new FileInfo(Path.Combine(folder, file)).Length > 0, $"{file} missing or empty");
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_same_seed_gives_the_same_price_path_in_every_process()
    {
        // Pinned values: a seed derived from string.GetHashCode (randomized per process) would change them every run.
        var paths = MarginGrid.Host.Demo.DemoRunner.PricePaths(new Dictionary<string, decimal> { ["BTC-PERP"] = 60_000m, ["ETH-PERP"] = 3_000m }, 500, 42);
        Assert.Equal(51034.73m, paths["BTC-PERP"].At(250));
        Assert.Equal(2746.73m, paths["ETH-PERP"].At(400));
    }

    [Fact]
    public async Task Bad_demo_flags_exit_non_zero_with_a_message()
    {
        var (exit, _, stderr) = await RunAsync("demo", "--accounts", "0");

        Assert.Equal(2, exit);
        Assert.Contains("--accounts", stderr, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var result = await Margingrid.RunAsync(args);
        return (result.ExitCode, result.StdOut, result.StdErr);
    }
}
