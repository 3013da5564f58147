using System.Globalization;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>
/// Issue 9, a durable audit of what is not an account's command: a price, a configuration change and an account's
/// opening are answered while their audit records wait for PostgreSQL (a lock on the table), then the silo is killed
/// with SIGKILL. A new silo on the same database has each record exactly once: the market's and the configuration's
/// audit outboxes, written with the step and the change, and the account's (the opening), offer them again. The
/// market, and an account whose deposit was answered, are never touched after the restart: their audit reminders
/// activate them. A liquidation batch of a price step (kept by the insurance fund, written with the step's charges) likewise.
/// </summary>
public sealed class DurableGridAuditTests
{
    /// <summary>An untouched market offers again at its reminder's next tick (a minute at most) after the new silo started.</summary>
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(150);

    private const string Config = """
        { "markets": [ { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "impact": "0.0001", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] } ],
          "insuranceFund": "10000" }
        """;

    private const string ChangedConfig = """
        { "markets": [ { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.02", "impact": "0.0001", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] } ] }
        """;

    private static readonly Dictionary<string, string> Environment = new() { ["Logging__LogLevel__Default"] = "Warning" };

    private const string PriceRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'price' AND market = 'ETH-USD' AND payload->>'step' = 'ETH-USD#2'";
    private const string FirstPriceRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'price' AND market = 'ETH-USD' AND payload->>'step' = 'ETH-USD#1'";
    private const string ConfigRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'config' AND grain_version = 2";
    private const string FirstConfigRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'config' AND grain_version = 1";
    private const string OpenRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'open' AND account_id = 'opened-2'";

    private const string QuietOpenRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'open' AND account_id = 'quiet-1'";
    private const string QuietDepositRows = "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'deposit' AND command_id = 'quiet-1/q-dep-1'";

    private const string BatchRows =
        "SELECT count(*) FROM margingrid_audit WHERE kind = 'event' AND type = 'liquidation_batch' AND command_id = '*fund/ETH-USD#3/batch/ETH-USD'";

    [Fact]
    public async Task APriceAConfigChangeAndAnOpeningAnsweredBeforeTheirAuditWasFlushedAreAuditedOnceAfterAKill9()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync("mg_grid_audit_kill");
        var init = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
        Assert.True(init.ExitCode == 0, init.Output);

        var first = await SiloProcess.StartAsync("api-grid-audit-kill-1", database.ConnectionString, Environment);
        try
        {
            using (var client = new GridClient(first.BaseAddress, null, TimeSpan.FromSeconds(30)))
            {
                await EnsureOkAsync(await client.PostAsync("v1/config", Json(Config)));
                await EnsureOkAsync(await client.PostAsync("v1/prices", Json(Price("100"))));
                await AuditTable.WaitForRowAsync(database.ConnectionString, FirstPriceRows, TimeSpan.FromSeconds(30), () => first.Tail());
                await AuditTable.WaitForRowAsync(database.ConnectionString, FirstConfigRows, TimeSpan.FromSeconds(30), () => first.Tail());
                await EnsureOkAsync(await client.PostAsync("v1/accounts/quiet-1", Json("{}")));
                await AuditTable.WaitForRowAsync(database.ConnectionString, QuietOpenRows, TimeSpan.FromSeconds(30), () => first.Tail());
                await EnsureOkAsync(await client.PostAsync("v1/accounts/liq-1", Json(
                    """{ "collateral": { "USD": "100" }, "positions": [ { "market": "ETH-USD", "size": "10", "entryPrice": "100" } ] }""")));

                // The audit writer's INSERT waits for this lock: the requests are answered, their records only queued.
                await using var auditLock = await AuditTable.LockAsync(database.ConnectionString);

                var changed = await EnsureOkAsync(await client.PostAsync("v1/config", Json(ChangedConfig)));
                Assert.Equal(2, changed.GetProperty("version").GetInt64());
                var priced = await EnsureOkAsync(await client.PostAsync("v1/prices", Json(Price("101"))));
                Assert.Equal("ETH-USD#2", priced.GetProperty("steps")[0].GetProperty("step").GetString());
                // A step that liquidates liq-1: its liquidation batch is kept by the insurance fund, written with its charges.
                var crash = await EnsureOkAsync(await client.PostAsync("v1/prices", Json(Price("94"))));
                Assert.True(
                    crash.GetProperty("steps")[0].GetProperty("events").EnumerateArray().Any(e => e.GetProperty("type").GetString() == "liquidation_batch"),
                    crash.ToString());
                var deposit = await EnsureOkAsync(await client.PostAsync(
                    "v1/accounts/quiet-1/deposits", Json("""{ "commandId": "q-dep-1", "asset": "USD", "quantity": "75" }""")));
                Assert.True(deposit.GetProperty("accepted").GetBoolean());
                using (var opened = await client.PostAsync("v1/accounts/opened-2", Json("""{ "collateral": { "USD": "500" } }""")))
                {
                    Assert.Equal(System.Net.HttpStatusCode.Created, opened.StatusCode);
                }

                await auditLock.KillAndReleaseAsync(first); // kill -9: the queued records die with the process
            }

            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, PriceRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, ConfigRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, OpenRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, QuietDepositRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, BatchRows));
        }
        finally
        {
            await first.DisposeAsync();
        }

        await using var second = await SiloProcess.StartAsync("api-grid-audit-kill-2", database.ConnectionString, Environment);
        using var reader = new GridClient(second.BaseAddress, null, TimeSpan.FromSeconds(30));
        var view = await EnsureOkAsync(await reader.GetAsync("v1/accounts/opened-2")); // activates the account (and the configuration)
        Assert.Equal("500", view.GetProperty("collateral").GetProperty("USD").GetString());
        await AuditTable.WaitForRowAsync(database.ConnectionString, OpenRows, Deadline, () => second.Tail());
        await AuditTable.WaitForRowAsync(database.ConnectionString, ConfigRows, Deadline, () => second.Tail());
        await AuditTable.WaitForRowAsync(database.ConnectionString, PriceRows, Deadline, () => second.Tail()); // nobody touches ETH-USD: its reminder does
        await AuditTable.WaitForRowAsync(database.ConnectionString, QuietDepositRows, Deadline, () => second.Tail()); // nor quiet-1: its reminder does
        await AuditTable.WaitForRowAsync(database.ConnectionString, BatchRows, Deadline, () => second.Tail());

        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, PriceRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, FirstPriceRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, ConfigRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, FirstConfigRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, OpenRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, QuietOpenRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, QuietDepositRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, BatchRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, "SELECT count(*) FROM margingrid_audit WHERE kind = 'price' AND payload->>'step' = 'ETH-USD#3'"));
        Assert.Equal("101", await AuditTable.ScalarAsync(database.ConnectionString,
            "SELECT payload->>'price' FROM margingrid_audit WHERE kind = 'price' AND payload->>'step' = 'ETH-USD#2'"));
        Assert.Equal("0.02", await AuditTable.ScalarAsync(database.ConnectionString,
            "SELECT payload->'config'->'markets'->0->>'liquidationPenalty' FROM margingrid_audit WHERE kind = 'config' AND grain_version = 2"));
        Assert.Equal("500", await AuditTable.ScalarAsync(database.ConnectionString,
            "SELECT payload->'request'->'collateral'->>'USD' FROM margingrid_audit WHERE kind = 'command' AND type = 'open' AND account_id = 'opened-2'"));
        Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, "SELECT count(*) FROM margingrid_audit_quarantine"));
    }

    private static string Price(string price) =>
        $$"""[{ "market": "ETH-USD", "source": "test", "price": "{{price}}", "timestamp": "{{DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)}}" }]""";
}
