using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace MarginGrid.Testing;

/// <summary>
/// An HTTP client of a silo's API: its base address, the API key of a role (or none), and the JSON helpers every test
/// needs (a body, a 2xx answer read as JSON, or a failure that shows the status and body).
/// </summary>
public sealed class GridClient : HttpClient
{
    /// <summary>The header the API reads the key from (MarginGrid.Host's <c>ApiKeys.Header</c>).</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    public GridClient(Uri baseAddress, string? apiKey = null, TimeSpan? timeout = null, HttpMessageHandler? handler = null)
        : base(handler ?? new HttpClientHandler(), disposeHandler: true)
    {
        BaseAddress = baseAddress;
        Timeout = timeout ?? TimeSpan.FromSeconds(30);
        if (apiKey is not null)
        {
            DefaultRequestHeaders.Add(ApiKeyHeader, apiKey);
        }
    }

    public async Task<JsonElement> GetJsonAsync(string path) => await EnsureOkAsync(await GetAsync(path));

    public async Task<JsonElement> PostJsonAsync(string path, string json) => await EnsureOkAsync(await PostAsync(path, Json(json)));

    public static StringContent Json(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    /// <summary>The body of a 2xx answer as JSON; otherwise throws with the status, the address and the body.</summary>
    public static async Task<JsonElement> EnsureOkAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"{(int)response.StatusCode} {response.RequestMessage?.RequestUri}: {body}", null, response.StatusCode);
            }

            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }
    }
}
