using System.Diagnostics;

namespace MarginGrid.Cluster.Tests;

/// <summary>Three silo processes on one PostgreSQL database form one cluster and share the accounts.</summary>
public sealed class ClusterFormationTests(ITestOutputHelper output) : IAsyncLifetime
{
    private GridCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await GridCluster.CreateAsync("formation");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task Three_silos_form_one_cluster_spread_the_accounts_and_a_price_sent_to_one_reaches_all()
    {
        var clock = Stopwatch.StartNew();
        var nodes = await _cluster.StartNodesAsync(3);
        output.WriteLine($"3 silos ready after {clock.Elapsed.TotalSeconds:F1} s");

        var members = await _cluster.WaitForMembershipAsync(m => m.Count(x => x.Status == 3) == 3, "3 active silos", TimeSpan.FromSeconds(60));
        Assert.Equal(3, members.Count);
        Assert.Equal(nodes.Select(n => n.SiloPort).Order(), members.Select(m => m.Port).Order());
        output.WriteLine("OrleansMembershipTable: " + string.Join(", ", members.Select(m => $"{m.Address}:{m.Port} status {m.Status}")));

        await _cluster.ConfigureAsync(nodes[0]);
        // E = 1000 and MM = 450 at 100: Healthy. At 94, E = 460 and MM = 423: a margin call for every account.
        // Orleans places a new activation by the silos' published load statistics, and a silo that has just become
        // active may not have published its own yet (CI once saw 36, 0, 24 of 60): open accounts in rounds of 30 until
        // every silo hosts one, within a deadline.
        var accounts = new List<string>();
        var activations = new List<int>();
        await Poll.UntilAsync(
            async () =>
            {
                var round = Enumerable.Range(accounts.Count, 30).Select(i => $"acct-{i:D3}").ToList();
                await _cluster.OpenAccountsAsync(round, _ => 90m);
                accounts.AddRange(round);
                activations.Clear();
                foreach (var node in nodes)
                {
                    activations.Add(await _cluster.AccountActivationsAsync(node));
                }

                return activations.All(a => a > 0);
            },
            "every silo hosts an account",
            TimeSpan.FromSeconds(60),
            () => $"{accounts.Count} accounts opened; activations per silo: {string.Join(", ", activations)}");

        output.WriteLine($"account activations per silo: {string.Join(", ", activations)} ({accounts.Count} accounts)");
        Assert.Equal(accounts.Count, activations.Sum());

        using var feed = _cluster.Client(nodes[1], "feed");
        var step = await GridClient.EnsureOkAsync(await feed.PostAsync("v1/prices", GridClient.Json(_cluster.Price(94m))));
        var called = step.GetProperty("steps")[0].GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "margin_call")
            .Select(e => e.GetProperty("account").GetString()!)
            .ToHashSet(StringComparer.Ordinal);
        Assert.Equal(accounts.ToHashSet(StringComparer.Ordinal), called);

        using var reader = _cluster.Client(nodes[2], "reader");
        foreach (var view in (await GridAudit.ReadViewsAsync(reader, accounts)).Values)
        {
            Assert.Equal("margin_call", view.GetProperty("status").GetString());
            Assert.Equal(94m, Decimals.Parse(view.GetProperty("positions")[0].GetProperty("mark")));
        }

        output.WriteLine($"a price sent to {nodes[1].Name} reached all {called.Count} accounts on the 3 silos (one margin call each); {clock.Elapsed.TotalSeconds:F1} s in all");
    }
}
