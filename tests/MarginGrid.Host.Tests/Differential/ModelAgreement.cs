using System.Globalization;
using System.Text;
using System.Text.Json;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>
/// The model's agreement rule (MARGIN-MODEL.md, end of "Scenario files"): every number to 1e-9 relative (absolute
/// below 1), every status and event type equal, events in the same order — and every event field too. A
/// <c>rejected</c> event's <c>reason</c> is free text and is not compared.
/// </summary>
public static class ModelAgreement
{
    /// <summary>
    /// A bankruptcy whose deficit is below 1e-18: decimal's last digits (28 significant), left by two correct orders of
    /// the same arithmetic (a penalty capped at E, summed differently). Under the agreement rule the deficit is 0
    /// (absolute 1e-9 near zero), and with a zero deficit there is no bankruptcy: such an event on one side only is
    /// not a disagreement. The fund's and accounts' numbers are still compared as usual.
    /// </summary>
    private static bool IsDust(JsonElement e) =>
        e.TryGetProperty("type", out var type) && type.GetString() == "bankruptcy"
        && e.TryGetProperty("deficit", out var deficit)
        && Math.Abs(decimal.Parse(deficit.GetString()!, System.Globalization.CultureInfo.InvariantCulture)) < 0.000000000000000001m;

    /// <summary>Differences between the grains' result and the oracle's, readable; empty when they agree.</summary>
    public static List<string> Compare(string actualJson, string expectedJson)
    {
        using var actual = JsonDocument.Parse(actualJson);
        using var expected = JsonDocument.Parse(expectedJson);
        var differences = new List<string>();
        var a = actual.RootElement;
        var e = expected.RootElement;
        foreach (var name in new[] { "insuranceFund", "socializedLoss" })
        {
            Value(a.GetProperty(name), e.GetProperty(name), name, differences);
        }

        Object(a.GetProperty("accounts"), e.GetProperty("accounts"), "accounts", differences);
        Events(a.GetProperty("events"), e.GetProperty("events"), differences);
        return differences;
    }

    private static void Events(JsonElement actual, JsonElement expected, List<string> differences)
    {
        var a = actual.EnumerateArray().Where(x => !IsDust(x)).ToList();
        var e = expected.EnumerateArray().Where(x => !IsDust(x)).ToList();
        var before = differences.Count;
        for (var i = 0; i < Math.Min(a.Count, e.Count); i++)
        {
            Object(a[i], e[i], $"events[{i}]", differences);
        }

        if (a.Count != e.Count)
        {
            differences.Add($"events: expected {e.Count}, got {a.Count}");
        }

        if (differences.Count > before)
        {
            var sb = new StringBuilder("events side by side (grains | model):");
            for (var i = 0; i < Math.Max(a.Count, e.Count); i++)
            {
                var left = i < a.Count ? Line(a[i]) : "—";
                var right = i < e.Count ? Line(e[i]) : "—";
                sb.Append(CultureInfo.InvariantCulture, $"\n  [{i}] {(left == right ? "  " : "≠ ")}{left}  |  {right}");
            }

            differences.Add(sb.ToString());
        }
    }

    /// <summary>An event on one line: its type, then its fields.</summary>
    public static string Line(JsonElement ev) =>
        string.Join(' ', ev.EnumerateObject()
            .Where(p => p.Name != "reason")
            .Select(p => p.Name == "type" ? p.Value.ToString() : $"{p.Name}={Short(p.Value)}"));

    private static string Short(JsonElement v) =>
        Number(v) is { } d ? decimal.Round(d, 9).Normalize().ToString(CultureInfo.InvariantCulture) : v.ToString();

    private static decimal Normalize(this decimal d) => d / 1.0000000000000000000000000000m;

    private static void Object(JsonElement actual, JsonElement expected, string path, List<string> differences)
    {
        if (actual.ValueKind != JsonValueKind.Object || expected.ValueKind != JsonValueKind.Object)
        {
            Value(actual, expected, path, differences);
            return;
        }

        var names = expected.EnumerateObject().Select(p => p.Name)
            .Union(actual.EnumerateObject().Select(p => p.Name), StringComparer.Ordinal)
            .Where(n => n != "reason")
            .Order(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var inA = actual.TryGetProperty(name, out var av);
            var inE = expected.TryGetProperty(name, out var ev);
            if (path.EndsWith(".collateral", StringComparison.Ordinal) && inA != inE)
            {
                // Zero balances are omitted: a balance on one side only is compared with 0 (e.g. the dust of 1e-28
                // that rounding a collateral sale's quantity up leaves in USD).
                var value = Number(inA ? av : ev) ?? 1m;
                if (!Agree(inA ? value : 0m, inA ? 0m : value))
                {
                    differences.Add($"{path}.{name}: expected {(inE ? value : 0m)}, got {(inA ? value : 0m)}");
                }
            }
            else if (!inE)
            {
                differences.Add($"{path}.{name}: unexpected {Short(av)}");
            }
            else if (!inA)
            {
                differences.Add($"{path}.{name}: missing, expected {(ev.ValueKind == JsonValueKind.Object ? ev.GetRawText().ReplaceLineEndings(" ") : Short(ev))}");
            }
            else if (ev.ValueKind == JsonValueKind.Object)
            {
                Object(av, ev, $"{path}.{name}", differences);
            }
            else
            {
                Value(av, ev, $"{path}.{name}", differences);
            }
        }
    }

    private static void Value(JsonElement actual, JsonElement expected, string path, List<string> differences)
    {
        if (Number(expected) is { } e && Number(actual) is { } a)
        {
            if (!Agree(a, e))
            {
                differences.Add($"{path}: expected {e}, got {a}");
            }
        }
        else if (expected.ValueKind != actual.ValueKind || expected.ToString() != actual.ToString())
        {
            differences.Add($"{path}: expected {Show(expected)}, got {Show(actual)}");
        }
    }

    public static bool Agree(decimal actual, decimal expected) =>
        Math.Abs(actual - expected) <= 0.000000001m * Math.Max(1m, Math.Abs(expected));

    private static string Show(JsonElement v) => v.ValueKind == JsonValueKind.Null ? "null" : v.GetRawText().ReplaceLineEndings(" ");

    public static decimal? Number(JsonElement e) =>
        e.ValueKind is JsonValueKind.Number or JsonValueKind.String
        && decimal.TryParse(e.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
            ? d
            : null;
}
