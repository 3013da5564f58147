using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Api.Tests;

/// <summary>
/// One silo on a fresh, initialized PostgreSQL database for a test class, with one API key per role (random, made
/// here) and a configuration of three markets. BTC-USD has a mark of 100 from the start. The <c>trader</c> key may
/// act on <c>e2e</c>, <c>idem</c> and <c>own-*</c>; <c>trader7</c> (also a trader) on <c>acct-7*</c>. <c>/metrics</c>
/// needs a reader key here (<c>MarginGrid:Metrics:RequireApiKey</c>).
/// </summary>
public sealed class SiloFixture : IAsyncLifetime
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _clock;
    private string? _database;

    public SiloProcess Silo { get; private set; } = null!;

    public string ConnectionString => _database ?? throw new InvalidOperationException("fixture not initialized");

    /// <summary>Key name → key; the name is the role, except <c>trader7</c>, a trader. <c>venue</c> moves money.</summary>
    public IReadOnlyDictionary<string, string> Keys { get; } = new[] { "admin", "feed", "trader", "reader", "trader7", "venue" }
        .ToDictionary(r => r, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

    public async Task InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync();
        var (code, output) = await Margingrid.RunAsync("db", "init", "--connection-string", _database);
        Assert.True(code == 0, output);
        var environment = new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["MarginGrid__RateLimit__PermitsPerSecond"] = "10000",
            ["MarginGrid__Metrics__RequireApiKey"] = "true",
            // A list of accounts and patterns, and a single pattern.
            ["MarginGrid__ApiKeys__trader__Accounts__0"] = "e2e",
            ["MarginGrid__ApiKeys__trader__Accounts__1"] = "idem",
            ["MarginGrid__ApiKeys__trader__Accounts__2"] = "own-*",
            ["MarginGrid__ApiKeys__trader7__Accounts"] = "acct-7*",
        };
        foreach (var (name, key) in Keys)
        {
            environment[$"MarginGrid__ApiKeys__{name}__Hash"] = ApiKeys.Hash(key);
            environment[$"MarginGrid__ApiKeys__{name}__Role"] = name == "trader7" ? "trader" : name;
        }

        Silo = await SiloProcess.StartAsync(_database, environment);
        using var admin = Client("admin");
        await EnsureOkAsync(await admin.PostAsync("v1/config", Json("""
            {
              "markets": [
                { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "SOL-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
              ],
              "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02" } ],
              "insuranceFund": "10000"
            }
            """)));
        using var feed = Client("feed");
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(Price("BTC-USD", "100"))));
    }

    public async Task DisposeAsync()
    {
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        if (_database is not null)
        {
            await TestPostgres.DropDatabaseAsync(_database);
        }
    }

    /// <summary>A client with the key of <paramref name="role"/>, or without a key when it is null.</summary>
    public HttpClient Client(string? role)
    {
        var client = new HttpClient { BaseAddress = Silo.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (role is not null)
        {
            client.DefaultRequestHeaders.Add(ApiKeys.Header, Keys[role]);
        }

        return client;
    }

    /// <summary>A one-price batch stamped later than every earlier one.</summary>
    public string Price(string market, string price) =>
        $$"""[{ "market": "{{market}}", "source": "test", "price": "{{price}}", "timestamp": "{{Epoch.AddSeconds(Interlocked.Increment(ref _clock)).ToString("O", CultureInfo.InvariantCulture)}}" }]""";

    public static StringContent Json(string json) => new(json, Encoding.UTF8, new MediaTypeHeaderValue("application/json"));

    public static async Task<JsonElement> EnsureOkAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task<JsonElement> GetJsonAsync(HttpClient client, string path) => await EnsureOkAsync(await client.GetAsync(path));

    public static decimal Decimal(JsonElement element) => decimal.Parse(element.GetString()!, CultureInfo.InvariantCulture);
}
