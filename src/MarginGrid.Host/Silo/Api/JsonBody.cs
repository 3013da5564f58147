using System.Text.Json;
using System.Text.RegularExpressions;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// Reads a request body with <see cref="ApiJson"/>; malformed JSON, a wrong shape, duplicate members and non-finite
/// numbers are 400, a body over the size limit is 413 — each as problem details that name the field (a JSON path such
/// as <c>positions[0].size</c>), never a .NET type.
/// </summary>
public static partial class JsonBody
{
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, cancellationToken);
            return value is null ? (null, Problems.Invalid("body", "must not be null")) : (value, null);
        }
        catch (JsonException e)
        {
            var (field, reason) = Describe(e);
            return (null, Problems.Invalid(field, reason));
        }
        catch (BadHttpRequestException e)
        {
            var title = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Payload too large" : "Bad request";
            return (null, Problems.Problem(e.StatusCode, title, e.Message));
        }
    }

    /// <summary>The field (JSON path without <c>$.</c>, or <c>body</c>) and a reason free of .NET type names.</summary>
    public static (string Field, string Reason) Describe(JsonException e)
    {
        var path = e.Path is { Length: > 0 } p && p != "$" ? p.TrimStart('$').TrimStart('.') : null;
        var message = e.Message;
        if (UnknownMember().Match(message) is { Success: true } unknown)
        {
            var member = unknown.Groups[1].Value; // the reader's path already ends at the unknown member
            return (path is not null && (path == member || path.EndsWith("." + member, StringComparison.Ordinal)) ? path : Join(path, member), "unknown member");
        }

        if (MissingMembers().Match(message) is { Success: true } missing)
        {
            return (Join(path, missing.Groups[1].Value.Replace("'", "", StringComparison.Ordinal)), "required member missing");
        }

        if (NullNotAllowed().Match(message) is { Success: true } isNull)
        {
            var member = JsonNamingPolicy.CamelCase.ConvertName(isNull.Groups[1].Value);
            return (path is not null && (path == member || path.EndsWith("." + member, StringComparison.Ordinal)) ? path : Join(path, member), "must not be null");
        }

        if (message.Contains("uplicate", StringComparison.Ordinal))
        {
            return (path ?? "body", "duplicate member");
        }

        if (message.StartsWith(ExactDecimalConverterMessagePrefix, StringComparison.Ordinal))
        {
            return (path ?? "body", ExactDecimalConverter.ExpectedDecimal);
        }

        if (message.Contains("could not be converted", StringComparison.Ordinal))
        {
            return (path ?? "body", "has the wrong type (or is out of range) for this field");
        }

        return (path ?? "body", "malformed JSON");
    }

    private const string ExactDecimalConverterMessagePrefix = "expected a decimal number";

    private static string Join(string? path, string member) => path is null ? member : $"{path}.{member}";

    [GeneratedRegex("The JSON property '([^']*)' could not be mapped")]
    private static partial Regex UnknownMember();

    [GeneratedRegex("missing required properties including: (.*)\\.")]
    private static partial Regex MissingMembers();

    [GeneratedRegex("parameter '([^']*)' on type '[^']*' doesn't allow null")]
    private static partial Regex NullNotAllowed();
}
