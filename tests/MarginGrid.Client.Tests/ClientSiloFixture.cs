using System.Collections.Immutable;

namespace MarginGrid.Client.Tests;

/// <summary>
/// One real <c>margingrid silo</c> process on a fresh, initialized PostgreSQL database for the test class (cluster id
/// <see cref="ClusterId"/>, the default service id), configured with one market, BTC-PERP, through the native client.
/// </summary>
public sealed class ClientSiloFixture : IAsyncLifetime
{
    public const string ClusterId = "client-tests";
    public const string Market = "BTC-PERP";

    private TestDatabase? _database;

    public SiloProcess Silo { get; private set; } = null!;

    public string ConnectionString => _database?.ConnectionString ?? throw new InvalidOperationException("fixture not initialized");

    /// <summary>The silo's gateway as a client target.</summary>
    public string Target => $"orleans://127.0.0.1:{Silo.GatewayPort}?cluster-id={ClusterId}";

    public static RiskConfigSnapshot Config { get; } = new(
        0,
        [new MarketConfig(Market, 0.001m, 0.01m, [new BracketConfig(0m, 0.05m, 0.1m)])],
        [new CollateralConfig("BTC", 0.9m, Market, 0.02m)],
        new RiskRatios(1.25m, 1.10m));

    public async Task InitializeAsync()
    {
        _database = await TestPostgres.CreateDatabaseAsync("mg_client");
        var init = await Margingrid.RunAsync("db", "init", "--connection-string", _database.ConnectionString);
        Assert.True(init.ExitCode == 0, init.Output);
        Silo = await SiloProcess.StartAsync(ClusterId, _database.ConnectionString, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
        });

        await using var client = await MarginGridClient.ConnectAsync(Target);
        await client.SetConfigAsync(Config);
        await client.SeedInsuranceFundAsync(10_000m);
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

    public static AccountSeed Usd(decimal amount) => new(ImmutableDictionary<string, decimal>.Empty.Add("USD", amount), []);
}
