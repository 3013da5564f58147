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
    private TestDatabase? _database;

    public SiloProcess Silo { get; private set; } = null!;

    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("fixture not initialized");

    /// <summary>Key name → key; the name is the role, except <c>trader7</c>, a trader. <c>venue</c> moves money.</summary>
    public IReadOnlyDictionary<string, string> Keys { get; } = KeyedSilo.NewKeys("admin", "feed", "trader", "reader", "trader7", "venue");

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["MarginGrid__Metrics__RequireApiKey"] = "true",
            // A list of accounts and patterns, and a single pattern.
            ["MarginGrid__ApiKeys__trader__Accounts__0"] = "e2e",
            ["MarginGrid__ApiKeys__trader__Accounts__1"] = "idem",
            ["MarginGrid__ApiKeys__trader__Accounts__2"] = "own-*",
            ["MarginGrid__ApiKeys__trader7__Accounts"] = "acct-7*",
        };
        (_database, Silo) = await KeyedSilo.StartAsync("mg_api", "api-tests", Keys, name => name == "trader7" ? "trader" : name, settings);
        using var admin = Client("admin");
        await admin.PostJsonAsync("v1/config", """
            {
              "markets": [
                { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
                { "symbol": "SOL-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
              ],
              "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02" } ],
              "insuranceFund": "10000"
            }
            """);
        using var feed = Client("feed");
        await feed.PostJsonAsync("v1/prices", Price("BTC-USD", "100"));
    }

    public async Task DisposeAsync()
    {
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    /// <summary>A client with the key of <paramref name="role"/>, or without a key when it is null.</summary>
    public GridClient Client(string? role) => new(Silo.BaseAddress, role is null ? null : Keys[role]);

    /// <summary>A one-price batch stamped later than every earlier one.</summary>
    public string Price(string market, string price) =>
        $$"""[{ "market": "{{market}}", "source": "test", "price": "{{price}}", "timestamp": "{{Epoch.AddSeconds(Interlocked.Increment(ref _clock)).ToString("O", CultureInfo.InvariantCulture)}}" }]""";

}
