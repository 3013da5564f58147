// Compares a replay result with an expected result by the agreement rule of the margin model
// (docs/margin-model.md, "When two results agree"): every number to 1e-9 relative (absolute below 1),
// every other value (status, event type, ids) exactly, arrays (events) in the same order and length,
// no missing and no extra fields. The same rule as ResultComparer in tests/MarginGrid.Host.Tests.
//
//   dotnet run examples/compare.cs -- result.json examples/01-partial-long.expected.json
//
// Exit 0 and "agree" when they agree; exit 1 and one line per difference when they do not; exit 2 on bad usage.
using System.Globalization;
using System.Text.Json;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: dotnet run examples/compare.cs -- ACTUAL.json EXPECTED.json");
    return 2;
}

using var actual = JsonDocument.Parse(File.ReadAllText(args[0]));
using var expected = JsonDocument.Parse(File.ReadAllText(args[1]));
var differences = new List<string>();
Compare(actual.RootElement, expected.RootElement, "$", differences);
if (differences.Count == 0)
{
    Console.WriteLine("agree");
    return 0;
}

foreach (var d in differences)
{
    Console.WriteLine(d);
}

return 1;

static void Compare(JsonElement actual, JsonElement expected, string path, List<string> differences)
{
    switch (expected.ValueKind)
    {
        case JsonValueKind.Object:
            if (actual.ValueKind != JsonValueKind.Object)
            {
                differences.Add($"{path}: expected an object, got {actual.ValueKind}");
                return;
            }

            var extra = actual.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var property in expected.EnumerateObject())
            {
                if (!actual.TryGetProperty(property.Name, out var value))
                {
                    differences.Add($"{path}.{property.Name}: missing");
                    continue;
                }

                extra.Remove(property.Name);
                Compare(value, property.Value, $"{path}.{property.Name}", differences);
            }

            differences.AddRange(extra.Order(StringComparer.Ordinal).Select(n => $"{path}.{n}: unexpected"));
            return;
        case JsonValueKind.Array:
            if (actual.ValueKind != JsonValueKind.Array || actual.GetArrayLength() != expected.GetArrayLength())
            {
                var got = actual.ValueKind == JsonValueKind.Array ? actual.GetArrayLength().ToString(CultureInfo.InvariantCulture) : actual.ValueKind.ToString();
                differences.Add($"{path}: expected {expected.GetArrayLength()} items, got {got}");
                return;
            }

            for (var i = 0; i < expected.GetArrayLength(); i++)
            {
                Compare(actual[i], expected[i], $"{path}[{i}]", differences);
            }

            return;
        default:
            if (Number(expected) is { } e && Number(actual) is { } a)
            {
                if (Math.Abs(a - e) > 0.000000001m * Math.Max(1m, Math.Abs(e)))
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

static decimal? Number(JsonElement e) =>
    e.ValueKind is JsonValueKind.Number or JsonValueKind.String
    && decimal.TryParse(e.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
        ? d
        : null;
