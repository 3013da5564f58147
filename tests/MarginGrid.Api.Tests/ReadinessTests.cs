using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Npgsql;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary><c>/health/ready</c> of a real silo follows PostgreSQL: 503 while its database refuses connections, 200 again after.</summary>
public sealed class ReadinessTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadinessIs503WhilePostgresIsAway()
    {
        var database = new NpgsqlConnectionStringBuilder(fixture.ConnectionString).Database!;
        using var client = fixture.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/ready")).StatusCode);
        try
        {
            await AdminAsync($"ALTER DATABASE {database} ALLOW_CONNECTIONS false");
            await AdminAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'");
            await WaitForAsync(client, HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            await AdminAsync($"ALTER DATABASE {database} ALLOW_CONNECTIONS true");
        }

        await WaitForAsync(client, HttpStatusCode.OK);
    }

    private static async Task WaitForAsync(HttpClient client, HttpStatusCode expected)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var response = await client.GetAsync("health/ready");
            if (response.StatusCode == expected)
            {
                return;
            }

            Assert.True(deadline.Elapsed < Deadline, $"/health/ready stayed {(int)response.StatusCode}, expected {(int)expected}");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling a condition with a deadline
        }
    }

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestPostgres.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>
/// Issue 9 on a real silo: <c>/health/ready</c> names a market whose accounts cannot be evaluated (degraded, still 200,
/// so that the markets that settle keep their traffic) and recovers when the market settles again. The failure is
/// real: a configuration moves BTC's price market to NEW-USD, which has no price yet, so <c>stuck-1</c> (BTC collateral,
/// long BTC-USD, in margin call so that every BTC-USD tick reaches it) cannot be evaluated at the next BTC-USD step,
/// until NEW-USD has a price.
/// </summary>
public sealed class MarketSettlementReadinessTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadinessNamesAMarketThatCannotSettleAndRecovers()
    {
        using var client = fixture.Client(null);
        using var admin = fixture.Client("admin");
        using var feed = fixture.Client("feed");
        var ready = await ReadyAsync(client);
        Assert.Equal(0, ready.GetProperty("unsettledMarkets").GetArrayLength());

        // In margin call (E = 0.9 × 0.6 × 100 = 54, MM = 50): no safe band, so every BTC-USD tick reaches it.
        var opened = await EnsureOkAsync(await admin.PostAsync("v1/accounts/stuck-1", Json(
            """{ "collateral": { "BTC": "0.6" }, "positions": [ { "market": "BTC-USD", "size": "10", "entryPrice": "100" } ], "allowUnhealthy": true }""")));
        Assert.Equal("margin_call", opened.GetProperty("status").GetString());

        var moved = Regex.Replace(HardeningFixture.Config, @",\s*""insuranceFund"":\s*""10000""", string.Empty) // seeded once
            .Replace("\"priceMarket\": \"BTC-USD\"", "\"priceMarket\": \"NEW-USD\"", StringComparison.Ordinal)
            .Replace(
                "{ \"symbol\": \"MARK-USD\"",
                "{ \"symbol\": \"NEW-USD\", \"lotSize\": \"0.001\", \"liquidationPenalty\": \"0.01\", \"brackets\": [ { \"floor\": 0, \"mmr\": \"0.05\", \"imr\": \"0.1\" } ] },\n    { \"symbol\": \"MARK-USD\"",
                StringComparison.Ordinal);
        Assert.DoesNotContain("insuranceFund", moved, StringComparison.Ordinal);
        Assert.Contains("NEW-USD", moved, StringComparison.Ordinal);
        await EnsureOkAsync(await admin.PostAsync("v1/config", Json(moved)));
        // Opening an account loads the newest configuration into the silo's cache (ticks carry its version).
        await EnsureOkAsync(await admin.PostAsync("v1/accounts/config-reader", Json("{}")));
        var step = await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("BTC-USD", "101"))));
        Assert.True(step.GetProperty("steps")[0].GetProperty("evaluated").GetInt32() > 0, step.ToString());

        var degraded = await WaitForAsync(client, r => r.GetProperty("unsettledMarkets").GetArrayLength() > 0);
        Assert.Equal("Degraded", degraded.GetProperty("status").GetString());
        Assert.Equal(["BTC-USD"], degraded.GetProperty("unsettledMarkets").EnumerateArray().Select(m => m.GetString()));
        var markets = degraded.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "markets");
        Assert.Contains("stuck-1", markets.GetProperty("unsettled")[0].GetProperty("reason").GetString(), StringComparison.Ordinal);

        // NEW-USD gets its price: the next BTC-USD step evaluates stuck-1 again, and the market settles.
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("NEW-USD", "100"))));
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("BTC-USD", "102"))));
        var recovered = await WaitForAsync(client, r => r.GetProperty("unsettledMarkets").GetArrayLength() == 0);
        Assert.Equal("Healthy", recovered.GetProperty("status").GetString());
    }

    private static async Task<JsonElement> ReadyAsync(HttpClient client)
    {
        using var response = await client.GetAsync("health/ready");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"/health/ready answered {(int)response.StatusCode}: {body}");
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            Assert.Fail($"/health/ready does not describe the markets: {body}");
            throw;
        }
    }

    private async Task<JsonElement> WaitForAsync(HttpClient client, Func<JsonElement, bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var ready = await ReadyAsync(client);
            if (condition(ready))
            {
                return ready;
            }

            Assert.True(deadline.Elapsed < Deadline, $"/health/ready stayed {ready}; the silo's log:\n{fixture.Silo.Tail()}");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling a condition with a deadline (the reports are one-way)
        }
    }
}

/// <summary>A silo with one mutating request per second: the 429 carries <c>Retry-After</c>.</summary>
public sealed class RateLimitRetryAfterTests
{
    [Fact]
    public async Task A429CarriesRetryAfter()
    {
        await using var silo = await SiloProcess.StartAsync("api-ratelimit", null, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["MarginGrid__RateLimit__PermitsPerSecond"] = "1",
        });
        using var client = new HttpClient { BaseAddress = silo.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 5 && limited is null; i++)
        {
            var response = await client.PostAsync("v1/prices", GridClient.Json("[]"));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 without Retry-After");
        }
    }
}
