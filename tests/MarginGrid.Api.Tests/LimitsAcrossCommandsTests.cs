using System.Net;
using System.Text.Json;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>
/// Issue 9, bounded arithmetic across commands, on a real silo: every fill or deposit is within its market's or asset's
/// limits on its own, but the position or balance they add up to is not — the command that would cross the limit is
/// refused with 422 naming the field and the limit, and changes nothing (limits of <see cref="HardeningFixture"/>:
/// BTC-USD maxPositionSize 1e4, BTC maxQuantity 1e6).
/// </summary>
public sealed class LimitsAcrossCommandsTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    [Fact]
    public async Task FillsThatAddUpBeyondMaxPositionSizeAreRefusedWith422NamingSize()
    {
        using var venue = fixture.Client("venue");
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/limits-fill", Json("""{ "collateral": { "USD": "10000000" } }""")));
        await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/limits-fill/fills", Json("""{ "commandId": "f-1", "market": "BTC-USD", "size": "6000", "price": "100" }""")));

        using var refused = await venue.PostAsync(
            "v1/accounts/limits-fill/fills", Json("""{ "commandId": "f-2", "market": "BTC-USD", "size": "6000", "price": "100" }"""));
        var problem = await ProblemAsync(refused, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("size", problem.GetProperty("field").GetString());
        Assert.Contains("maxPositionSize", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var view = await EnsureOkAsync(await venue.GetAsync("v1/accounts/limits-fill"));
        Assert.Equal("6000", view.GetProperty("positions")[0].GetProperty("size").GetString());

        // Reducing the position is always allowed; so is growing it back up to the limit.
        await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/limits-fill/fills", Json("""{ "commandId": "f-3", "market": "BTC-USD", "size": "4000", "price": "100" }""")));
    }

    [Fact]
    public async Task DepositsThatAddUpBeyondMaxQuantityAreRefusedWith422NamingQuantity()
    {
        using var venue = fixture.Client("venue");
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/limits-deposit", Json("{}")));
        await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/limits-deposit/deposits", Json("""{ "commandId": "d-1", "asset": "BTC", "quantity": "600000" }""")));

        using var refused = await venue.PostAsync(
            "v1/accounts/limits-deposit/deposits", Json("""{ "commandId": "d-2", "asset": "BTC", "quantity": "600000" }"""));
        var problem = await ProblemAsync(refused, HttpStatusCode.UnprocessableEntity);
        Assert.Equal("quantity", problem.GetProperty("field").GetString());
        Assert.Contains("maxQuantity", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var view = await EnsureOkAsync(await venue.GetAsync("v1/accounts/limits-deposit"));
        Assert.Equal("600000", view.GetProperty("collateral").GetProperty("BTC").GetString());
    }

    private static async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(body);
        return document.RootElement.Clone();
    }
}
