using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Api.Tests;

/// <summary>
/// One silo on its own PostgreSQL database with v3 auctions configured: ETH (auction with a long tail) and SOL (auction
/// with a 3 s tail) as collateral, and one perpetual market per test (A-PERP ... E-PERP at 60000), so that each test's
/// debtor is liquidated by its own price step. Keys: admin, feed, venue, reader, trader, <c>liq</c> (a liquidator bound to
/// <c>liq-a</c>) and <c>liqs</c> (a liquidator bound to <c>liq-b</c> and <c>liq-c</c>).
/// </summary>
public sealed class AuctionSiloFixture : IAsyncLifetime
{
    public const decimal EthPrice = 2000m;
    private static readonly DateTimeOffset Epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private long _clock;
    private TestDatabase? _database;

    public SiloProcess Silo { get; private set; } = null!;

    public IReadOnlyDictionary<string, string> Keys { get; } = KeyedSilo.NewKeys("admin", "feed", "venue", "reader", "trader", "liq", "liqs");

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string>
        {
            ["MarginGrid__ApiKeys__trader__Accounts"] = "t-*",
            ["MarginGrid__ApiKeys__liq__Accounts"] = "liq-a",
            ["MarginGrid__ApiKeys__liqs__Accounts__0"] = "liq-b",
            ["MarginGrid__ApiKeys__liqs__Accounts__1"] = "liq-c",
        };
        (_database, Silo) = await KeyedSilo.StartAsync(
            "mg_auction", "auction-tests", Keys, name => name.StartsWith("liq", StringComparison.Ordinal) ? "liquidator" : name, settings);
        var perps = string.Join(",\n", new[] { "A", "B", "C", "D", "E" }.Select(m =>
            $$"""{ "symbol": "{{m}}-PERP", "lotSize": "0.001", "liquidationPenalty": "0.002", "brackets": [ { "floor": 0, "mmr": "0.01", "imr": "0.02" } ] }"""));
        using var admin = Client("admin");
        await admin.PostJsonAsync("v1/config", $$"""
            {
              "markets": [
                {{perps}},
                { "symbol": "ETH-PERP", "lotSize": "0.01", "liquidationPenalty": "0.005", "brackets": [ { "floor": 0, "mmr": "0.02", "imr": "0.05" } ] },
                { "symbol": "SOL-PERP", "lotSize": "0.01", "liquidationPenalty": "0.005", "brackets": [ { "floor": 0, "mmr": "0.02", "imr": "0.05" } ] }
              ],
              "collateral": [
                { "asset": "ETH", "weight": "0.9", "priceMarket": "ETH-PERP", "liquidationDiscount": "0.03",
                  "auction": { "buf": "1.1", "step": "1", "cut": "0.999", "tail": "600", "cusp": "0.5" } },
                { "asset": "SOL", "weight": "0.9", "priceMarket": "SOL-PERP", "liquidationDiscount": "0.03",
                  "auction": { "buf": "1.1", "step": "1", "cut": "0.99", "tail": "3", "cusp": "0.5" } }
              ],
              "insuranceFund": "100000"
            }
            """);
        using var feed = Client("feed");
        foreach (var market in new[] { "A-PERP", "B-PERP", "C-PERP", "D-PERP", "E-PERP" })
        {
            await feed.PostJsonAsync("v1/prices", Price(market, 60000m));
        }

        await feed.PostJsonAsync("v1/prices", Price("ETH-PERP", EthPrice));
        await feed.PostJsonAsync("v1/prices", Price("SOL-PERP", EthPrice));
    }

    public async Task DisposeAsync()
    {
        if (Silo is not null)
        {
            await Silo.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    public GridClient Client(string? role) => new(Silo.BaseAddress, role is null ? null : Keys[role]);

    public string Price(string market, decimal price) =>
        $$"""[{ "market": "{{market}}", "source": "test", "price": "{{price.ToString(CultureInfo.InvariantCulture)}}", "timestamp": "{{Epoch.AddSeconds(Interlocked.Increment(ref _clock)).ToString("O", CultureInfo.InvariantCulture)}}" }]""";

    /// <summary>Opens an account (admin: an unhealthy seed is allowed).</summary>
    public async Task OpenAsync(string id, string collateral, string positions = "[]")
    {
        using var admin = Client("admin");
        await admin.PostJsonAsync($"v1/accounts/{id}", $$"""{ "collateral": {{collateral}}, "positions": {{positions}}, "allowUnhealthy": true }""");
    }

    /// <summary>
    /// A debtor with -500 USD, <paramref name="lot"/> of <paramref name="asset"/> and 0.5 of <paramref name="market"/> at
    /// 60000, then the market at 53600: its position closes with a debt of 3700 and its collateral goes up for auction.
    /// </summary>
    public async Task<JsonElement> StartAuctionAsync(string debtor, string market, string asset = "ETH", decimal lot = 2m)
    {
        await OpenAsync(debtor, $$"""{ "USD": "-500", "{{asset}}": "{{lot.ToString(CultureInfo.InvariantCulture)}}" }""",
            $$"""[ { "market": "{{market}}", "size": "0.5", "entryPrice": "60000" } ]""");
        using var feed = Client("feed");
        await feed.PostJsonAsync("v1/prices", Price(market, 53600m));
        using var reader = Client("reader");
        var auctions = await reader.GetJsonAsync("v1/auctions");
        return auctions.EnumerateArray().Single(a => a.GetProperty("account").GetString() == debtor);
    }

    public async Task<JsonElement> ViewAsync(string account)
    {
        using var reader = Client("reader");
        return await reader.GetJsonAsync($"v1/accounts/{account}");
    }

    public static decimal Balance(JsonElement view, string asset) =>
        view.GetProperty("collateral").TryGetProperty(asset, out var q) ? Decimals.Parse(q) : 0m;
}

/// <summary>The auctions API: the listing, bids (roles, fields, idempotency, first come first served, the end fence), the events.</summary>
public sealed class AuctionApiTests(AuctionSiloFixture fixture) : IClassFixture<AuctionSiloFixture>
{
    [Fact]
    public async Task The_listing_shows_a_running_auction_priced_on_the_engine_clock_to_readers_and_liquidators_only()
    {
        var auction = await fixture.StartAuctionAsync("debtor-list", "A-PERP");

        Assert.Equal("ETH", auction.GetProperty("asset").GetString());
        Assert.Equal(2m, Decimals.Parse(auction.GetProperty("lot")));
        Assert.Equal(3700m, Decimals.Parse(auction.GetProperty("tab")));
        Assert.Equal(2200m, Decimals.Parse(auction.GetProperty("top")));
        var start = auction.GetProperty("startedAt").GetDateTimeOffset();
        var at = auction.GetProperty("at").GetDateTimeOffset();
        var k = Math.Floor((at - start).TotalSeconds); // step 1 s, cut 0.999
        Assert.Equal(2200m * Pow(0.999m, (int)k), Decimals.Parse(auction.GetProperty("price")));
        Assert.Equal(start.AddTicks(600 * TimeSpan.TicksPerSecond + 1), auction.GetProperty("endsAt").GetDateTimeOffset());
        var left = Decimals.Parse(auction.GetProperty("timeLeftSeconds"));
        Assert.InRange(left, 500m, 600.0000001m);

        using var liquidator = fixture.Client("liq");
        Assert.Contains((await liquidator.GetJsonAsync("v1/auctions")).EnumerateArray(), a => a.GetProperty("account").GetString() == "debtor-list");
        using var trader = fixture.Client("trader");
        Assert.Equal(HttpStatusCode.Forbidden, (await trader.GetAsync("v1/auctions")).StatusCode);
        using var anonymous = fixture.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("v1/auctions")).StatusCode);
    }

    [Fact]
    public async Task A_bid_takes_from_the_lot_once_per_command_id()
    {
        await fixture.OpenAsync("liq-a", """{ "USD": "20000" }""");
        await fixture.StartAuctionAsync("debtor-take", "B-PERP");
        using var liquidator = fixture.Client("liq");
        var body = """{ "commandId": "take-1", "quantity": "0.5", "maxPrice": "2200" }""";

        var first = await liquidator.PostJsonAsync("v1/auctions/debtor-take/ETH/bids", body);
        var again = await liquidator.PostJsonAsync("v1/auctions/debtor-take/ETH/bids", body);

        Assert.True(first.GetProperty("accepted").GetBoolean());
        var take = first.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "auction_take");
        var price = Decimals.Parse(take.GetProperty("price"));
        Assert.Equal("liq-a", take.GetProperty("liquidator").GetString());
        Assert.True(again.GetProperty("duplicate").GetBoolean());
        var buyer = await fixture.ViewAsync("liq-a");
        var debtor = await fixture.ViewAsync("debtor-take");
        Assert.Equal(0.5m, AuctionSiloFixture.Balance(buyer, "ETH"));
        Assert.Equal(20000m - 0.5m * price, AuctionSiloFixture.Balance(buyer, "USD"));
        Assert.Equal(1.5m, AuctionSiloFixture.Balance(debtor, "ETH"));
        Assert.Equal(-3700m + 0.5m * price, AuctionSiloFixture.Balance(debtor, "USD"));

        // The same id with another body is a conflict, and changes nothing.
        var reused = await liquidator.PostAsync("v1/auctions/debtor-take/ETH/bids",
            GridClient.Json("""{ "commandId": "take-1", "quantity": "0.6", "maxPrice": "2200" }"""));
        Assert.Equal(HttpStatusCode.Conflict, reused.StatusCode);
        Assert.Equal(0.5m, AuctionSiloFixture.Balance(await fixture.ViewAsync("liq-a"), "ETH"));
    }

    [Fact]
    public async Task Bad_bids_are_problems_naming_the_field_and_change_nothing()
    {
        await fixture.OpenAsync("liq-b", """{ "USD": "20000" }""");
        await fixture.OpenAsync("liq-c", """{ "USD": "1" }""");
        await fixture.OpenAsync("t-1", """{ "USD": "20000" }""");
        await fixture.StartAuctionAsync("debtor-bad", "C-PERP");
        using var liqs = fixture.Client("liqs");
        using var liq = fixture.Client("liq");
        using var trader = fixture.Client("trader");
        using var venue = fixture.Client("venue");

        async Task Expect(GridClient client, string path, string body, HttpStatusCode status, string? field = null, string? reason = null)
        {
            using var response = await client.PostAsync(path, GridClient.Json(body));
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"{path} {body}: expected {(int)status}, got {(int)response.StatusCode}: {text}");
            using var problem = JsonDocument.Parse(text);
            if (field is not null)
            {
                Assert.Equal(field, problem.RootElement.GetProperty("field").GetString());
                Assert.StartsWith(field + ":", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }

            if (reason is not null)
            {
                Assert.Equal(reason, problem.RootElement.GetProperty("reason").GetString());
            }
        }

        const string Bids = "v1/auctions/debtor-bad/ETH/bids";
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200" }""", HttpStatusCode.BadRequest, "liquidator");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "0", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.BadRequest, "quantity");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "-1", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.BadRequest, "quantity");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "1e20", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.BadRequest, "quantity");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "0", "liquidator": "liq-b" }""", HttpStatusCode.BadRequest, "maxPrice");
        await Expect(liqs, Bids, """{ "commandId": "b 1", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.BadRequest, "commandId");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-b", "extra": 1 }""", HttpStatusCode.BadRequest, "extra");
        await Expect(liqs, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "debtor-bad" }""", HttpStatusCode.Forbidden, "liquidator");
        await Expect(liq, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.Forbidden, "liquidator");
        await Expect(trader, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "t-1" }""", HttpStatusCode.Forbidden);
        await Expect(venue, Bids, """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "t-1" }""", HttpStatusCode.Forbidden);
        await Expect(liqs, "v1/auctions/nobody/ETH/bids", """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.NotFound, "account");
        await Expect(liqs, "v1/auctions/debtor-bad/DOGE/bids", """{ "commandId": "b1", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-b" }""", HttpStatusCode.NotFound, "asset");
        await Expect(liqs, "v1/auctions/debtor-bad/SOL/bids", """{ "commandId": "b2", "quantity": "1", "maxPrice": "3000", "liquidator": "liq-b" }""", HttpStatusCode.Conflict, reason: "no running auction");
        await Expect(liqs, Bids, """{ "commandId": "b3", "quantity": "1", "maxPrice": "1000", "liquidator": "liq-b" }""", HttpStatusCode.UnprocessableEntity, reason: "price above maximum");
        await Expect(liqs, Bids, """{ "commandId": "b4", "quantity": "1", "maxPrice": "2200", "liquidator": "liq-c" }""", HttpStatusCode.UnprocessableEntity, reason: "initial margin");

        Assert.Equal(20000m, AuctionSiloFixture.Balance(await fixture.ViewAsync("liq-b"), "USD"));
        Assert.Equal(0m, AuctionSiloFixture.Balance(await fixture.ViewAsync("liq-b"), "ETH"));
        Assert.Equal(1m, AuctionSiloFixture.Balance(await fixture.ViewAsync("liq-c"), "USD"));
        var debtor = await fixture.ViewAsync("debtor-bad");
        Assert.Equal(2m, AuctionSiloFixture.Balance(debtor, "ETH"));
        Assert.Equal(-3700m, AuctionSiloFixture.Balance(debtor, "USD"));
    }

    [Fact]
    public async Task Two_bids_racing_for_the_whole_lot_one_gets_it_and_money_is_conserved()
    {
        await fixture.OpenAsync("racer-1", """{ "USD": "20000" }""");
        await fixture.OpenAsync("racer-2", """{ "USD": "20000" }""");
        await fixture.StartAuctionAsync("debtor-race", "D-PERP");
        using var admin = fixture.Client("admin"); // admin may bid with any account
        var accounts = new[] { "debtor-race", "racer-1", "racer-2" };
        var usdBefore = 0m;
        foreach (var a in accounts)
        {
            usdBefore += AuctionSiloFixture.Balance(await fixture.ViewAsync(a), "USD");
        }

        // Each wants the whole lot (2 ETH, worth more than the debt): whoever comes first pays the debt exactly and ends it.
        var bids = await Task.WhenAll(new[] { "racer-1", "racer-2" }.Select(r => admin.PostAsync(
            "v1/auctions/debtor-race/ETH/bids", GridClient.Json($$"""{ "commandId": "race", "quantity": "2", "maxPrice": "2200", "liquidator": "{{r}}" }"""))));

        var statuses = bids.Select(b => b.StatusCode).Order().ToList();
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Conflict], statuses);
        var loser = (await bids.Single(b => b.StatusCode == HttpStatusCode.Conflict).Content.ReadAsStringAsync());
        Assert.Contains("no running auction", loser, StringComparison.Ordinal);
        var winner = await GridClient.EnsureOkAsync(bids.Single(b => b.StatusCode == HttpStatusCode.OK));
        var take = winner.GetProperty("events").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "auction_take");
        Assert.Contains(winner.GetProperty("events").EnumerateArray(), e => e.GetProperty("type").GetString() == "auction_end");
        var bought = Decimals.Parse(take.GetProperty("quantity"));

        var views = new Dictionary<string, JsonElement>();
        foreach (var a in accounts)
        {
            views[a] = await fixture.ViewAsync(a);
        }

        Assert.Equal(usdBefore, accounts.Sum(a => AuctionSiloFixture.Balance(views[a], "USD")));
        Assert.Equal(2m, accounts.Sum(a => AuctionSiloFixture.Balance(views[a], "ETH")));
        Assert.Equal(0m, AuctionSiloFixture.Balance(views["debtor-race"], "USD"));
        Assert.Equal(new[] { bought, 0m }.Order(), new[] { "racer-1", "racer-2" }.Select(r => AuctionSiloFixture.Balance(views[r], "ETH")).Order());
        using var reader = fixture.Client("reader");
        Assert.DoesNotContain((await reader.GetJsonAsync("v1/auctions")).EnumerateArray(), a => a.GetProperty("account").GetString() == "debtor-race");
    }

    [Fact]
    public async Task An_auction_ends_at_its_deadline_without_a_step_and_a_later_bid_is_refused()
    {
        await fixture.OpenAsync("liq-late", """{ "USD": "20000" }""");
        using var stream = fixture.Client("liq");
        stream.Timeout = Timeout.InfiniteTimeSpan;
        using var response = await stream.GetAsync("v1/auctions/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var lines = new StreamReader(await response.Content.ReadAsStreamAsync());
        Assert.Equal(": subscribed", await lines.ReadLineAsync());

        // SOL's auction: tail 3 s. Nothing else happens: no price step, no command, until it has ended by itself.
        var auction = await fixture.StartAuctionAsync("debtor-late", "E-PERP", asset: "SOL", lot: 2m);
        var endsAt = auction.GetProperty("endsAt").GetDateTimeOffset();
        var seen = new List<(string Type, JsonElement Data)>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (!seen.Any(e => e.Type == "collateral_liquidation"))
        {
            var line = await lines.ReadLineAsync(deadline.Token);
            Assert.NotNull(line);
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                var data = (await lines.ReadLineAsync(deadline.Token))!;
                using var json = JsonDocument.Parse(data["data: ".Length..]);
                if (json.RootElement.GetProperty("account").GetString() == "debtor-late")
                {
                    seen.Add((line["event: ".Length..], json.RootElement.Clone()));
                }
            }
        }

        // Only auction events reach this stream (not the debtor's margin call or position close).
        Assert.Equal(["auction_start", "auction_end", "collateral_liquidation"], seen.Select(e => e.Type));
        Assert.True(seen[1].Data.GetProperty("timestamp").GetDateTimeOffset() >= endsAt, "the auction ended before its deadline");
        Assert.Equal("SOL", seen[2].Data.GetProperty("asset").GetString());

        using var liquidator = fixture.Client("admin");
        using var late = await liquidator.PostAsync("v1/auctions/debtor-late/SOL/bids",
            GridClient.Json("""{ "commandId": "late", "quantity": "1", "maxPrice": "3000", "liquidator": "liq-late" }"""));
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Contains("no running auction", await late.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var buyer = await fixture.ViewAsync("liq-late");
        Assert.Equal(20000m, AuctionSiloFixture.Balance(buyer, "USD"));
        Assert.Equal(0m, AuctionSiloFixture.Balance(buyer, "SOL"));

        // The metrics saw the fallback sale.
        using var reader = fixture.Client("reader");
        var metrics = await reader.GetStringAsync("metrics");
        Assert.Equal(1m, Metric(metrics, "margingrid_auction_fallback_sales_total{asset=\"SOL\"}"));
        var sale = seen[2].Data;
        var proceeds = Decimals.Parse(sale.GetProperty("quantity")) * Decimals.Parse(sale.GetProperty("price")) - Decimals.Parse(sale.GetProperty("discount"));
        Assert.Equal((double)proceeds, (double)Metric(metrics, "margingrid_auction_recovered_usd_total{asset=\"SOL\",via=\"fallback\"}"), 6);
    }

    private static decimal Metric(string metrics, string series)
    {
        var line = metrics.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no series {series} in /metrics");
        return Decimals.Parse(line[(series.Length + 1)..].Trim());
    }

    private static decimal Pow(decimal x, int n)
    {
        var r = 1m;
        for (var i = 0; i < n; i++)
        {
            r *= x;
        }

        return r;
    }
}
