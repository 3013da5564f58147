using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace MarginGrid.Client.Tests;

/// <summary>
/// Issue 9: prices and configuration changes that reach the cluster through the native client (not the HTTP API) are
/// audited too — the market and the configuration grain offer their records themselves.
/// </summary>
public sealed class ClientAuditTests(ClientSiloFixture fixture) : IClassFixture<ClientSiloFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_price_and_a_configuration_set_through_the_native_client_are_in_the_audit_trail_once()
    {
        await using var client = await MarginGridClient.ConnectAsync(fixture.Target);
        var step = await client.PublishPriceAsync(ClientSiloFixture.Market, 123.45m, "native-feed");

        var price = $"SELECT count(*) FROM margingrid_audit WHERE kind = 'price' AND market = '{ClientSiloFixture.Market}' AND payload->>'step' = '{step.Step}'";
        await WaitForAsync(price);
        Assert.Equal(1L, await CountAsync(price));
        Assert.Equal("native-feed", await ScalarAsync(
            $"SELECT payload->>'source' FROM margingrid_audit WHERE kind = 'price' AND payload->>'step' = '{step.Step}'"));

        // The fixture set the configuration through the native client.
        const string config = "SELECT count(*) FROM margingrid_audit WHERE kind = 'config' AND grain_version = 1";
        await WaitForAsync(config);
        Assert.Equal(1L, await CountAsync(config));
    }

    private async Task WaitForAsync(string countSql)
    {
        var waited = Stopwatch.StartNew();
        while (await CountAsync(countSql) == 0)
        {
            Assert.True(waited.Elapsed < Deadline, $"no audit row for: {countSql}\nthe silo's log:\n{fixture.Silo.Tail()}");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling a condition with a deadline (the writer is asynchronous)
        }
    }

    private async Task<long> CountAsync(string sql) => Convert.ToInt64(await ScalarAsync(sql), CultureInfo.InvariantCulture);

    private async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }
}
