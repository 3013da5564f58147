using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace MarginGrid.Deploy.Tests.Live;

/// <summary>
/// A running <c>margingrid silo</c> (in-memory mode, no API keys) under a small load over HTTP: two markets, a dozen
/// accounts with deposits and fills, and price drops that cause margin calls, liquidations, a collateral sale and a
/// bankruptcy.
/// </summary>
public sealed class LiveSilo : IAsyncLifetime
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private int _clock;

    public SiloProcess Silo { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The load's outcome as the price steps reported it.</summary>
    public Dictionary<string, int> EventCounts { get; } = new(StringComparer.Ordinal);

    public async Task InitializeAsync()
    {
        Silo = await SiloProcess.StartAsync("deploy-tests", null, new Dictionary<string, string> { ["Logging__LogLevel__Default"] = "Warning" });
        Http = new HttpClient { BaseAddress = Silo.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        await PostAsync("v1/config", """
            {
              "markets": [
                { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
              ],
              "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02" } ],
              "insuranceFund": "10000"
            }
            """);
        await PricesAsync(("BTC-USD", "100"), ("ETH-USD", "100"));
        for (var i = 0; i < 12; i++)
        {
            var id = $"load-{i}";
            await PostAsync($"v1/accounts/{id}", "{}");
            await PostAsync($"v1/accounts/{id}/deposits", $$"""{ "commandId": "dep-{{i}}", "asset": "USD", "quantity": "1000" }""");
            await PostAsync($"v1/accounts/{id}/fills", $$"""{ "commandId": "fill-{{i}}", "market": "ETH-USD", "size": "{{20 + (8 * i)}}", "price": "100" }""");
            await PostAsync($"v1/accounts/{id}/fills", """{ "commandId": "btc", "market": "BTC-USD", "size": "-1", "price": "100" }""");
        }

        // BTC collateral, no USD, long ETH: a crash leaves a USD debt that selling the BTC does not quite cover.
        await PostAsync("v1/accounts/load-collateral", """{ "collateral": { "BTC": "20" } }""");
        await PostAsync("v1/accounts/load-collateral/fills", """{ "commandId": "fill", "market": "ETH-USD", "size": "100", "price": "100" }""");

        foreach (var eth in new[] { "99", "97", "94", "92", "90", "85", "80" })
        {
            await PricesAsync(("ETH-USD", eth), ("BTC-USD", "100"));
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }
    }

    private async Task PricesAsync(params (string Market, string Price)[] prices)
    {
        var batch = string.Join(", ", prices.Select(p =>
            $$"""{ "market": "{{p.Market}}", "source": "load", "price": "{{p.Price}}", "timestamp": "{{Epoch.AddSeconds(++_clock).ToString("O", CultureInfo.InvariantCulture)}}" }"""));
        using var result = JsonDocument.Parse(await PostAsync("v1/prices", $"[{batch}]"));
        foreach (var step in result.RootElement.GetProperty("steps").EnumerateArray())
        {
            foreach (var e in step.GetProperty("events").EnumerateArray())
            {
                var type = e.GetProperty("type").GetString()!;
                EventCounts[type] = EventCounts.GetValueOrDefault(type) + 1;
            }
        }
    }

    private async Task<string> PostAsync(string path, string json)
    {
        using var response = await Http.PostAsync(path, new StringContent(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json")));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"POST {path}: {(int)response.StatusCode} {body}");
        return body;
    }
}
