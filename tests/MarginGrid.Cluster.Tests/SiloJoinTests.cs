using System.Diagnostics;

namespace MarginGrid.Cluster.Tests;

/// <summary>A fourth silo joins a three-silo cluster under a steady stream of commands and takes activations.</summary>
public sealed class SiloJoinTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const decimal OpeningUsd = 1000m;
    private GridCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await GridCluster.CreateAsync("join");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task A_fourth_silo_joins_under_load_takes_activations_and_nothing_acknowledged_is_lost()
    {
        var clock = Stopwatch.StartNew();
        var nodes = await _cluster.StartNodesAsync(3);
        await _cluster.ConfigureAsync(nodes[0]);
        var accounts = Enumerable.Range(0, 45).Select(i => $"acct-{i:D2}").ToList();
        await _cluster.OpenAccountsAsync(accounts, i => 50m + (i * 7 % 41));
        output.WriteLine($"setup {clock.Elapsed.TotalSeconds:F1} s (3 silos, {accounts.Count} accounts)");

        // Commands go to every running silo: the fourth as soon as it is up.
        using var workload = new Workload(_cluster, accounts, seed: 3) { Low = 86m };
        using var stop = new CancellationTokenSource();
        var load = workload.RunAsync(workers: 3, stop.Token);
        int Acked(Func<CommandRecord, bool> where) => workload.Commands.Count(c => c.First == Outcome.Acked && where(c));

        await Poll.UntilAsync(() => Acked(_ => true) >= 100, "100 commands acknowledged before the join", TimeSpan.FromSeconds(60));
        var joinFrom = workload.Clock.Elapsed;
        var fourth = (await _cluster.StartNodesAsync(1))[0];
        var joined = workload.Clock.Elapsed;
        var members = await _cluster.WaitForMembershipAsync(m => m.Count(x => x.Status == 3) == 4, "4 active silos", TimeSpan.FromSeconds(60));
        output.WriteLine($"{fourth.Name} started at {joinFrom.TotalSeconds:F1} s of load, ready {(joined - joinFrom).TotalSeconds:F1} s later; membership: "
            + string.Join(", ", members.Select(m => $"{m.Port} status {m.Status}")));

        // The new silo takes activations under load. Orleans places a new activation by the silos' load statistics, not
        // always on the silo that called it, and a silo that has just joined may not have published its own yet: open
        // accounts through it, a dozen at a time, until one is activated there.
        var fresh = new List<string>();
        using (var trader = _cluster.Client(fourth, "venue"))
        {
            await Poll.UntilAsync(
                async () =>
                {
                    foreach (var account in Enumerable.Range(fresh.Count, 12).Select(i => $"late-{i:D3}"))
                    {
                        await GridClient.EnsureOkAsync(await trader.PostAsync($"v1/accounts/{account}", GridClient.Json("""{ "collateral": { "USD": "1000" } }""")));
                        fresh.Add(account);
                    }

                    return await _cluster.AccountActivationsAsync(fourth) > 0;
                },
                $"an account activated on {fourth.Name}",
                TimeSpan.FromSeconds(90),
                () => $"{fresh.Count} accounts opened through it");
        }

        output.WriteLine($"{fresh.Count} accounts opened through {fourth.Name} until one was activated there");

        await Poll.UntilAsync(() => Acked(c => c.Node == fourth.Name) >= 50, $"50 commands acknowledged through {fourth.Name}", TimeSpan.FromSeconds(60));
        await stop.CancelAsync();
        await load;
        var activations = new List<int>();
        foreach (var node in _cluster.Nodes)
        {
            activations.Add(await _cluster.AccountActivationsAsync(node));
        }

        output.WriteLine($"account activations per silo after the join: {string.Join(", ", activations)}; "
            + $"{Acked(c => c.Node == fourth.Name)} commands acknowledged through {fourth.Name}; prices: {workload.PricesAcked} acknowledged, {workload.PricesFailed} failed");
        Assert.True(activations[3] > 0, $"{fourth.Name} hosts no account");

        var all = accounts.Concat(fresh).ToList();
        using var reader = _cluster.Client(fourth, "reader");
        var lost = GridAudit.AcknowledgedDepositsReflected(await GridAudit.ReadViewsAsync(reader, accounts), workload.Commands, OpeningUsd);
        Assert.True(lost.Count == 0, "acknowledged deposits missing after the join:\n" + string.Join("\n", lost));
        await workload.SettleAndAuditAsync(all, fourth, reader, OpeningUsd, output);
        output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
    }
}
