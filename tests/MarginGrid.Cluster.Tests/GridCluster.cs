using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using MarginGrid.Host.Silo.Security;
using Npgsql;

namespace MarginGrid.Cluster.Tests;

/// <summary>A row of OrleansMembershipTable; status 3 is Active, 6 is Dead.</summary>
public sealed record Member(string Address, int Port, int Generation, int Status, string SiloName);

/// <summary>
/// A cluster of <c>margingrid silo</c> processes of one test class: its own database (initialized with
/// <c>margingrid db init</c>), its own cluster id, one API key per role, one market (BTC-USD) and a seeded insurance
/// fund. Disposing kills every node still running and drops the database.
/// </summary>
public sealed partial class GridCluster : IAsyncDisposable
{
    public const decimal InitialFund = 10_000m;
    public const string Market = "BTC-USD";

    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TestDatabase _database;
    private readonly List<SiloProcess> _nodes = [];
    private readonly Dictionary<string, string> _environment;
    private long _clock;

    private GridCluster(TestDatabase database, string clusterId, IReadOnlyDictionary<string, string>? extra)
    {
        _database = database;
        ConnectionString = database.ConnectionString;
        ClusterId = clusterId;
        _environment = new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["MarginGrid__RateLimit__PermitsPerSecond"] = "100000",
            // Everything an account did stays in its history and its command ids stay remembered for the whole test.
            ["MarginGrid__Grid__RecentEvents"] = "100000",
        };
        foreach (var (role, key) in Keys)
        {
            _environment[$"MarginGrid__ApiKeys__{role}__Hash"] = ApiKeys.Hash(key);
            _environment[$"MarginGrid__ApiKeys__{role}__Role"] = role;
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            _environment[key] = value;
        }
    }

    public string ClusterId { get; }

    public string ConnectionString { get; }

    public IReadOnlyDictionary<string, string> Keys { get; } = new[] { "admin", "feed", "venue", "reader" }
        .ToDictionary(r => r, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

    /// <summary>Every node started, in order, killed ones included.</summary>
    public IReadOnlyList<SiloProcess> Nodes => _nodes;

    /// <summary>The nodes that are ready and not killed: where requests go.</summary>
    public IReadOnlyList<SiloProcess> Running => [.. _nodes.Where(n => n.IsReady && n.IsRunning)];

    /// <summary>A new database on <paramref name="adminConnectionString"/> (the suite's server by default), initialized.</summary>
    public static async Task<GridCluster> CreateAsync(
        string name, string? adminConnectionString = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var database = await TestPostgres.CreateDatabaseAsync("mg_cluster", adminConnectionString);
        var cluster = new GridCluster(database, $"{name}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}", environment);
        try
        {
            var init = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
            Assert.True(init.ExitCode == 0, $"margingrid db init failed ({init.ExitCode}):\n{init.Output}");
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    /// <summary>Starts <paramref name="count"/> nodes at once and waits until all are ready.</summary>
    public async Task<IReadOnlyList<SiloProcess>> StartNodesAsync(int count)
    {
        var started = new List<SiloProcess>();
        for (var i = 0; i < count; i++)
        {
            var node = SiloProcess.Start($"silo{_nodes.Count + 1}", ClusterId, ConnectionString, _environment);
            _nodes.Add(node);
            started.Add(node);
        }

        await Task.WhenAll(started.Select(n => n.WaitUntilReadyAsync()));
        return started;
    }

    public GridClient Client(SiloProcess node, string role, TimeSpan? timeout = null) => new(node.BaseAddress, Keys[role], timeout);

    /// <summary>
    /// Risk configuration (one market, 5 % MM, 10 % IM, 1 % penalty), the insurance fund and a first BTC-USD mark of
    /// 100, through <paramref name="node"/>: the configuration, fund, market and its shards are activated there.
    /// </summary>
    public async Task ConfigureAsync(SiloProcess node)
    {
        using var admin = Client(node, "admin");
        await GridClient.EnsureOkAsync(await admin.PostAsync("v1/config", GridClient.Json($$"""
            {
              "markets": [
                { "symbol": "{{Market}}", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }
              ],
              "insuranceFund": "{{InitialFund.ToString(CultureInfo.InvariantCulture)}}"
            }
            """)));
        using var feed = Client(node, "feed");
        await GridClient.EnsureOkAsync(await feed.PostAsync("v1/prices", GridClient.Json(Price(100m))));
    }

    /// <summary>A one-price batch of BTC-USD stamped later than every earlier one.</summary>
    public string Price(decimal price) =>
        $$"""[{ "market": "{{Market}}", "source": "test", "price": "{{price.ToString(CultureInfo.InvariantCulture)}}", "timestamp": "{{Epoch.AddSeconds(Interlocked.Increment(ref _clock)).ToString("O", CultureInfo.InvariantCulture)}}" }]""";

    /// <summary>
    /// Opens each account with 1000 USD and a long BTC-USD position (size from <paramref name="size"/>) at 100, through
    /// the running nodes in turn: an account is activated, and so placed, on the node that first calls it.
    /// </summary>
    public async Task OpenAccountsAsync(IReadOnlyList<string> accounts, Func<int, decimal> size, decimal usd = 1000m)
    {
        var running = Running;
        var clients = running.Select(n => Client(n, "venue")).ToList();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, accounts.Count), new ParallelOptions { MaxDegreeOfParallelism = 4 }, async (i, _) =>
            {
                var body = $$"""
                    { "collateral": { "USD": "{{usd.ToString(CultureInfo.InvariantCulture)}}" },
                      "positions": [ { "market": "{{Market}}", "size": "{{size(i).ToString(CultureInfo.InvariantCulture)}}", "entryPrice": "100" } ] }
                    """;
                await GridClient.EnsureOkAsync(await clients[i % clients.Count].PostAsync($"v1/accounts/{accounts[i]}", GridClient.Json(body)));
            });
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }
    }

    /// <summary>This cluster's rows of OrleansMembershipTable.</summary>
    public async Task<IReadOnlyList<Member>> MembershipAsync()
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(ConnectionString) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT address, port, generation, status, siloname FROM orleansmembershiptable WHERE deploymentid = @id ORDER BY port", connection);
        command.Parameters.AddWithValue("id", ClusterId);
        var members = new List<Member>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            members.Add(new Member(reader.GetString(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt32(3), reader.GetString(4)));
        }

        return members;
    }

    /// <summary>Polls the membership table until <paramref name="condition"/> holds; fails with the rows after the deadline.</summary>
    public async Task<IReadOnlyList<Member>> WaitForMembershipAsync(Func<IReadOnlyList<Member>, bool> condition, string what, TimeSpan deadline)
    {
        var clock = Stopwatch.StartNew();
        IReadOnlyList<Member> members = [];
        while (clock.Elapsed < deadline)
        {
            members = await MembershipAsync();
            if (condition(members))
            {
                return members;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200)); // polling interval of a condition with a deadline
        }

        Assert.Fail($"membership: {what} not reached within {deadline}: {string.Join("; ", members)}");
        return members;
    }

    /// <summary>
    /// The number of AccountGrain activations that <paramref name="node"/> hosts now, from Orleans' own
    /// <c>orleans_catalog_activations{grain_type="account"}</c> gauge on its <c>/metrics</c>.
    /// </summary>
    public async Task<int> AccountActivationsAsync(SiloProcess node) => await ActivationsAsync(node, "account");

    /// <summary>The number of activations of grain type <paramref name="grainType"/> (e.g. <c>auctionhouse</c>) on <paramref name="node"/>.</summary>
    public async Task<int> ActivationsAsync(SiloProcess node, string grainType)
    {
        using var client = new GridClient(node.BaseAddress);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Keys["reader"]);
        var text = await client.GetStringAsync("metrics");
        var matches = Regex.Matches(
            text, $$"""orleans_catalog_activations\{[^}]*grain_type="{{Regex.Escape(grainType)}}"[^}]*\}\s+([0-9.eE+-]+)""", RegexOptions.CultureInvariant);
        Assert.True(text.Contains("orleans_catalog_activations", StringComparison.Ordinal),
            $"{node.Name}'s /metrics has no orleans_catalog_activations gauge (Orleans' meter is not exported?)");
        return matches.Sum(m => (int)Decimals.Parse(m.Groups[1].Value));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        await _database.DisposeAsync();
    }

    /// <summary>The last lines of every node's output, for failure messages.</summary>
    public string Logs() => string.Join("\n", _nodes.Select(n => $"--- {n.Name} (pid {n.Pid}, {(n.IsRunning ? "running" : "exited")}) ---\n{n.Tail(40)}"));
}
