using System.Net;
using System.Text.Json;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>Margin model v2 through the HTTP API of a real silo: per-market configuration and the market view.</summary>
public sealed class RiskDepthApiTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private const string Markets = """
        { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
        { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
        { "symbol": "SOL-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
        """;

    private const string Collateral = """
        "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02" } ]
        """;

    [Fact]
    public async Task An_oracle_guarded_market_needs_two_sources_holds_a_jump_and_shows_it_in_its_view()
    {
        using var admin = fixture.Client("admin");
        using var feed = fixture.Client("feed");
        using var reader = fixture.Client("reader");
        await admin.PostJsonAsync("v1/config", $$"""
            {
              "markets": [ {{Markets}},
                { "symbol": "XRP-USD", "lotSize": "1", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ],
                  "oracle": { "maxAge": "3600", "minSources": 2, "maxMove": "0.1" },
                  "volatility": { "window": 5, "reference": "0.01", "maxMultiplier": "3" },
                  "liquidationCap": "50000", "impact": "0.000001", "maxImpact": "0.2" } ],
              {{Collateral}}
            }
            """);

        await Publish(feed, "a", "1.00");
        var one = await reader.GetJsonAsync("v1/markets/XRP-USD");
        Assert.True(!one.TryGetProperty("mark", out var mark) || mark.ValueKind == JsonValueKind.Null); // one source of two: price_stale
        Assert.Single(one.GetProperty("sources").EnumerateArray());

        await Publish(feed, "b", "1.02");
        var two = await reader.GetJsonAsync("v1/markets/XRP-USD");
        Assert.Equal(1.01m, Decimal(two, "mark"));
        Assert.Equal(2, two.GetProperty("sources").GetArrayLength());
        Assert.False(two.GetProperty("stale").GetBoolean());
        Assert.Equal(1m, Decimal(two, "multiplier"));
        Assert.Equal(50_000m, Decimal(two, "liquidationCap"));

        await Publish(feed, "a", "2.00"); // candidate median(2.00, 1.02) = 1.51: a 49.5 % move, held by the breaker
        var held = await reader.GetJsonAsync("v1/markets/XRP-USD");
        Assert.Equal(1.01m, Decimal(held, "mark"));
        Assert.Equal(1.51m, Decimal(held, "heldPrice"));
    }

    [Fact]
    public async Task An_invalid_v2_setting_is_a_problem_naming_its_field_and_changes_nothing()
    {
        using var admin = fixture.Client("admin");
        var before = await admin.GetJsonAsync("v1/markets/BTC-USD");
        using var response = await admin.PostAsync("v1/config", Json($$"""
            {
              "markets": [ {{Markets}},
                { "symbol": "ADA-USD", "lotSize": "1", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ],
                  "oracle": { "maxAge": "0" } } ],
              {{Collateral}}
            }
            """));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Contains("oracle.maxAge", problem.GetProperty("field").GetString(), StringComparison.Ordinal);
        using var unknown = await admin.GetAsync("v1/markets/ADA-USD");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal(before.GetProperty("sequence").GetInt64(), (await admin.GetJsonAsync("v1/markets/BTC-USD")).GetProperty("sequence").GetInt64());
    }

    private Task<JsonElement> Publish(MarginGrid.Testing.GridClient feed, string source, string price) =>
        feed.PostJsonAsync("v1/prices", $$"""[{ "market": "XRP-USD", "source": "{{source}}", "price": "{{price}}", "timestamp": "{{DateTimeOffset.UtcNow.AddSeconds(-1):O}}" }]""");

    private static decimal Decimal(JsonElement e, string name) =>
        e.GetProperty(name).ValueKind == JsonValueKind.String
            ? decimal.Parse(e.GetProperty(name).GetString()!, System.Globalization.CultureInfo.InvariantCulture)
            : e.GetProperty(name).GetDecimal();
}
