using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using MarginGrid.Host.Silo.Security;
using Npgsql;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>
/// One silo on its own PostgreSQL database for the money-path hardening tests (issue 9), with a key per role —
/// <c>admin</c>, <c>venue</c>, <c>feed</c>, <c>trader</c> (accounts <c>own-*</c>), <c>reader</c> — and three markets:
/// BTC-USD (limits: max price 1e6, size 1e4, notional 1e9), ETH-USD (defaults) and MARK-USD, which no account
/// holds (the corpus's marker prices go there). BTC is collateral priced by BTC-USD. Accounts: <c>victim</c>
/// (1000 USD, 1 BTC, long 5 BTC-USD at 100) and <c>own-1</c> (500 USD). At most 30 failed authentications per
/// minute and client address.
/// </summary>
public sealed class HardeningFixture : IAsyncLifetime
{
    public const int FailedAuthPerMinute = 30;

    public const string Config = """
        {
          "markets": [
            { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ],
              "limits": { "maxPrice": "1000000", "maxPositionSize": "10000", "maxNotional": "1000000000" } },
            { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] },
            { "symbol": "MARK-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
          ],
          "collateral": [ { "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02", "maxQuantity": "1000000" } ],
          "insuranceFund": "10000"
        }
        """;

    private TestDatabase? _database;

    public SiloProcess Silo { get; private set; } = null!;

    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("fixture not initialized");

    public IReadOnlyDictionary<string, string> Keys { get; } = KeyedSilo.NewKeys("admin", "venue", "feed", "trader", "reader");

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["MarginGrid__RateLimit__FailedAuthPerMinute"] = FailedAuthPerMinute.ToString(CultureInfo.InvariantCulture),
            ["MarginGrid__ApiKeys__trader__Accounts"] = "own-*",
        };
        (_database, Silo) = await KeyedSilo.StartAsync("mg_harden", "api-harden", Keys, name => name, settings);
        using var admin = Client("admin");
        using var feed = Client("feed");
        using var venue = Client("venue");
        await EnsureOkAsync(await admin.PostAsync("v1/config", Json(Config)));
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(Price("BTC-USD", "100"))));
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(Price("ETH-USD", "100"))));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/victim", Json(
            """{ "collateral": { "USD": "1000", "BTC": "1" }, "positions": [ { "market": "BTC-USD", "size": "5", "entryPrice": "100" } ] }""")));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/own-1", Json("""{ "collateral": { "USD": "500" } }""")));
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

    /// <summary>
    /// A client with the key of <paramref name="role"/> (none when null), connecting from <paramref name="from"/>
    /// (a loopback address such as 127.0.0.9: the silo limits failed authentication per client address).
    /// </summary>
    public GridClient Client(string? role, string? key = null, IPAddress? from = null)
    {
        var handler = new SocketsHttpHandler();
        if (from is not null)
        {
            handler.ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }

        return new GridClient(Silo.BaseAddress, key ?? (role is null ? null : Keys[role]), TimeSpan.FromSeconds(30), handler);
    }

    private long _lastTicks;

    /// <summary>A one-price batch stamped now (strictly later than the previous one), on the engine's clock.</summary>
    public string Price(string market, string price) =>
        $$"""[{ "market": "{{market}}", "source": "test", "price": "{{price}}", "timestamp": "{{Now().ToString("O", CultureInfo.InvariantCulture)}}" }]""";

    private DateTimeOffset Now()
    {
        lock (Keys)
        {
            _lastTicks = Math.Max(_lastTicks + 1, DateTimeOffset.UtcNow.UtcTicks);
            return new DateTimeOffset(_lastTicks, TimeSpan.Zero);
        }
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task<List<(long Id, string Kind, string Type, string Account)>> AuditAfterAsync(long id)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT id, kind, type, account_id FROM margingrid_audit WHERE id > {id} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(long, string, string, string)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return rows;
    }
}
