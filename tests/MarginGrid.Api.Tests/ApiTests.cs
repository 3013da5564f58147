using System.Net;
using System.Text.Json;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>The HTTP API of a real <c>margingrid silo</c> process on PostgreSQL.</summary>
public sealed class ApiTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private const string Problem = "application/problem+json";

    [Fact]
    public async Task DepositFillPriceEndsInAMarginCall()
    {
        using var trader = fixture.Client("trader");
        using var venue = fixture.Client("venue");
        using var feed = fixture.Client("feed");
        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("ETH-USD", "100"))));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/e2e", Json("{}")));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/e2e/deposits", Json("""{ "commandId": "d-1", "asset": "USD", "quantity": 1000 }""")));
        var fill = await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/e2e/fills", Json("""{ "commandId": "f-1", "market": "ETH-USD", "size": "90", "price": "100" }""")));
        Assert.True(fill.GetProperty("accepted").GetBoolean());

        // E = 1000 + 90 × (94 − 100) = 460; MM = 90 × 94 × 0.05 = 423: below 1.25 × MM, above MM.
        var step = await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("ETH-USD", "94"))));
        var events = step.GetProperty("steps")[0].GetProperty("events").EnumerateArray().ToList();
        var call = Assert.Single(events);
        Assert.Equal("margin_call", call.GetProperty("type").GetString());
        Assert.Equal("e2e", call.GetProperty("account").GetString());

        var view = await trader.GetJsonAsync("v1/accounts/e2e");
        Assert.Equal("margin_call", view.GetProperty("status").GetString());
        Assert.Equal(460m, Decimals.Parse(view.GetProperty("equity")));
        Assert.Equal(423m, Decimals.Parse(view.GetProperty("maintenanceMargin")));
        var position = Assert.Single(view.GetProperty("positions").EnumerateArray());
        Assert.Equal(90m, Decimals.Parse(position.GetProperty("size")));
        Assert.Equal(94m, Decimals.Parse(position.GetProperty("mark")));
        var liquidationPrice = Decimals.Parse(position.GetProperty("liquidationPrice"));
        Assert.InRange(liquidationPrice, 93m, 94m); // 90P − 8000 = 4.5P at P = 93.567…

        var history = await trader.GetJsonAsync("v1/accounts/e2e/events");
        Assert.Contains(history.EnumerateArray(), e => e.GetProperty("type").GetString() == "margin_call");
    }

    public static TheoryData<string, string, string, HttpStatusCode> BadInputs() => new()
    {
        { "malformed JSON", "v1/accounts/{id}/deposits", """{ "commandId": "x", """, HttpStatusCode.BadRequest },
        { "NaN literal", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": NaN }""", HttpStatusCode.BadRequest },
        { "NaN string", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": "NaN" }""", HttpStatusCode.BadRequest },
        { "Infinity", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": "Infinity" }""", HttpStatusCode.BadRequest },
        { "out of decimal range", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": 1e400 }""", HttpStatusCode.BadRequest },
        { "zero quantity", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": "0" }""", HttpStatusCode.BadRequest },
        { "negative quantity", "v1/accounts/{id}/withdrawals", """{ "commandId": "x", "asset": "USD", "quantity": "-5" }""", HttpStatusCode.BadRequest },
        { "unknown asset", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "DOGE", "quantity": "5" }""", HttpStatusCode.BadRequest },
        { "unknown member", "v1/accounts/{id}/deposits", """{ "commandId": "x", "asset": "USD", "quantity": "5", "extra": 1 }""", HttpStatusCode.BadRequest },
        { "zero fill", "v1/accounts/{id}/fills", """{ "commandId": "x", "market": "BTC-USD", "size": "0", "price": "100" }""", HttpStatusCode.BadRequest },
        { "negative fill price", "v1/accounts/{id}/fills", """{ "commandId": "x", "market": "BTC-USD", "size": "1", "price": "-1" }""", HttpStatusCode.BadRequest },
        { "fill in unknown market", "v1/accounts/{id}/fills", """{ "commandId": "x", "market": "XYZ-USD", "size": "1", "price": "1" }""", HttpStatusCode.NotFound },
        { "unknown account", "v1/accounts/nobody/deposits", """{ "commandId": "x", "asset": "USD", "quantity": "5" }""", HttpStatusCode.NotFound },
        { "zero price", "v1/prices", """[{ "market": "BTC-USD", "source": "t", "price": "0", "timestamp": "2030-01-01T00:00:00Z" }]""", HttpStatusCode.BadRequest },
        {
            "batch with one negative price", "v1/prices",
            """[{ "market": "BTC-USD", "source": "t", "price": "50", "timestamp": "2030-01-01T00:00:00Z" }, { "market": "BTC-USD", "source": "t", "price": "-1", "timestamp": "2030-01-01T00:00:01Z" }]""",
            HttpStatusCode.BadRequest
        },
        { "price of unknown market", "v1/prices", """[{ "market": "XYZ-USD", "source": "t", "price": "1", "timestamp": "2030-01-01T00:00:00Z" }]""", HttpStatusCode.NotFound },
        { "withdrawal breaching IM", "v1/accounts/{id}/withdrawals", """{ "commandId": "w", "asset": "USD", "quantity": "600" }""", HttpStatusCode.UnprocessableEntity },
        { "oversized body", "v1/accounts/{id}/deposits", "OVERSIZED", HttpStatusCode.RequestEntityTooLarge },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task BadInputGetsProblemDetailsAndChangesNothing(string name, string path, string body, HttpStatusCode expected)
    {
        var id = "bad-" + Guid.NewGuid().ToString("N");
        using var admin = fixture.Client("admin");
        // E = 1000, IM = 50 × 100 × 0.1 = 500: a withdrawal of 600 breaches IM.
        await EnsureOkAsync(await admin.PostAsync($"v1/accounts/{id}", Json(
            """{ "collateral": { "USD": "1000" }, "positions": [ { "market": "BTC-USD", "size": "50", "entryPrice": "100" } ] }""")));
        var before = await StateAsync(admin, id);

        var content = body == "OVERSIZED" ? Json($$"""{ "commandId": "{{new string('x', 2 * 1024 * 1024)}}" }""") : Json(body);
        using var response = await admin.PostAsync(path.Replace("{id}", id, StringComparison.Ordinal), content);

        var text = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{name}: {(int)response.StatusCode} {text}");
        Assert.Equal(Problem, response.Content.Headers.ContentType?.MediaType);
        using (var problem = JsonDocument.Parse(text))
        {
            Assert.Equal((int)expected, problem.RootElement.GetProperty("status").GetInt32());
            Assert.False(string.IsNullOrEmpty(problem.RootElement.GetProperty("title").GetString()));
        }

        Assert.Equal(before, await StateAsync(admin, id));
    }

    [Fact]
    public async Task ARepeatedCommandIdReturnsTheFirstResultAndADifferentBodyIsAConflict()
    {
        using var trader = fixture.Client("venue");
        await EnsureOkAsync(await trader.PostAsync("v1/accounts/idem", Json("""{ "collateral": { "USD": "100" } }""")));
        const string deposit = """{ "commandId": "dep-1", "asset": "USD", "quantity": "25.50" }""";
        var first = await EnsureOkAsync(await trader.PostAsync("v1/accounts/idem/deposits", Json(deposit)));
        var second = await EnsureOkAsync(await trader.PostAsync("v1/accounts/idem/deposits", Json(deposit)));
        Assert.False(first.GetProperty("duplicate").GetBoolean());
        Assert.True(second.GetProperty("duplicate").GetBoolean());
        Assert.Equal(first.GetProperty("version").GetInt64(), second.GetProperty("version").GetInt64());

        using var conflict = await trader.PostAsync(
            "v1/accounts/idem/deposits", Json("""{ "commandId": "dep-1", "asset": "USD", "quantity": "26" }"""));
        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Equal(Problem, conflict.Content.Headers.ContentType?.MediaType);

        var view = await trader.GetJsonAsync("v1/accounts/idem");
        Assert.Equal(125.50m, Decimals.Parse(view.GetProperty("collateral").GetProperty("USD")));
    }

    [Theory]
    [InlineData(null, "GET", "v1/insurance-fund", HttpStatusCode.Unauthorized)]
    [InlineData(null, "POST", "v1/prices", HttpStatusCode.Unauthorized)]
    [InlineData("reader", "POST", "v1/prices", HttpStatusCode.Forbidden)]
    [InlineData("trader", "POST", "v1/config", HttpStatusCode.Forbidden)]
    [InlineData("feed", "POST", "v1/accounts/someone/deposits", HttpStatusCode.Forbidden)]
    [InlineData("feed", "GET", "v1/liquidation-queue", HttpStatusCode.Forbidden)]
    [InlineData("reader", "GET", "v1/insurance-fund", HttpStatusCode.OK)]
    [InlineData("trader", "GET", "v1/liquidation-queue", HttpStatusCode.OK)]
    [InlineData("admin", "GET", "v1/insurance-fund", HttpStatusCode.OK)]
    public async Task KeysAndRolesAreEnforced(string? role, string method, string path, HttpStatusCode expected)
    {
        using var client = fixture.Client(role);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = Json("{}");
        }

        using var response = await client.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        if (expected is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            Assert.Equal(Problem, response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task AWrongKeyIsUnauthorized()
    {
        using var client = fixture.Client(null);
        client.DefaultRequestHeaders.Add("X-Api-Key", "not-a-key");
        using var response = await client.GetAsync("v1/insurance-fund");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task MetricsExposeEveryMarginGridName()
    {
        using var client = fixture.Client(null);
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", fixture.Keys["reader"]);
        var text = await client.GetStringAsync("metrics");
        string[] names =
        [
            "margingrid_ticks_total", "margingrid_account_evaluations_total", "margingrid_tick_decision_seconds",
            "margingrid_margin_calls_total", "margingrid_liquidations_total", "margingrid_liquidated_notional_usd_total",
            "margingrid_collateral_liquidations_total", "margingrid_bankruptcies_total", "margingrid_insurance_fund_usd",
            "margingrid_insurance_fund_peak_usd", "margingrid_socialized_loss_usd", "margingrid_accounts",
            "margingrid_liquidation_queue_depth", "margingrid_commands_total", "margingrid_market_last_tick_timestamp_seconds",
        ];
        foreach (var name in names)
        {
            Assert.Contains($"# TYPE {name} ", text, StringComparison.Ordinal);
        }

        Assert.Contains("margingrid_ticks_total{market=\"BTC-USD\"}", text, StringComparison.Ordinal);
        Assert.Contains("margingrid_insurance_fund_usd 10000", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthAndOpenApiAreServed()
    {
        using var client = fixture.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/ready")).StatusCode);
        var openApi = await client.GetJsonAsync("openapi/v1.json");
        Assert.True(openApi.GetProperty("paths").TryGetProperty("/v1/accounts/{id}/fills", out _));
    }

    [Fact]
    public async Task GrainStateAndMembershipAreInPostgres()
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync();
        await using var storage = new Npgsql.NpgsqlCommand("SELECT count(*) FROM orleansstorage", connection);
        Assert.True((long)(await storage.ExecuteScalarAsync())! >= 2); // the risk configuration, the fund, the market
        await using var members = new Npgsql.NpgsqlCommand("SELECT count(*) FROM orleansmembershiptable WHERE status = 3", connection);
        Assert.Equal(1L, (long)(await members.ExecuteScalarAsync())!);
    }

    /// <summary>What bad input must not change: the account's holdings, marks, equity and status, and the insurance fund.</summary>
    private static async Task<string> StateAsync(GridClient client, string id)
    {
        var view = await client.GetJsonAsync($"v1/accounts/{id}");
        var fund = await client.GetJsonAsync("v1/insurance-fund");
        return string.Join(
            " | ",
            view.GetProperty("collateral").GetRawText(),
            view.GetProperty("positions").GetRawText(),
            view.GetProperty("equity").GetRawText(),
            view.GetProperty("status").GetRawText(),
            fund.GetRawText());
    }

    [Fact]
    public async Task Opening_an_account_in_a_market_without_a_price_is_a_409_and_opens_nothing()
    {
        // SOL-USD is configured but never priced in this class's silo.
        using var admin = fixture.Client("admin");
        var response = await admin.PostAsync("v1/accounts/unpriced-1", Json(
            """{ "collateral": { "USD": "1000" }, "positions": [ { "market": "SOL-USD", "size": "1", "entryPrice": "100" } ] }"""));
        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("SOL-USD", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var reader = fixture.Client("reader");
        Assert.Equal(HttpStatusCode.NotFound, (await reader.GetAsync("v1/accounts/unpriced-1")).StatusCode);
    }
}

public sealed class DatabaseInitTests
{
    [Fact]
    public async Task DbInitTwiceInARowSucceeds()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync("mg_api");
        var first = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
        Assert.True(first.ExitCode == 0, first.Output);
        Assert.Contains("applied", first.Output, StringComparison.Ordinal);
        var second = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
        Assert.True(second.ExitCode == 0, second.Output);
        Assert.Contains("up to date", second.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DbInitWithoutAConnectionStringFails()
    {
        var result = await Margingrid.RunAsync("db", "init");
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("connection string", result.Output, StringComparison.Ordinal);
    }
}
