using System.Globalization;
using System.Text.Json;

namespace MarginGrid.Testing;

/// <summary>The one way tests read a decimal: invariant culture, exponents allowed; the API writes decimals as JSON strings.</summary>
public static class Decimals
{
    public static decimal Parse(string text) => decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>A decimal the API wrote as a JSON string (or, leniently, as a number).</summary>
    public static decimal Parse(JsonElement element) =>
        element.ValueKind == JsonValueKind.Number ? element.GetDecimal() : Parse(element.GetString()!);
}
