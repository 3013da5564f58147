using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// The API's JSON: camelCase, strict (unknown, duplicate and missing required members are errors), decimals read exactly
/// from numbers or strings and written as strings, enums as snake_case strings.
/// </summary>
public static class ApiJson
{
    public static JsonSerializerOptions Options { get; } = Configure(new JsonSerializerOptions(JsonSerializerDefaults.Web));

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.NumberHandling = JsonNumberHandling.Strict;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.AllowDuplicateProperties = false; // {"quantity":"1","quantity":"1e6"} is ambiguous: 400, never "last wins"
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        options.Converters.Add(new ExactDecimalConverter());
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        return options;
    }
}

/// <summary>
/// Reads a decimal from a JSON number or string by parsing its text as a decimal (never through double), so NaN,
/// Infinity and out-of-range values are errors; writes the decimal's exact text as a string.
/// </summary>
public sealed class ExactDecimalConverter : JsonConverter<decimal>
{
    /// <summary>The message of a value that is not a decimal (also the API's problem detail for it).</summary>
    public const string ExpectedDecimal = "expected a decimal number within ±79228162514264337593543950335 (a JSON number or a string such as \"12.50\")";

    private const NumberStyles Style = NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent;

    public override decimal Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number when reader.TryGetDecimal(out var number):
                return number;
            case JsonTokenType.String when decimal.TryParse(reader.GetString(), Style, CultureInfo.InvariantCulture, out var text):
                return text;
            default:
                throw new JsonException(ExpectedDecimal);
        }
    }

    public override void Write(Utf8JsonWriter writer, decimal value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString(CultureInfo.InvariantCulture));
}
