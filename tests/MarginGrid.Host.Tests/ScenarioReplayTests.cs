using System.Text.Json;
using MarginGrid.Host.Scenarios;
using MarginGrid.Host.Tests.Differential;
using Xunit;

namespace MarginGrid.Host.Tests;

/// <summary>
/// Replays each scenario through the grains of an embedded silo (the code path of `margingrid replay`) and compares
/// the result with its expected file by the rule of MARGIN-MODEL.md: numbers to 1e-9 relative (absolute near zero),
/// statuses and event types exactly, events in the same order.
/// </summary>
public sealed class ScenarioReplayTests
{
    public static TheoryData<string> PublicScenarios() => [.. PublicScenarioNames()];

    public static IEnumerable<string> PublicScenarioNames() =>
        Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Scenarios", "public"), "*.json")
            .Where(f => !f.EndsWith(".expected.json", StringComparison.Ordinal))
            .Select(f => Path.GetFileNameWithoutExtension(f))
            .Order(StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(PublicScenarios))]
    public async Task The_replay_through_the_grains_agrees_with_the_expected_result(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Scenarios", "public");
        var scenario = ScenarioReader.Read(await File.ReadAllTextAsync(Path.Combine(folder, name + ".json")));

        var result = ResultWriter.ToJson(await ReplayRunner.RunAsync(scenario));

        using var actual = JsonDocument.Parse(result);
        using var expected = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(folder, name + ".expected.json")));
        var differences = new List<string>();
        ResultComparer.Compare(actual.RootElement, expected.RootElement, "$", differences);
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences) + Environment.NewLine + result);
    }

    [Fact]
    public void The_comparer_itself_catches_a_wrong_number_a_wrong_status_and_a_reordered_event()
    {
        using var expected = JsonDocument.Parse("""{"a":"1.5","s":"Healthy","e":[{"type":"x"},{"type":"y"}]}""");
        using var close = JsonDocument.Parse("""{"a":"1.5000000000001","s":"Healthy","e":[{"type":"x"},{"type":"y"}]}""");
        using var wrong = JsonDocument.Parse("""{"a":"1.5001","s":"MarginCall","e":[{"type":"y"},{"type":"x"}]}""");
        var ok = new List<string>();
        var bad = new List<string>();

        ResultComparer.Compare(close.RootElement, expected.RootElement, "$", ok);
        ResultComparer.Compare(wrong.RootElement, expected.RootElement, "$", bad);

        Assert.Empty(ok);
        Assert.Equal(4, bad.Count);
    }
}

/// <summary>
/// The comparison rule of MARGIN-MODEL.md against an expected file, every field exactly as written there (reasons
/// too); numbers by <see cref="ModelAgreement.Agree"/>, the one tolerance of the tests.
/// </summary>
public static class ResultComparer
{
    public static void Compare(JsonElement actual, JsonElement expected, string path, List<string> differences)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                if (actual.ValueKind != JsonValueKind.Object)
                {
                    differences.Add($"{path}: expected an object, got {actual.ValueKind}");
                    return;
                }

                var actualNames = actual.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
                foreach (var property in expected.EnumerateObject())
                {
                    if (!actual.TryGetProperty(property.Name, out var value))
                    {
                        differences.Add($"{path}.{property.Name}: missing");
                        continue;
                    }

                    actualNames.Remove(property.Name);
                    Compare(value, property.Value, $"{path}.{property.Name}", differences);
                }

                differences.AddRange(actualNames.Select(n => $"{path}.{n}: unexpected"));
                return;
            case JsonValueKind.Array:
                if (actual.ValueKind != JsonValueKind.Array || actual.GetArrayLength() != expected.GetArrayLength())
                {
                    differences.Add($"{path}: expected {expected.GetArrayLength()} items, got {(actual.ValueKind == JsonValueKind.Array ? actual.GetArrayLength() : actual.ValueKind)}");
                    return;
                }

                for (var i = 0; i < expected.GetArrayLength(); i++)
                {
                    Compare(actual[i], expected[i], $"{path}[{i}]", differences);
                }

                return;
            default:
                if (ModelAgreement.Number(expected) is { } e && ModelAgreement.Number(actual) is { } a)
                {
                    if (!ModelAgreement.Agree(a, e))
                    {
                        differences.Add($"{path}: expected {e}, got {a}");
                    }
                }
                else if (expected.ToString() != actual.ToString() || expected.ValueKind != actual.ValueKind)
                {
                    differences.Add($"{path}: expected {expected}, got {actual}");
                }

                return;
        }
    }
}
