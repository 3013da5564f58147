using System.Text.Json;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>
/// v3 auto-deleveraging through the HTTP API of a real silo: each position's place in its ADL queue
/// (<c>adlQuantile</c>, docs/margin-model.md "ADL rank") and the <c>adl</c> closes in the counterparties' recent events.
/// </summary>
public sealed class AdlApiTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    [Fact]
    public async Task Positions_show_their_adl_quantile_and_a_counterparty_sees_its_adl_close_in_its_events()
    {
        using var admin = fixture.Client("admin");
        using var venue = fixture.Client("venue");
        using var feed = fixture.Client("feed");
        using var reader = fixture.Client("reader");
        await admin.PostJsonAsync("v1/config", """
            {
              "markets": [
                { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "SOL-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
              ],
              "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02" } ],
              "risk": { "marginCallRatio": "1.25", "liquidationTargetRatio": "1.10", "bankruptcyResolution": "adl" }
            }
            """);
        await feed.PostJsonAsync("v1/prices", fixture.Price("BTC-USD", "100"));

        // bust: long 1,000 at 100 on 7,000 USD (MM 5,000: healthy). s1, s2 short in profit at 100; s3 short at 95 (losing at 100).
        async Task OpenAsync(string id, decimal usd, decimal size, decimal price)
        {
            await EnsureOkAsync(await venue.PostAsync($"v1/accounts/{id}", Json("{}")));
            await EnsureOkAsync(await venue.PostAsync($"v1/accounts/{id}/deposits", Json($$"""{ "commandId": "{{id}}-d", "asset": "USD", "quantity": "{{usd}}" }""")));
            await EnsureOkAsync(await venue.PostAsync($"v1/accounts/{id}/fills", Json($$"""{ "commandId": "{{id}}-f", "market": "BTC-USD", "size": "{{size}}", "price": "{{price}}" }""")));
        }

        await OpenAsync("adl-bust", 7_000m, 1_000m, 100m);
        await OpenAsync("adl-s1", 1_000m, -5m, 120m);
        await OpenAsync("adl-s2", 1_000m, -5m, 105m);
        await OpenAsync("adl-s3", 1_000m, -2m, 95m);

        // At 100: s1 (u = 100, E = 1,100, G = 500: 0.0758) before s2 (u = 25, E = 1,025: 0.0232); s3 and bust are in no queue.
        async Task<decimal?> QuantileAsync(string id)
        {
            var position = Assert.Single((await reader.GetJsonAsync($"v1/accounts/{id}")).GetProperty("positions").EnumerateArray());
            return position.TryGetProperty("adlQuantile", out var q) && q.ValueKind != JsonValueKind.Null ? Decimals.Parse(q) : null;
        }

        Assert.Equal(1m, await QuantileAsync("adl-s1"));
        Assert.Equal(0.5m, await QuantileAsync("adl-s2"));
        Assert.Null(await QuantileAsync("adl-s3"));
        Assert.Null(await QuantileAsync("adl-bust"));

        // At 80 bust is bankrupt: E = 7,000 − 20,000; the fund (10,000) covers most, R = 3,000 over Q = 1,000: P_b = 83.
        // The shorts in profit, s1 (0.111), s2 (0.085) and now s3 (0.024), are closed in that order at 83.
        await feed.PostJsonAsync("v1/prices", fixture.Price("BTC-USD", "80"));
        foreach (var (id, quantity) in new[] { ("adl-s1", 5m), ("adl-s2", 5m), ("adl-s3", 2m) })
        {
            var events = (await reader.GetJsonAsync($"v1/accounts/{id}/events")).EnumerateArray().ToList();
            var adl = Assert.Single(events, e => e.GetProperty("type").GetString() == "adl");
            Assert.Equal(id, adl.GetProperty("account").GetString());
            Assert.Equal("adl-bust", adl.GetProperty("counterparty").GetString());
            Assert.Equal(quantity, Decimals.Parse(adl.GetProperty("quantity")));
            Assert.Equal(83m, Decimals.Parse(adl.GetProperty("price")));
            Assert.Empty((await reader.GetJsonAsync($"v1/accounts/{id}")).GetProperty("positions").EnumerateArray());
        }
    }
}
