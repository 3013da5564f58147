namespace MarginGrid.Client.Tests;

/// <summary>The native client against a real silo process on PostgreSQL, through its gateway and through the membership table.</summary>
public sealed class ClientTests(ClientSiloFixture fixture) : IClassFixture<ClientSiloFixture>
{
    private static readonly TimeSpan EventDeadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Through_the_gateway_a_client_prices_opens_fills_deposits_and_a_retried_command_id_is_a_duplicate()
    {
        await using var client = await MarginGridClient.ConnectAsync(fixture.Target);
        Assert.Equal(1, client.ConnectAttempts);

        var step = await client.PublishPriceAsync(ClientSiloFixture.Market, 100m, "feed-a");
        Assert.StartsWith($"{ClientSiloFixture.Market}#", step.Step, StringComparison.Ordinal);
        Assert.Equal(100m, (await client.GetMarkAsync(ClientSiloFixture.Market))!.Price);

        await client.OpenAccountAsync("gw-1", ClientSiloFixture.Usd(1_000m));
        await Assert.ThrowsAsync<InvalidOperationException>(() => client.OpenAccountAsync("gw-1", ClientSiloFixture.Usd(1m)));

        var fill = await client.FillAsync("gw-1", "gw-1/fill-1", ClientSiloFixture.Market, 2m, 100m);
        Assert.True(fill.Accepted, fill.Reason);
        Assert.False(fill.Duplicate);

        var deposit = await client.DepositAsync("gw-1", "gw-1/dep-1", "USD", 250m);
        Assert.True(deposit.Accepted, deposit.Reason);
        Assert.False(deposit.Duplicate);

        var retried = await client.DepositAsync("gw-1", "gw-1/dep-1", "USD", 250m);
        Assert.True(retried.Duplicate);
        Assert.True(retried.Accepted);
        Assert.Equal(deposit.Version, retried.Version);
        await Assert.ThrowsAnyAsync<Exception>(() => client.DepositAsync("gw-1", "gw-1/dep-1", "USD", 999m)); // same id, other body

        var withdrawal = await client.WithdrawAsync("gw-1", "gw-1/wd-1", "USD", 1_000_000m);
        Assert.False(withdrawal.Accepted);

        var view = await client.GetAccountAsync("gw-1");
        Assert.NotNull(view);
        Assert.Equal(1_250m, view.Collateral["USD"]); // deposited once, the retry changed nothing
        var position = Assert.Single(view.Positions);
        Assert.Equal((ClientSiloFixture.Market, 2m, 100m, 100m), (position.Market, position.Size, position.EntryPrice, position.Mark));
        Assert.Equal(RiskStatus.Healthy, view.Status);
        Assert.Equal(1_250m, view.NetUsdTransfers);
        Assert.Null(await client.GetAccountAsync("gw-nobody"));

        var fund = await client.GetFundAsync();
        Assert.Equal(10_000m, fund.InsuranceFund);
    }

    [Fact]
    public async Task A_subscriber_receives_the_events_of_the_cluster_stream()
    {
        await using var client = await MarginGridClient.ConnectAsync(fixture.Target);
        var rejected = new TaskCompletionSource<GridEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using (await client.SubscribeEventsAsync(e =>
        {
            if (e.Account == "ev-unknown")
            {
                rejected.TrySetResult(e);
            }

            return Task.CompletedTask;
        }))
        {
            // A fill for an account that does not exist is rejected, and the rejection goes to the stream.
            var result = await client.FillAsync("ev-unknown", "ev-unknown/fill-1", ClientSiloFixture.Market, 1m, 100m);
            Assert.False(result.Accepted);

            var e = await rejected.Task.WaitAsync(EventDeadline);
            Assert.Equal(GridEventType.Rejected, e.Type);
            Assert.Equal("ev-unknown/fill-1", e.Step);
        }
    }

    [Fact]
    public async Task Through_the_postgres_membership_table_a_client_finds_the_gateways()
    {
        await using var client = await MarginGridClient.ConnectAsync(new MarginGridClientOptions
        {
            PostgresConnectionString = fixture.ConnectionString,
            ClusterId = ClientSiloFixture.ClusterId,
            Events = false,
        });
        var config = await client.GetConfigAsync();
        Assert.NotNull(config);
        Assert.Equal(ClientSiloFixture.Market, Assert.Single(config.Markets).Symbol);
        Assert.Equal(10_000m, (await client.GetFundAsync()).InsuranceFund);
    }

    [Fact]
    public async Task A_cluster_that_never_answers_fails_the_connect_after_its_retries()
    {
        var options = MarginGridClientOptions.Parse($"orleans://127.0.0.1:{Ports.Free()}") with
        {
            ConnectTimeout = TimeSpan.FromSeconds(2),
            ConnectRetryDelay = TimeSpan.FromMilliseconds(500),
        };
        var e = await Assert.ThrowsAsync<MarginGridConnectException>(() => MarginGridClient.ConnectAsync(options));
        Assert.Contains("attempt(s)", e.Message, StringComparison.Ordinal);
    }
}
