using System.Text.Json;
using System.Text.Json.Nodes;
using MarginGrid.Domain.Model;
using MarginGrid.Host.Scenarios;
using Xunit;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>
/// v3 auctions through the grains against the model engine (the reference for v3): variants of the public scenario 10
/// that reach what it does not — a deposit ending an auction, the refusals of a bid, a bid that exhausts the lot (step 2
/// resumed, the deficit written off), bankruptcyResolution "adl" (no ADL after an auction).
/// </summary>
public sealed class AuctionAgreementTests
{
    private static readonly string[] Setup =
    [
        """{"market": "BTC-PERP", "price": "58000", "time": "5"}""",
        """{"market": "BTC-PERP", "price": "53600", "time": "10"}""",
    ];

    public static TheoryData<string> Variants() => ["deposit-ends", "refusals", "lot-exhausted", "adl", "scenario-10-adl"];

    [Theory]
    [MemberData(nameof(Variants))]
    public async Task The_grains_agree_with_the_model_engine(string variant)
    {
        var root = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Scenarios", "public", "10-dutch-auction.json")))!;
        JsonArray Steps(params string[] steps) => new([.. Setup.Concat(steps).Select(s => JsonNode.Parse(s))]);
        switch (variant)
        {
            case "deposit-ends":
                root["steps"] = Steps(
                    """{"withdraw": {"account": "debtor", "asset": "ETH", "quantity": "0.1"}}""",
                    """{"deposit": {"account": "debtor", "asset": "USD", "quantity": "1000"}}""",
                    """{"deposit": {"account": "debtor", "asset": "USD", "quantity": "5000"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"withdraw": {"account": "debtor", "asset": "ETH", "quantity": "0.1"}}""",
                    """{"market": "ETH-PERP", "price": "1990", "time": "200"}""");
                break;
            case "refusals":
                root["steps"] = Steps(
                    """{"bid": {"account": "nobody", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "keeper", "target": "nobody", "asset": "ETH", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "debtor", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "0", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "0"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "BTC", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "keeper", "target": "shark", "asset": "ETH", "quantity": "1", "maxPrice": "3000"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "2199"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "1", "maxPrice": "2200"}}""",
                    """{"market": "ETH-PERP", "price": "2000", "time": "75"}""",
                    """{"bid": {"account": "keeper", "target": "slow", "asset": "ETH", "quantity": "0.2", "maxPrice": "2200"}}""",
                    """{"market": "ETH-PERP", "price": "2000", "time": "130.5"}""");
                break;
            case "lot-exhausted":
                // slow holds less ETH than its debt at the top price, and some BTC after it (weight 0.95 > 0.9).
                root["accounts"]![1]!["collateral"] = JsonNode.Parse("""{"USD": "-1000", "ETH": "1", "BTC": "0.01"}""");
                root["steps"] = Steps(
                    """{"bid": {"account": "keeper", "target": "slow", "asset": "ETH", "quantity": "5", "maxPrice": "2200"}}""",
                    """{"bid": {"account": "keeper", "target": "debtor", "asset": "ETH", "quantity": "5", "maxPrice": "2200"}}""");
                break;
            case "adl":
                root["risk"]!["bankruptcyResolution"] = "adl";
                root["accounts"]![1]!["collateral"] = JsonNode.Parse("""{"USD": "-1000", "ETH": "1", "BTC": "0.01"}""");
                root["steps"] = Steps(
                    """{"bid": {"account": "keeper", "target": "slow", "asset": "ETH", "quantity": "5", "maxPrice": "2200"}}""",
                    """{"market": "ETH-PERP", "price": "1000", "time": "131"}""");
                break;
            case "scenario-10-adl":
                root["risk"]!["bankruptcyResolution"] = "adl";
                break;
        }

        var json = root.ToJsonString();
        var scenario = ScenarioReader.Read(json);
        var expected = ModelResultWriter.ToJson(ModelEngine.Run(scenario.ToModel()));
        var actual = ResultWriter.ToJson(await ReplayRunner.RunAsync(scenario));

        if (Environment.GetEnvironmentVariable("MARGINGRID_AUCTION_DUMP") is { Length: > 0 } dump)
        {
            File.WriteAllText(Path.Combine(dump, variant + ".json"), actual);
        }

        using var a = JsonDocument.Parse(actual);
        using var e = JsonDocument.Parse(expected);
        var differences = new List<string>();
        ResultComparer.Compare(a.RootElement, e.RootElement, "$", differences);
        Assert.True(differences.Count == 0, string.Join(Environment.NewLine, differences) + Environment.NewLine + "grains: " + actual + Environment.NewLine + "model: " + expected);
    }
}
