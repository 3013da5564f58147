using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;
using MarginGrid.Host.Scenarios;
using Xunit;
using Xunit.Abstractions;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>
/// Auto-deleveraging through the grains — counterparties found by the shards' ranked index — against the model engine,
/// on random crowds: many counterparties on both sides of two markets (spread over the shards), leveraged accounts that
/// go bankrupt in one or both markets, fills and deposits between the price steps (so standings change between
/// bankruptcies), cross collateral. The ranking must pick exactly the model's counterparties in the model's order.
/// </summary>
public sealed class AdlAgreementTests(GridUnderTest grid, ITestOutputHelper output) : IClassFixture<GridUnderTest>
{
    public static TheoryData<int> Seeds() => [1, 2, 3, 4, 5, 6];

    [Theory]
    [MemberData(nameof(Seeds))]
    public async Task Adl_through_the_grains_agrees_with_the_model_engine(int seed)
    {
        var json = Crowd(seed).ToJsonString();
        var scenario = ScenarioReader.Read(json);
        var expected = ModelResultWriter.ToJson(ModelEngine.Run(scenario.ToModel()));
        var searches = AdlSearches.Instance.Seen.Count;
        var actual = await grid.ReplayAsync(scenario);
        var prefix = grid.LastPrefix;

        using var a = JsonDocument.Parse(actual);
        using var e = JsonDocument.Parse(expected);
        var differences = new List<string>();
        ResultComparer.Compare(a.RootElement, e.RootElement, "$", differences);
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences.Take(20)) + Environment.NewLine + json);

        // The crowd is built to reach ADL; a seed that does not would test nothing.
        var adl = e.RootElement.GetProperty("events").EnumerateArray().Where(x => x.GetProperty("type").GetString() == "adl").ToList();
        Assert.NotEmpty(adl);

        // The counterparties came from the shards' ranked index, fetching fewer accounts than the markets' holders.
        var seen = AdlSearches.Instance.Seen.Skip(searches).ToList();
        Assert.NotEmpty(seen);
        Assert.All(seen, s => Assert.Equal(AdlSearch.Index, s.Search));
        Assert.All(seen, s => Assert.True(s.Fetched < s.Holders, $"fetched {s.Fetched} of {s.Holders} holders"));
        output.WriteLine($"seed {seed}: {adl.Count} adl closes; per ADL step, accounts fetched / holders of the markets: "
            + string.Join(", ", seen.Select(s => $"{s.Fetched}/{s.Holders}")));

        // Each adl close reached the counterparty's recent events (handed over by the bankrupt account's liquidation).
        foreach (var close in adl)
        {
            var counterparty = close.GetProperty("account").GetString()!;
            var handed = await grid.Grains.GetGrain<IAccountInboxGrain>(prefix + counterparty).GetAsync();
            Assert.Contains(handed, h => h.Type == GridEventType.Adl && h.Account == prefix + counterparty
                && h.Market == prefix + close.GetProperty("market").GetString()
                && h.Counterparty == prefix + close.GetProperty("counterparty").GetString()
                && h.Quantity == decimal.Parse(close.GetProperty("quantity").GetString()!, CultureInfo.InvariantCulture));
        }

        await The_api_quantiles_are_the_domain_ranking_of_the_accounts_as_they_are_now(scenario, prefix);
    }

    /// <summary>After every fill, deposit, liquidation and ADL close of the run, the shards' standings are current.</summary>
    private async Task The_api_quantiles_are_the_domain_ranking_of_the_accounts_as_they_are_now(Scenario scenario, string prefix)
    {
        var configs = new RiskConfigProvider(grid.Grains);
        var (config, _) = await configs.GetAsync();
        var marks = await new LiquidationPlanner(grid.Grains, new GridOptions()).MarksAsync(config);
        var ids = scenario.Accounts.Select(x => prefix + x.Id).ToList();
        var snapshots = (await Task.WhenAll(ids.Select(id => grid.Grains.GetGrain<IAccountRiskGrain>(id).SnapshotAsync())))
            .OfType<AccountSnapshot>().Where(x => !x.InAuction).ToList();
        var expected = new Dictionary<(string Account, string Market), decimal>();
        foreach (var market in config.Markets.Select(m => m.Symbol))
        {
            foreach (var shorts in new[] { true, false })
            {
                var ranked = AutoDeleveraging.Rank(market, shorts, snapshots.Select(x => KeyValuePair.Create(x.Account, x.ToPortfolio())), marks, config);
                for (var i = 0; i < ranked.Count; i++)
                {
                    expected[(ranked[i].Account, market)] = (ranked.Count - (decimal)i) / ranked.Count;
                }
            }
        }

        var ranks = new AdlRanks(grid.Grains, new GridOptions(), configs);
        var checkedPositions = 0;
        foreach (var id in ids)
        {
            if (await grid.Grains.GetGrain<IAccountGrain>(id).GetViewAsync() is not { } view)
            {
                continue;
            }

            foreach (var position in (await ranks.WithQuantilesAsync(view)).Positions)
            {
                Assert.Equal(expected.TryGetValue((id, position.Market), out var q) ? q : null, position.AdlQuantile);
                checkedPositions++;
            }
        }

        Assert.True(expected.Count > 0 && checkedPositions > 0);
    }

    private static string D(decimal x) => x.ToString(CultureInfo.InvariantCulture);

    private static JsonObject Crowd(int seed)
    {
        var random = new Random(seed);
        var btc = 50_000m;
        var eth = 3_000m;
        var accounts = new JsonArray();
        JsonObject Position(string market, decimal size, decimal entry) =>
            new() { ["market"] = market, ["size"] = D(size), ["entryPrice"] = D(entry) };

        // Bankrupt-to-be: leveraged longs (a price fall breaks them past their equity) and a leveraged short.
        for (var i = 0; i < 3; i++)
        {
            accounts.Add(new JsonObject
            {
                ["id"] = $"bust{i}",
                ["collateral"] = new JsonObject { ["USD"] = D(2_000m + (random.Next(0, 10) * 100m)) },
                ["positions"] = new JsonArray(
                    Position("BTC-PERP", 1m + (random.Next(0, 10) * 0.1m), btc),
                    Position("ETH-PERP", 10m + random.Next(0, 10), eth)),
            });
        }

        accounts.Add(new JsonObject
        {
            ["id"] = "bustShort",
            ["collateral"] = new JsonObject { ["USD"] = "1500" },
            ["positions"] = new JsonArray(Position("ETH-PERP", -12m, 2_600m)),
        });

        // The crowd: shorts and longs at entries around the marks, some in both markets, some with ETH collateral.
        for (var i = 0; i < 30; i++)
        {
            var positions = new JsonArray();
            if (random.Next(4) != 0)
            {
                positions.Add(Position("BTC-PERP", (random.Next(2) == 0 ? -1m : 1m) * random.Next(1, 40) * 0.05m, btc * random.Next(80, 121) / 100m));
            }

            if (random.Next(3) != 0)
            {
                positions.Add(Position("ETH-PERP", (random.Next(2) == 0 ? -1m : 1m) * random.Next(1, 40) * 0.5m, eth * random.Next(80, 121) / 100m));
            }

            var collateral = new JsonObject { ["USD"] = D(random.Next(20_000, 200_000)) };
            if (random.Next(3) == 0)
            {
                collateral["ETH"] = D(random.Next(1, 20));
            }

            accounts.Add(new JsonObject { ["id"] = $"c{i:D2}", ["collateral"] = collateral, ["positions"] = positions });
        }

        var steps = new JsonArray();
        var time = 0;
        for (var s = 0; s < 6; s++)
        {
            time += 10;
            var kind = random.Next(4);
            if (kind == 0)
            {
                var who = $"c{random.Next(30):D2}";
                var market = random.Next(2) == 0 ? "BTC-PERP" : "ETH-PERP";
                var size = (random.Next(2) == 0 ? -1m : 1m) * (market == "BTC-PERP" ? random.Next(1, 20) * 0.05m : random.Next(1, 20) * 0.5m);
                var price = (market == "BTC-PERP" ? btc : eth) * random.Next(95, 106) / 100m;
                steps.Add(new JsonObject { ["fill"] = new JsonObject { ["account"] = who, ["market"] = market, ["size"] = D(size), ["price"] = D(price) } });
            }
            else if (kind == 1)
            {
                steps.Add(new JsonObject { ["deposit"] = new JsonObject { ["account"] = $"c{random.Next(30):D2}", ["asset"] = "USD", ["quantity"] = D(random.Next(1_000, 50_000)) } });
            }

            // Prices fall (breaking the longs), ETH sometimes jumps (breaking the short).
            btc = decimal.Round(btc * random.Next(86, 101) / 100m, 2);
            eth = decimal.Round(eth * (s == 3 ? random.Next(110, 125) : random.Next(84, 101)) / 100m, 2);
            steps.Add(new JsonObject { ["market"] = "BTC-PERP", ["price"] = D(btc), ["time"] = D(time) });
            steps.Add(new JsonObject { ["market"] = "ETH-PERP", ["price"] = D(eth), ["time"] = D(time + 1) });
        }

        return new JsonObject
        {
            ["startTime"] = "0",
            ["markets"] = new JsonArray(
                JsonNode.Parse("""{"symbol": "BTC-PERP", "lotSize": "0.001", "liquidationPenalty": "0.002", "brackets": [{"floor": "0", "mmr": "0.01", "imr": "0.02"}, {"floor": "1000000", "mmr": "0.05", "imr": "0.10"}]}"""),
                JsonNode.Parse("""{"symbol": "ETH-PERP", "lotSize": "0.01", "liquidationPenalty": "0.003", "brackets": [{"floor": "0", "mmr": "0.01", "imr": "0.02"}]}""")),
            ["collateral"] = new JsonArray(JsonNode.Parse("""{"asset": "ETH", "weight": "0.9", "priceMarket": "ETH-PERP", "liquidationDiscount": "0.03"}""")),
            ["risk"] = new JsonObject { ["marginCallRatio"] = "1.25", ["liquidationTargetRatio"] = "1.10", ["bankruptcyResolution"] = "adl" },
            ["insuranceFund"] = D(random.Next(0, 3) * 500m),
            ["accounts"] = accounts,
            ["initialPrices"] = new JsonObject { ["BTC-PERP"] = "50000", ["ETH-PERP"] = "3000" },
            ["steps"] = steps,
        };
    }
}
