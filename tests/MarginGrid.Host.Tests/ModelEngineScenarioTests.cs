using System.Text.Json;
using MarginGrid.Domain.Model;
using MarginGrid.Host.Scenarios;
using Xunit;

namespace MarginGrid.Host.Tests;

/// <summary>
/// Runs each public scenario through the pure <see cref="ModelEngine"/> (no grains) and compares its result with the
/// expected file by the agreement rule of MARGIN-MODEL.md (<see cref="ResultComparer"/>). Reads every invalid scenario
/// in process and checks that the reader names the field.
/// </summary>
public sealed class ModelEngineScenarioTests
{
    private static string Folder(string kind) => Path.Combine(AppContext.BaseDirectory, "Scenarios", kind);

    public static TheoryData<string> InvalidScenarios() =>
        [.. Directory.GetFiles(Folder("invalid"), "*.json").Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal)];

    [Theory]
    [MemberData(nameof(ScenarioReplayTests.PublicScenarios), MemberType = typeof(ScenarioReplayTests))]
    public async Task The_model_engine_agrees_with_the_expected_result(string name)
    {
        var scenario = ScenarioReader.Read(await File.ReadAllTextAsync(Path.Combine(Folder("public"), name + ".json")));

        var result = ModelResultWriter.ToJson(ModelEngine.Run(scenario.ToModel()));

        using var actual = JsonDocument.Parse(result);
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Folder("public"), name + ".expected.json")));
        var differences = new List<string>();
        ResultComparer.Compare(actual.RootElement, expected.RootElement, "$", differences);
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences) + Environment.NewLine + result);
    }

    [Theory]
    [MemberData(nameof(InvalidScenarios))]
    public async Task The_reader_rejects_an_invalid_scenario_naming_the_field(string file)
    {
        var json = await File.ReadAllTextAsync(Path.Combine(Folder("invalid"), file));
        using var doc = JsonDocument.Parse(json);
        var field = doc.RootElement.GetProperty("_expectField").GetString()!;

        var e = Assert.Throws<ScenarioException>(() => ScenarioReader.Read(json));

        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void The_reader_takes_the_v2_fields_and_defaults()
    {
        var scenario = ScenarioReader.Read(File.ReadAllText(Path.Combine(Folder("public"), "05-oracle-guard.json")));

        var market = scenario.Config.Markets[0];
        Assert.Equal(new OracleConfig(30m, 0.05m, 2m, 0.08m), market.Oracle);
        Assert.Null(market.Volatility);
        Assert.Null(market.LiquidationCap);
        var first = Assert.IsType<PriceStep>(scenario.Steps[0]);
        Assert.Equal(("a", 1m), (first.Source, first.Time!.Value));
        Assert.Equal(0m, scenario.StartTime);

        var plain = ScenarioReader.Read(File.ReadAllText(Path.Combine(Folder("public"), "06-volatility-margin.json")));
        var step = Assert.IsType<PriceStep>(plain.Steps[0]);
        Assert.Equal(("default", (decimal?)null), (step.Source, step.Time));
        Assert.Equal(new VolatilityConfig(3m, 0.01m, 3m), plain.Config.Markets[0].Volatility);
    }
}
