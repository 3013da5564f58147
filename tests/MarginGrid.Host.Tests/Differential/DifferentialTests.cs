// The differential test: random v1 scenarios through the real grains and through a plain sequential reading of the
// model, compared by the model's agreement rule.
//
//   dotnet test tests/MarginGrid.Host.Tests --filter "FullyQualifiedName~Differential"                  # 200 cases (CI)
//   MARGINGRID_DIFF_CASES=5000 dotnet test tests/MarginGrid.Host.Tests --filter "FullyQualifiedName~Differential"
//
// Other knobs: MARGINGRID_DIFF_SEED="<seed>,<gamma>" replays one FsCheck run (FsCheck prints them on a failure);
// MARGINGRID_DIFF_CENSUS=1 first runs the cases without stopping or shrinking and reports how many disagree
// (MARGINGRID_DIFF_CENSUS_SHRINK=N also shrinks the first N of them into differential-failures/census-*.json);
// MARGINGRID_DIFF_SILOS=1 runs the TestCluster with one silo instead of two.
// Measured on the 2-core dev machine: 200 cases in 34–39 s (about 0.2 s a case, shrinking extra), so 5,000 take ~15 min.
// A failure prints the differences, the events side by side, and the shrunk scenario as a scenario file, which is also
// written to bin/.../differential-failures/shrunk.json: `margingrid replay that-file` reproduces it.
using System.Diagnostics;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using MarginGrid.Host.Scenarios;
using Xunit;
using Xunit.Abstractions;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>The grains and the model disagree on a scenario.</summary>
public sealed class DisagreementException(string message) : Exception(message);

public sealed class DifferentialTests(GridUnderTest grid, ITestOutputHelper output) : IClassFixture<GridUnderTest>
{
    /// <summary>The oracle the grains are compared with (the domain's ModelEngine can take its place).</summary>
    private static readonly ModelOracle Oracle = ModelReference.Oracle;

    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("MARGINGRID_DIFF_CASES"), out var n) && n > 0 ? n : 200;

    private static string FailureFolder => Path.Combine(AppContext.BaseDirectory, "differential-failures");

    [Fact]
    public void Random_scenarios_replayed_through_the_grains_agree_with_the_model()
    {
        var cases = Cases;
        if (Environment.GetEnvironmentVariable("MARGINGRID_DIFF_CENSUS") == "1")
        {
            Census(cases);
        }

        var config = Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true);
        if (Environment.GetEnvironmentVariable("MARGINGRID_DIFF_SEED")?.Split(',') is [var seed, var gamma])
        {
            config = config.WithReplay(new Replay(new Rnd(ulong.Parse(seed), ulong.Parse(gamma)), null));
        }

        var watch = Stopwatch.StartNew();
        var run = 0;
        Prop.ForAll(ScenarioGenerator.Arbitrary, c =>
        {
            run++;
            Check(c.Scenario);
        }).Check(config);
        output.WriteLine($"{cases} cases agreed in {watch.Elapsed.TotalSeconds:F1} s ({run} replays)");
    }

    /// <summary>
    /// Runs every case without stopping or shrinking and reports how many disagree (MARGINGRID_DIFF_CENSUS=1); the
    /// first few disagreements are then shrunk (greedily, by the generator's shrinker) into
    /// differential-failures/census-N.json, to see the distinct ways in which they fail.
    /// </summary>
    private void Census(int cases)
    {
        var watch = Stopwatch.StartNew();
        var failed = new List<(int Index, Scenario Scenario, List<string> Differences)>();
        var samples = ScenarioGenerator.Cases.Sample(cases, new Rnd(42UL), cases);
        for (var i = 0; i < samples.Length; i++)
        {
            var (differences, _, _, _) = Replay(samples[i].Scenario);
            if (differences.Count > 0)
            {
                failed.Add((i, samples[i].Scenario, differences));
            }
        }

        output.WriteLine($"census: {failed.Count} of {cases} cases disagree ({watch.Elapsed.TotalSeconds:F1} s)");
        Directory.CreateDirectory(FailureFolder);
        foreach (var (index, scenario, differences) in failed)
        {
            output.WriteLine($"  case {index}: {string.Join(" / ", differences.Take(3)).ReplaceLineEndings(" ")}");
        }

        foreach (var (index, scenario, _) in failed.Take(int.TryParse(Environment.GetEnvironmentVariable("MARGINGRID_DIFF_CENSUS_SHRINK"), out var k) ? k : 0))
        {
            var smallest = scenario;
            var shrunk = true;
            while (shrunk)
            {
                shrunk = false;
                foreach (var candidate in ScenarioGenerator.Shrink(smallest))
                {
                    if (Replay(candidate).Differences.Count > 0)
                    {
                        smallest = candidate;
                        shrunk = true;
                        break;
                    }
                }
            }

            var (differences, json, _, _) = Replay(smallest);
            File.WriteAllText(Path.Combine(FailureFolder, $"census-{index}.json"), json);
            output.WriteLine($"case {index} shrunk to: {new DiffCase(smallest)}");
            output.WriteLine(string.Join(Environment.NewLine, differences));
        }
    }

    private void Check(Scenario scenario)
    {
        var (differences, json, actual, expected) = Replay(scenario);
        if (differences.Count == 0)
        {
            return;
        }

        // The last failing case FsCheck tries is the shrunk one: it is what stays in the file.
        Directory.CreateDirectory(FailureFolder);
        File.WriteAllText(Path.Combine(FailureFolder, "shrunk.json"), json);
        File.WriteAllText(Path.Combine(FailureFolder, "shrunk.grains.json"), actual);
        File.WriteAllText(Path.Combine(FailureFolder, "shrunk.model.json"), expected);
        throw new DisagreementException(Report(differences, json));
    }

    /// <summary>Writes the scenario as a file, reads it back as `margingrid replay` would, and runs it both ways.</summary>
    private (List<string> Differences, string Json, string Actual, string Expected) Replay(Scenario scenario)
    {
        var json = ScenarioJson.Write(scenario);
        var parsed = ScenarioReader.Read(json);
        var expected = Oracle(parsed);
        var actual = Task.Run(() => grid.ReplayAsync(parsed)).GetAwaiter().GetResult();
        return (ModelAgreement.Compare(actual, expected), json, actual, expected);
    }

    public static string Report(List<string> differences, string scenarioJson)
    {
        var sb = new StringBuilder();
        sb.AppendLine("The grains disagree with the model (left: grains, right: model):");
        foreach (var d in differences)
        {
            sb.AppendLine("  " + d);
        }

        sb.AppendLine("Scenario (feed it to `margingrid replay`):");
        sb.AppendLine(scenarioJson);
        return sb.ToString();
    }

    // ---- shrunk counterexamples of earlier runs: regression tests -------------------------------------------------

    public static TheoryData<string> Counterexamples() =>
        [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Differential", "counterexamples"), "*.json")
            .Select(Path.GetFileNameWithoutExtension)
            .OfType<string>()
            .Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(Counterexamples))]
    public async Task A_shrunk_counterexample_replays_through_the_grains_as_the_model_says(string name)
    {
        var json = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Differential", "counterexamples", name + ".json"));
        var scenario = ScenarioReader.Read(json);

        var actual = await grid.ReplayAsync(scenario);

        var differences = ModelAgreement.Compare(actual, Oracle(scenario));
        Assert.True(differences.Count == 0, Report(differences, json));
    }
}

/// <summary>The oracle itself, its comparison, the scenario writer and the generator, checked without the grains.</summary>
public sealed class DifferentialToolTests(ITestOutputHelper output)
{
    /// <summary>The independent reference implements v1 only: the public v1 scenarios (01–04; 05+ use v2 and v3).</summary>
    public static TheoryData<string> PublicScenarios() =>
        [.. ScenarioReplayTests.PublicScenarioNames().Where(n => string.CompareOrdinal(n, "05") < 0)];

    [Theory]
    [MemberData(nameof(PublicScenarios))]
    public async Task The_reference_agrees_with_every_public_v1_scenario(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Scenarios", "public");
        var scenario = ScenarioReader.Read(await File.ReadAllTextAsync(Path.Combine(folder, name + ".json")));

        var result = ModelReference.Run(scenario);

        var differences = ModelAgreement.Compare(result, await File.ReadAllTextAsync(Path.Combine(folder, name + ".expected.json")));
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences) + Environment.NewLine + result);
    }

    [Fact]
    public void The_agreement_rule_tolerates_1e_9_and_catches_numbers_statuses_types_order_and_fields()
    {
        const string expected = """
            {"accounts":{"a":{"equity":"1000","status":"Healthy"}},"insuranceFund":"0","socializedLoss":"0",
             "events":[{"type":"margin_call","account":"a","status":"MarginCall"},{"type":"rejected","account":"a","reason":"x"}]}
            """;
        const string close = """
            {"accounts":{"a":{"equity":"1000.0000001","status":"Healthy"}},"insuranceFund":"0.0000000001","socializedLoss":"0",
             "events":[{"type":"margin_call","account":"a","status":"MarginCall"},{"type":"rejected","account":"a","reason":"other words"}]}
            """;
        const string wrong = """
            {"accounts":{"a":{"equity":"1000.01","status":"MarginCall"}},"insuranceFund":"0","socializedLoss":"0",
             "events":[{"type":"rejected","account":"a"},{"type":"margin_call","account":"b","status":"MarginCall"}]}
            """;

        Assert.Empty(ModelAgreement.Compare(close, expected));
        Assert.Empty(ModelAgreement.Compare(
            """{"accounts":{"a":{"collateral":{"USD":"0.0000000000000000000000000001","BTC":"1"}}},"insuranceFund":"0","socializedLoss":"0","events":[]}""",
            """{"accounts":{"a":{"collateral":{"BTC":"1"}}},"insuranceFund":"0","socializedLoss":"0","events":[]}"""));
        Assert.NotEmpty(ModelAgreement.Compare(
            """{"accounts":{"a":{"collateral":{"USD":"0.01"}}},"insuranceFund":"0","socializedLoss":"0","events":[]}""",
            """{"accounts":{"a":{"collateral":{}}},"insuranceFund":"0","socializedLoss":"0","events":[]}"""));
        var differences = ModelAgreement.Compare(wrong, expected);
        output.WriteLine(string.Join(Environment.NewLine, differences));
        Assert.Contains(differences, d => d.StartsWith("accounts.a.equity", StringComparison.Ordinal));
        Assert.Contains(differences, d => d.StartsWith("accounts.a.status", StringComparison.Ordinal));
        Assert.Contains(differences, d => d.StartsWith("events[0].type", StringComparison.Ordinal));
        Assert.Contains(differences, d => d.StartsWith("events[1].account", StringComparison.Ordinal));
    }

    [Fact]
    public void Generated_scenarios_are_valid_files_that_read_back_to_the_same_scenario()
    {
        foreach (var c in ScenarioGenerator.Cases.Sample(50, new Rnd(7UL), 200))
        {
            var json = ScenarioJson.Write(c.Scenario);
            var back = ScenarioReader.Read(json);
            Assert.Equal(json, ScenarioJson.Write(back));
            foreach (var smaller in ScenarioGenerator.Shrink(back).Take(60))
            {
                ScenarioReader.Read(ScenarioJson.Write(smaller)); // every shrink is a valid scenario too
            }
        }
    }

    [Fact]
    public void The_generator_covers_what_the_issue_asks_for()
    {
        var cases = ScenarioGenerator.Cases.Sample(50, new Rnd(11UL), 300).Select(c => c.Scenario).ToList();
        var results = cases.Select(s => (Scenario: s, Result: System.Text.Json.JsonDocument.Parse(ModelReference.Run(s)))).ToList();
        bool Any(string type) => results.Any(r => r.Result.RootElement.GetProperty("events").EnumerateArray()
            .Any(e => e.GetProperty("type").GetString() == type));
        var steps = cases.SelectMany(s => s.Steps).ToList();
        var coverage = new Dictionary<string, bool>
        {
            ["4 markets"] = cases.Any(s => s.Config.Markets.Length == 4),
            ["2 assets"] = cases.Any(s => s.Config.Collateral.Count(c => c.Asset != "DOGE") == 2),
            ["3 brackets"] = cases.Any(s => s.Config.Markets.Any(m => m.Brackets.Length == 3)),
            ["6 accounts"] = cases.Any(s => s.Accounts.Length == 6),
            ["crash"] = cases.Any(s => Moves(s).Any(m => m <= -0.1m)),
            ["gap up"] = cases.Any(s => Moves(s).Any(m => m >= 0.1m)),
            ["unknown account"] = steps.OfType<FillStep>().Any(f => f.Account == "mallory"),
            ["zero size"] = steps.OfType<FillStep>().Any(f => f.Size == 0m),
            ["non-positive price"] = steps.OfType<FillStep>().Any(f => f.Price <= 0m),
            ["margin_call"] = Any("margin_call"),
            ["liquidation"] = Any("liquidation"),
            ["collateral_liquidation"] = Any("collateral_liquidation"),
            ["bankruptcy"] = Any("bankruptcy"),
            ["rejected"] = Any("rejected"),
        };
        output.WriteLine(string.Join(Environment.NewLine, coverage.Select(c => $"{c.Key}: {c.Value}")));
        Assert.All(coverage, c => Assert.True(c.Value, c.Key));
    }

    private static IEnumerable<decimal> Moves(Scenario s)
    {
        var marks = s.InitialPrices.ToDictionary(p => p.Key, p => p.Value);
        foreach (var p in s.Steps.OfType<PriceStep>())
        {
            yield return (p.Price / marks[p.Market]) - 1m;
            marks[p.Market] = p.Price;
        }
    }
}
