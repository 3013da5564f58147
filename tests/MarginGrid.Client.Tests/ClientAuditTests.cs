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
        await AuditTable.WaitForRowAsync(fixture.ConnectionString, price, Deadline, () => fixture.Silo.Tail());
        Assert.Equal(1L, await AuditTable.CountAsync(fixture.ConnectionString, price));
        Assert.Equal("native-feed", await AuditTable.ScalarAsync(fixture.ConnectionString,
            $"SELECT payload->>'source' FROM margingrid_audit WHERE kind = 'price' AND payload->>'step' = '{step.Step}'"));

        // The fixture set the configuration through the native client.
        const string config = "SELECT count(*) FROM margingrid_audit WHERE kind = 'config' AND grain_version = 1";
        await AuditTable.WaitForRowAsync(fixture.ConnectionString, config, Deadline, () => fixture.Silo.Tail());
        Assert.Equal(1L, await AuditTable.CountAsync(fixture.ConnectionString, config));
    }
}
