using System.Globalization;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>
/// Issue 9, a durable audit, as a fault test on real silo processes: a command is answered while its audit record is
/// still on its way to PostgreSQL (the test holds a lock that makes the audit writer wait), then the silo is killed
/// with SIGKILL, so the in-memory queue is gone. A new silo on the same database has the records — the commands and
/// the rejected withdrawal's event — once the account is active again: the account's audit outbox, persisted with each
/// step, offers them again, and PostgreSQL keeps one row per command id and per event key.
/// </summary>
public sealed class DurableAuditTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private const string Config = """
        { "markets": [ { "symbol": "ETH-USD", "lotSize": "0.001", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] } ],
          "insuranceFund": "10000" }
        """;

    private static readonly Dictionary<string, string> Environment = new() { ["Logging__LogLevel__Default"] = "Warning" };

    [Fact]
    public async Task ACommandAnsweredBeforeItsAuditWasFlushedIsAuditedAfterAKill9()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync("mg_audit_kill");
        var init = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
        Assert.True(init.ExitCode == 0, init.Output);

        var first = await SiloProcess.StartAsync("api-audit-kill-1", database.ConnectionString, Environment);
        try
        {
            using (var client = new GridClient(first.BaseAddress, null, TimeSpan.FromSeconds(30)))
            {
                await EnsureOkAsync(await client.PostAsync("v1/config", Json(Config)));
                await EnsureOkAsync(await client.PostAsync("v1/prices", Json(
                    $$"""[{ "market": "ETH-USD", "source": "test", "price": "100", "timestamp": "{{DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture)}}" }]""")));
                await EnsureOkAsync(await client.PostAsync("v1/accounts/durable-1", Json("{}")));
                await AuditTable.WaitForRowAsync(database.ConnectionString, "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'open' AND account_id = 'durable-1'", Deadline, () => first.Tail());

                // The audit writer's INSERT waits for this lock: the command is answered, its record is only queued.
                await using var auditLock = await AuditTable.LockAsync(database.ConnectionString);

                var deposit = await EnsureOkAsync(await client.PostAsync(
                    "v1/accounts/durable-1/deposits", Json("""{ "commandId": "dep-1", "asset": "USD", "quantity": "250" }""")));
                Assert.True(deposit.GetProperty("accepted").GetBoolean());
                using (var refused = await client.PostAsync(
                    "v1/accounts/durable-1/withdrawals", Json("""{ "commandId": "wd-1", "asset": "USD", "quantity": "1000" }""")))
                {
                    Assert.Equal(System.Net.HttpStatusCode.UnprocessableEntity, refused.StatusCode); // a rejected event too
                }

                await auditLock.KillAndReleaseAsync(first); // kill -9: the queued records die with the process
            }

            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, DepositRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, WithdrawalRows));
            Assert.Equal(0L, await AuditTable.CountAsync(database.ConnectionString, RejectedRows));
        }
        finally
        {
            await first.DisposeAsync();
        }

        // A new silo (a new cluster id: the dead one's membership row does not delay it) on the same storage.
        await using var second = await SiloProcess.StartAsync("api-audit-kill-2", database.ConnectionString, Environment);
        using var reader = new GridClient(second.BaseAddress, null, TimeSpan.FromSeconds(30));
        var view = await EnsureOkAsync(await reader.GetAsync("v1/accounts/durable-1")); // activates the account
        Assert.Equal("250", view.GetProperty("collateral").GetProperty("USD").GetString());
        await AuditTable.WaitForRowAsync(database.ConnectionString, DepositRows, Deadline, () => second.Tail());
        await AuditTable.WaitForRowAsync(database.ConnectionString, WithdrawalRows, Deadline, () => second.Tail());
        await AuditTable.WaitForRowAsync(database.ConnectionString, RejectedRows, Deadline, () => second.Tail());
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, DepositRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, WithdrawalRows));
        Assert.Equal(1L, await AuditTable.CountAsync(database.ConnectionString, RejectedRows)); // its audit key: once, however often offered
        Assert.Equal("insufficient balance", await AuditTable.ScalarAsync(database.ConnectionString,
            "SELECT payload->>'reason' FROM margingrid_audit WHERE kind = 'event' AND type = 'rejected' AND account_id = 'durable-1'"));
        Assert.Equal("true", await AuditTable.ScalarAsync(database.ConnectionString,
            "SELECT payload->>'recovered' FROM margingrid_audit WHERE kind = 'command' AND command_id = 'durable-1/dep-1'"));
    }

    private const string WithdrawalRows =
        "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'withdrawal' AND command_id = 'durable-1/wd-1'";

    private const string RejectedRows =
        "SELECT count(*) FROM margingrid_audit WHERE kind = 'event' AND type = 'rejected' AND account_id = 'durable-1'";

    private const string DepositRows =
        "SELECT count(*) FROM margingrid_audit WHERE kind = 'command' AND type = 'deposit' AND command_id = 'durable-1/dep-1'";
}
