using System.Globalization;
using System.Text.Json;
using MarginGrid.Domain;

namespace MarginGrid.Cluster.Tests;

/// <summary>
/// <c>kill -9</c> of the silo that hosts the auction house while two Dutch auctions run: nothing calls the house after
/// the kill, yet its reminder brings it back on a survivor and the short auction still expires (into its fallback
/// sale); the long one keeps its price schedule (the same start and top, so the same price at a given engine time).
/// </summary>
public sealed class AuctionKillTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly AuctionSpec Eth = new(1.1m, 1m, 0.999m, 900m, 0.5m);
    private static readonly AuctionSpec Sol = new(1.1m, 1m, 0.99m, 40m, 0.5m);
    private GridCluster _cluster = null!;
    private long _clock;

    public async Task InitializeAsync() => _cluster = await GridCluster.CreateAsync("auction-kill", environment: new Dictionary<string, string>
    {
        ["Orleans__Membership__ProbeTimeout"] = "00:00:02",
        ["Orleans__Membership__NumMissedProbesLimit"] = "2",
    });

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public async Task An_auction_survives_a_kill_of_its_house_with_the_same_price_schedule_and_its_expiry_still_fires()
    {
        var nodes = await _cluster.StartNodesAsync(3);
        using var admin = _cluster.Client(nodes[0], "admin");
        await admin.PostJsonAsync("v1/config", $$"""
            {
              "markets": [
                { "symbol": "BTC-USD", "lotSize": "0.001", "liquidationPenalty": "0.002", "brackets": [ { "floor": 0, "mmr": "0.01", "imr": "0.02" } ] },
                { "symbol": "ETH-PERP", "lotSize": "0.01", "liquidationPenalty": "0.005", "brackets": [ { "floor": 0, "mmr": "0.02", "imr": "0.05" } ] },
                { "symbol": "SOL-PERP", "lotSize": "0.01", "liquidationPenalty": "0.005", "brackets": [ { "floor": 0, "mmr": "0.02", "imr": "0.05" } ] }
              ],
              "collateral": [
                { "asset": "ETH", "weight": "0.9", "priceMarket": "ETH-PERP", "liquidationDiscount": "0.03", "auction": {{Json(Eth)}} },
                { "asset": "SOL", "weight": "0.9", "priceMarket": "SOL-PERP", "liquidationDiscount": "0.03", "auction": {{Json(Sol)}} }
              ],
              "insuranceFund": "100000"
            }
            """);
        using var feed = _cluster.Client(nodes[0], "feed");
        await feed.PostJsonAsync("v1/prices", Price("BTC-USD", 60000m));
        await feed.PostJsonAsync("v1/prices", Price("ETH-PERP", 2000m));
        await feed.PostJsonAsync("v1/prices", Price("SOL-PERP", 2000m));
        foreach (var (debtor, asset) in new[] { ("debtor-eth", "ETH"), ("debtor-sol", "SOL") })
        {
            await admin.PostJsonAsync($"v1/accounts/{debtor}", $$"""
                { "collateral": { "USD": "-500", "{{asset}}": "2" }, "positions": [ { "market": "BTC-USD", "size": "0.5", "entryPrice": "60000" } ], "allowUnhealthy": true }
                """);
        }

        // The price step liquidates both: their positions close with a debt of 3700 each, and their collateral goes up for auction.
        await feed.PostJsonAsync("v1/prices", Price("BTC-USD", 53600m));
        using var reader0 = _cluster.Client(nodes[0], "reader");
        var before = (await reader0.GetJsonAsync("v1/auctions")).EnumerateArray().ToDictionary(a => a.GetProperty("account").GetString()!);
        Assert.Equal(["debtor-eth", "debtor-sol"], before.Keys.Order());

        var hosts = new List<int>();
        foreach (var node in nodes)
        {
            hosts.Add(await _cluster.ActivationsAsync(node, "auctionhouse"));
        }

        Assert.True(hosts.Sum() == 1, $"the auction house should have one activation: {string.Join(", ", hosts)}");
        var victim = nodes[hosts.IndexOf(1)];
        var survivors = nodes.Where(n => n != victim).ToArray();

        // Listen passively on a survivor: only the house's own reminder and timer can end the SOL auction now.
        using var stream = _cluster.Client(survivors[0], "reader", Timeout.InfiniteTimeSpan);
        using var response = await stream.GetAsync("v1/auctions/events", HttpCompletionOption.ResponseHeadersRead);
        using var lines = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": subscribed", await lines.ReadLineAsync());

        await victim.KillAsync();
        var killedAt = DateTimeOffset.UtcNow;
        output.WriteLine($"kill -9 {victim.Name} (pid {victim.Pid}), the auction house's silo; SOL's auction ends at {before["debtor-sol"].GetProperty("endsAt").GetString()}");
        await _cluster.WaitForMembershipAsync(
            m => m.Any(x => x.Port == victim.SiloPort && x.Status == 6), "the killed silo declared dead", TimeSpan.FromSeconds(90));

        var seen = new List<(string Type, JsonElement Data)>();
        using (var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(4)))
        {
            try
            {
                while (!seen.Any(e => e.Type == "collateral_liquidation"))
                {
                    var line = await lines.ReadLineAsync(deadline.Token) ?? throw new InvalidOperationException("the event stream closed");
                    if (line.StartsWith("event: ", StringComparison.Ordinal))
                    {
                        var data = (await lines.ReadLineAsync(deadline.Token))!;
                        using var json = JsonDocument.Parse(data["data: ".Length..]);
                        seen.Add((line["event: ".Length..], json.RootElement.Clone()));
                    }
                }
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"SOL's auction did not end within 4 minutes of the kill; events seen: {string.Join(", ", seen.Select(e => e.Type))}\n{_cluster.Logs()}");
            }
        }

        var end = seen.Single(e => e.Type == "auction_end");
        Assert.Equal("debtor-sol", end.Data.GetProperty("account").GetString());
        Assert.Equal(2m, Decimals.Parse(end.Data.GetProperty("quantity")));
        var endedAt = end.Data.GetProperty("timestamp").GetDateTimeOffset();
        Assert.True(endedAt >= before["debtor-sol"].GetProperty("endsAt").GetDateTimeOffset(), "ended before its deadline");
        Assert.True(endedAt > killedAt, "SOL's auction ended before the kill: the test proves nothing");
        output.WriteLine($"SOL's auction ended {(endedAt - killedAt).TotalSeconds:F1} s after the kill: {string.Join(", ", seen.Select(e => e.Type))}");
        var sale = seen.Single(e => e.Type == "collateral_liquidation").Data;
        Assert.Equal(("debtor-sol", "SOL"), (sale.GetProperty("account").GetString(), sale.GetProperty("asset").GetString()));

        // ETH's auction runs on, with the start and top it had before the kill: the same price at the same engine time.
        using var reader = _cluster.Client(survivors[1], "reader");
        var after = (await reader.GetJsonAsync("v1/auctions")).EnumerateArray().Single();
        var eth = before["debtor-eth"];
        Assert.Equal("debtor-eth", after.GetProperty("account").GetString());
        Assert.Equal(eth.GetProperty("startedAt").GetDateTimeOffset(), after.GetProperty("startedAt").GetDateTimeOffset());
        Assert.Equal(Decimals.Parse(eth.GetProperty("top")), Decimals.Parse(after.GetProperty("top")));
        Assert.Equal(eth.GetProperty("endsAt").GetDateTimeOffset(), after.GetProperty("endsAt").GetDateTimeOffset());
        Assert.Equal(2m, Decimals.Parse(after.GetProperty("lot")));
        Assert.Equal(3700m, Decimals.Parse(after.GetProperty("tab")));
        var start = eth.GetProperty("startedAt").GetDateTimeOffset();
        var top = Decimals.Parse(eth.GetProperty("top"));
        foreach (var view in new[] { eth, after })
        {
            var at = view.GetProperty("at").GetDateTimeOffset();
            Assert.Equal(DutchAuction.Price(top, Eth, DutchAuction.Elapsed(start, at), out _), Decimals.Parse(view.GetProperty("price")));
        }

        Assert.True(Decimals.Parse(after.GetProperty("price")) < Decimals.Parse(eth.GetProperty("price")), "the price went on falling");
    }

    private string Price(string market, decimal price) =>
        $$"""[{ "market": "{{market}}", "source": "test", "price": "{{price.ToString(CultureInfo.InvariantCulture)}}", "timestamp": "{{Epoch.AddSeconds(Interlocked.Increment(ref _clock)).ToString("O", CultureInfo.InvariantCulture)}}" }]""";

    private static string Json(AuctionSpec s) => string.Create(
        CultureInfo.InvariantCulture, $$"""{ "buf": "{{s.Buf}}", "step": "{{s.Step}}", "cut": "{{s.Cut}}", "tail": "{{s.Tail}}", "cusp": "{{s.Cusp}}" }""");
}
