using Spectre.Console;
using Xunit;

namespace MarginGrid.Load.Tests;

/// <summary>
/// <c>--compare v2</c> and <c>v3</c> on a few hundred accounts (model, sequential): every variant conserves money, the
/// lie of a two-source oracle attack does damage without the guard and none with it, caps lower the peak closed
/// notional per step, and the keepers of the v3 comparison buy at auctions.
/// </summary>
public sealed class CompareTests
{
    private static readonly IAnsiConsole Quiet = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(TextWriter.Null) });

    private static LoadOptions Small(string set) => new() { Compare = set, Accounts = 600, Markets = 4, Duration = TimeSpan.FromSeconds(4), Rate = 400, Plain = true };

    [Fact]
    public async Task The_v2_comparison_shows_what_the_guard_and_the_caps_buy()
    {
        var report = await CompareRun.RunAsync(Small("v2"), Quiet, CancellationToken.None);

        Assert.All(report.Variants, v => Assert.True(v.ConservationHolds, $"{v.Comparison} / {v.Variant}"));
        var attack = report.Variants.Where(v => v.Comparison == "oracle-attack, 2 sources").ToDictionary(v => v.Variant);
        var honest = attack["honest (no lie), no guard"];
        var lie = attack["lie, no guard"];
        Assert.True(lie.Liquidations > honest.Liquidations, $"the lie caused nothing: {lie.Liquidations} vs {honest.Liquidations}");
        var guarded = attack["lie, guard"];
        var guardedHonest = attack["honest (no lie), guard"];
        Assert.Equal(guardedHonest.Liquidations, guarded.Liquidations);
        Assert.Equal(guardedHonest.Bankruptcies, guarded.Bankruptcies);
        Assert.Equal(guardedHonest.BadDebt, guarded.BadDebt);
        Assert.Equal(guardedHonest.InsuranceFund, guarded.InsuranceFund);

        var crash = report.Variants.Where(v => v.Comparison == "crash-2020-03-12").ToDictionary(v => v.Variant);
        Assert.True(crash["caps"].PeakClosedNotionalPerStep < crash["no caps"].PeakClosedNotionalPerStep);
        var cascade = report.Variants.Where(v => v.Comparison == "cascade").ToDictionary(v => v.Variant);
        Assert.Equal(0m, cascade["no impact (v1)"].Slippage);
        Assert.True(cascade["impact, batch netting"].Slippage <= cascade["impact, no netting (gross)"].Slippage);
        Assert.Contains("| oracle-attack, 2 sources | lie, guard |", report.ToMarkdown(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_v3_comparison_runs_three_ways_and_conserves_money()
    {
        var report = await CompareRun.RunAsync(Small("v3"), Quiet, CancellationToken.None);

        Assert.Equal(6, report.Variants.Count);
        Assert.All(report.Variants, v => Assert.True(v.ConservationHolds, $"{v.Comparison} / {v.Variant}"));
        Assert.All(report.Variants.Where(v => v.Variant.StartsWith("ADL", StringComparison.Ordinal)), v => Assert.Equal(0, v.AuctionTakes));
    }

    [Fact]
    public async Task The_v3_comparison_on_the_grid_agrees_with_the_model_step_by_step_keeper_bids_included()
    {
        var report = await CompareRun.RunAsync(Small("v3") with { CompareEngine = "grid", Accounts = 300 }, Quiet, CancellationToken.None);

        Assert.Equal(6, report.Variants.Count);
        Assert.All(report.Variants, v => Assert.Equal(CompareV3.GridAgrees, v.Engine));
        Assert.All(report.Variants, v => Assert.True(v.ConservationHolds, $"{v.Comparison} / {v.Variant}"));
        Assert.Contains(report.Variants, v => v.AuctionTakes > 0); // the keepers bought through the grid's bid path
    }

    [Fact]
    public void Keepers_are_seeded_and_bounded()
    {
        var keepers = KeeperPopulation.Create(5, 42);
        Assert.Equal(keepers.ToArray(), KeeperPopulation.Create(5, 42).ToArray());
        Assert.NotEqual(keepers.ToArray(), KeeperPopulation.Create(5, 43).ToArray());
        Assert.All(keepers, k => Assert.InRange(k.ReactionSeconds, 0.5m, 5m));
        Assert.All(keepers, k => Assert.InRange(k.RequiredDiscount, 0.005m, 0.06m));
        Assert.Equal(5, keepers.Select(k => k.Id).Distinct().Count());
    }

    [Fact]
    public void The_event_comparison_counts_missing_extra_and_reordered_events()
    {
        var counts = new List<(long, long)>();
        foreach (var (model, grid) in new (string[], string[])[]
        {
            (["a", "b"], ["a", "b"]),
            (["a", "b"], ["a"]),
            (["a"], ["a", "c"]),
            (["a", "b"], ["b", "a"]),
        })
        {
            counts.Add(EventKeys.Differences(model, grid));
        }

        Assert.Equal([(0L, 0L), (1L, 0L), (0L, 1L), (1L, 0L)], counts);
    }
}
