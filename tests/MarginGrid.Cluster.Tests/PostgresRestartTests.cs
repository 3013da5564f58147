using System.Diagnostics;

namespace MarginGrid.Cluster.Tests;

/// <summary>
/// PostgreSQL stopped and started again under a steady stream of commands, on a server of this class's own (see
/// <see cref="PrivatePostgres"/>): while it is down every command fails cleanly (503 problem details, never a 2xx);
/// afterwards commands succeed again and nothing acknowledged is lost.
/// </summary>
public sealed class PostgresRestartTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const decimal OpeningUsd = 1000m;
    private PrivatePostgres _postgres = null!;
    private GridCluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _postgres = await PrivatePostgres.StartAsync();
        _cluster = await GridCluster.CreateAsync("pgrestart", _postgres.AdminConnectionString);
    }

    public async Task DisposeAsync()
    {
        try
        {
            await _cluster.DisposeAsync();
        }
        finally
        {
            await _postgres.DisposeAsync();
        }
    }

    [Fact]
    public async Task While_PostgreSQL_is_down_commands_get_503_never_2xx_and_afterwards_nothing_acknowledged_is_lost()
    {
        var clock = Stopwatch.StartNew();
        var nodes = await _cluster.StartNodesAsync(2);
        await _cluster.ConfigureAsync(nodes[0]);
        var accounts = Enumerable.Range(0, 40).Select(i => $"acct-{i:D2}").ToList();
        await _cluster.OpenAccountsAsync(accounts, i => 50m + (i * 7 % 41));
        output.WriteLine($"setup {clock.Elapsed.TotalSeconds:F1} s (2 silos, 40 accounts, PostgreSQL on port {_postgres.Port})");

        using var workload = new Workload(_cluster, accounts, seed: 2) { Low = 86m };
        using var stop = new CancellationTokenSource();
        var load = workload.RunAsync(workers: 3, stop.Token);
        int Count(Func<CommandRecord, bool> where) => workload.Commands.Count(where);

        await Poll.UntilAsync(() => Count(c => c.First == Outcome.Acked) >= 100, "100 commands acknowledged before the restart", TimeSpan.FromSeconds(60));
        await _postgres.StopServerAsync();
        var downFrom = workload.Clock.Elapsed;
        await Poll.UntilAsync(() => Count(c => c.Sent >= downFrom && c.First != Outcome.Pending) >= 60,
            "60 commands answered while PostgreSQL is down", TimeSpan.FromSeconds(60));
        var downUntil = workload.Clock.Elapsed;
        await _postgres.StartServerAsync();
        var upAt = workload.Clock.Elapsed;
        output.WriteLine($"PostgreSQL down from {downFrom.TotalSeconds:F1} s to {downUntil.TotalSeconds:F1} s of load (pg_ctl stop -m fast / start); up again at {upAt.TotalSeconds:F1} s");

        await Poll.UntilAsync(() => Count(c => c.Sent >= upAt && c.First == Outcome.Acked) >= 100,
            "100 commands acknowledged after the restart", TimeSpan.FromSeconds(90), () => _cluster.Logs());
        var firstAfter = workload.Commands.Where(c => c.Sent >= upAt && c.First == Outcome.Acked).Min(c => c.Completed);
        await stop.CancelAsync();
        await load;

        var whileDown = workload.Commands.Where(c => c.Sent >= downFrom && c.Completed <= downUntil).ToList();
        var falseAcks = whileDown.Where(c => c.First == Outcome.Acked).ToList();
        var not503 = whileDown.Where(c => c.Status != 503 || c.Failure?.StartsWith("application/problem+json", StringComparison.Ordinal) != true).ToList();
        output.WriteLine($"while down: {whileDown.Count} commands answered, {whileDown.Count(c => c.Status == 503)} with 503 problem details, {falseAcks.Count} with 2xx; "
            + $"prices: {workload.PricesAcked} acknowledged, {workload.PricesFailed} failed in all");
        output.WriteLine($"after the restart: first acknowledgement {(firstAfter - upAt).TotalSeconds:F2} s after PostgreSQL was up; "
            + $"{Count(c => c.Sent >= upAt && c.First == Outcome.Acked)} acknowledged, {Count(c => c.Sent >= upAt && c.First == Outcome.Failed)} failed since");
        Assert.True(whileDown.Count > 0, "no command was answered while PostgreSQL was down");
        Assert.True(falseAcks.Count == 0, "2xx while PostgreSQL was down: " + string.Join(", ", falseAcks.Take(10).Select(c => c.Id)));
        Assert.True(not503.Count == 0, "not a 503 problem while PostgreSQL was down: "
            + string.Join("; ", not503.GroupBy(c => $"{c.Status} {c.Failure}").Select(g => $"{g.Key} ×{g.Count()}"))
            + "\nunhandled exceptions logged: " + string.Join("\n", nodes.SelectMany(n => n.UnhandledExceptions()).Select(e => $"{e.Value} × {e.Key}")));

        using var reader = _cluster.Client(nodes[0], "reader");
        var lost = GridAudit.AcknowledgedDepositsReflected(await GridAudit.ReadViewsAsync(reader, accounts), workload.Commands, OpeningUsd);
        Assert.True(lost.Count == 0, "acknowledged deposits missing after the restart:\n" + string.Join("\n", lost));
        await workload.SettleAndAuditAsync(accounts, nodes[1], reader, OpeningUsd, output);
        output.WriteLine($"whole test {clock.Elapsed.TotalSeconds:F1} s");
    }
}
