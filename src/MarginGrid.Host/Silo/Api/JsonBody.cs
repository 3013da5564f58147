using System.Text.Json;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// Reads a request body with <see cref="ApiJson"/>; malformed JSON, a wrong shape and non-finite numbers are 400,
/// a body over the size limit is 413 — each as problem details.
/// </summary>
public static class JsonBody
{
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(request.Body, ApiJson.Options, cancellationToken);
            return value is null ? (null, Problems.BadRequest("the request body must not be null")) : (value, null);
        }
        catch (JsonException e)
        {
            return (null, Problems.BadRequest($"invalid JSON body: {e.Message}"));
        }
        catch (BadHttpRequestException e)
        {
            var title = e.StatusCode == StatusCodes.Status413PayloadTooLarge ? "Payload too large" : "Bad request";
            return (null, Problems.Problem(e.StatusCode, title, e.Message));
        }
    }
}
