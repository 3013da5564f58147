using System.Diagnostics;

namespace MarginGrid.Cluster.Tests;

/// <summary>
/// <c>kill -9</c> of one of three silos under a steady stream of commands sent to the two others. The silo killed is
/// the one the configuration, the insurance fund and the market were first called through (so, placement permitting,
/// it hosts them, the market's shards and the liquidation coordinator) and it hosts a share of the accounts.
/// </summary>
public sealed class SiloKillTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const decimal OpeningUsd = 1000m;
    private GridCluster _cluster = null!;

    // Faster failure detection than Orleans' defaults (5 s probes, 3 missed): calls to the dead silo's grains wait
    // until it is declared dead.
    public async Task InitializeAsync() => _cluster = await GridCluster.CreateAsync("kill", environment: new Dictionary<string, string>
    {
        ["Orleans__Membership__ProbeTimeout"] = "00:00:02",
        ["Orleans__Membership__NumMissedProbesLimit"] = "2",
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task After_kill_minus_9_every_acknowledged_command_is_found_no_liquidation_runs_twice_and_money_is_conserved()
    {
        var clock = Stopwatch.StartNew();
        var nodes = await _cluster.StartNodesAsync(3);
        await _cluster.ConfigureAsync(nodes[0]);
        var accounts = Enumerable.Range(0, 60).Select(i => $"acct-{i:D2}").ToList();
        // Longs of 50 to 90 BTC on 1000 USD at 100: liquidatable from 84 (size 50) to 93.6 (size 90) before deposits.
        await _cluster.OpenAccountsAsync(accounts, i => 50m + (i * 7 % 41));
        var before = new List<int>();
        foreach (var node in nodes)
        {
            before.Add(await _cluster.AccountActivationsAsync(node));
        }

        // Orleans places activations by its own statistics, so which silo hosts accounts varies from run to run: the
        // silo killed is the one hosting the most of them.
        var victim = nodes[before.IndexOf(before.Max())];
        var survivors = nodes.Where(n => n != victim).ToArray();
        Assert.True(before.Max() > 0, $"no silo hosts an account: {string.Join(", ", before)}");
        output.WriteLine($"setup {clock.Elapsed.TotalSeconds:F1} s; account activations per silo before the kill: {string.Join(", ", before)} ({victim.Name}, pid {victim.Pid}, is killed)");

        using var workload = new Workload(_cluster, accounts, seed: 1) { Targets = () => survivors, Low = 86m };
        using var stop = new CancellationTokenSource();
        var load = workload.RunAsync(workers: 3, stop.Token);
        int Acked(Func<CommandRecord, bool>? where = null) =>
            workload.Commands.Count(c => c.First == Outcome.Acked && (where is null || where(c)));

        await Poll.UntilAsync(() => Acked() >= 150, "150 commands acknowledged before the kill", TimeSpan.FromSeconds(60));
        var ackedBeforeKill = Acked();
        await victim.KillAsync();
        var killedAt = workload.Clock.Elapsed;
        output.WriteLine($"kill -9 {victim.Name} at {killedAt.TotalSeconds:F1} s of load, after {ackedBeforeKill} acknowledged commands");

        var members = await _cluster.WaitForMembershipAsync(
            m => m.Count(x => x.Status == 3) == 2 && m.Any(x => x.Port == victim.SiloPort && x.Status == 6),
            "the killed silo declared dead (status 6), 2 active", TimeSpan.FromSeconds(90));
        output.WriteLine($"{victim.Name} declared dead {(workload.Clock.Elapsed - killedAt).TotalSeconds:F1} s after the kill: "
            + string.Join(", ", members.Select(m => $"{m.Port} status {m.Status}")));

        // Every account (those of the dead silo included) acknowledges a command sent after the kill, and the feed walks
        // down to its low after it: the liquidations come on the survivors (a run that stopped on the commands alone, on
        // a fast day, stopped at a mark of 95.5, above every account's liquidation price, and liquidated nobody).
        await Poll.UntilAsync(
            () => accounts.All(a => workload.Commands.Any(c => c.Account == a && c.First == Outcome.Acked && c.Sent > killedAt)) && Acked(c => c.Sent > killedAt) >= 300
                && workload.LowReached > killedAt,
            "every account acknowledging commands after the kill, and the feed at its low since", TimeSpan.FromSeconds(90),
            () => $"{Acked(c => c.Sent > killedAt)} acknowledged since; last mark {workload.LastPrice}\n{_cluster.Logs()}");
        var firstAfter = workload.Commands.Where(c => c.First == Outcome.Acked && c.Sent > killedAt).Min(c => c.Completed);
        await stop.CancelAsync();
        await load;
        output.WriteLine($"load stopped at {workload.Clock.Elapsed.TotalSeconds:F1} s; first acknowledgement after the kill {(firstAfter - killedAt).TotalSeconds:F2} s after it; "
            + $"prices: {workload.PricesAcked} acknowledged, {workload.PricesFailed} failed; last mark {workload.LastPrice}");

        // Right after the fault, before any retry: acknowledged deposits are all there, on accounts now on the survivors.
        using var reader = _cluster.Client(survivors[0], "reader");
        var lost = GridAudit.AcknowledgedDepositsReflected(await GridAudit.ReadViewsAsync(reader, accounts), workload.Commands, OpeningUsd);
        Assert.True(lost.Count == 0, "acknowledged deposits missing after the kill:\n" + string.Join("\n", lost));
        var after = new List<int>();
        foreach (var node in survivors)
        {
            after.Add(await _cluster.AccountActivationsAsync(node));
        }

        output.WriteLine($"account activations on the survivors after the kill: {string.Join(", ", after)} (all {accounts.Count} accounts reactivated there)");
        Assert.True(after.Sum() >= accounts.Count, $"survivors host {after.Sum()} accounts");

        // One more deposit per account settles any liquidation left half-done by the dead coordinator.
        var audit = await workload.SettleAndAuditAsync(accounts, survivors[0], reader, OpeningUsd, output);
        output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(audit.LiquidationCloses > 0, "no liquidation happened: the check that none runs twice proved nothing");
    }
}
