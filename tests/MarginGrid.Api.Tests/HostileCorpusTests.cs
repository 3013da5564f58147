using System.Diagnostics;
using System.Net;
using System.Text;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>One hostile request and the status it must get.</summary>
/// <param name="Role">The key presented (a role of <see cref="HardeningFixture"/>), <c>null</c> for none, <c>"wrong"</c> for an unknown key.</param>
public sealed record HostileCase(string Name, string? Role, string Method, string Path, string? Body, HttpStatusCode Status);

/// <summary>
/// The hostile-request corpus of issue 9, against a real <c>margingrid silo</c> on PostgreSQL: every request gets its
/// documented status (problem details naming the field, never a .NET type, never a 5xx) and leaves balances,
/// positions, the insurance fund, the configuration and the audit trail unchanged. "Unchanged audit" is checked
/// exactly: after each request a marker price is published on MARK-USD (held by nobody), and once its audit row is
/// in the table (the writer appends in queue order) no other row may have appeared since the request was sent.
/// </summary>
public sealed class HostileCorpusTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    private const string Problem = "application/problem+json";
    private const string V = "v1/accounts/victim";
    private const string Open = "v1/accounts/fresh-1";
    private static readonly TimeSpan AuditDeadline = TimeSpan.FromSeconds(20);
    private static long s_markers;

    public static IReadOnlyDictionary<string, HostileCase> Corpus { get; } = Build().ToDictionary(c => c.Name, StringComparer.Ordinal);

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var name in Corpus.Keys)
        {
            data.Add(name);
        }

        return data;
    }

    [Fact]
    public void TheCorpusHoldsAtLeastAHundredRequests() => Assert.True(Corpus.Count >= 100, $"{Corpus.Count} cases");

    [Theory]
    [MemberData(nameof(Names))]
    public async Task AHostileRequestGetsItsStatusAndChangesNothing(string name)
    {
        var c = Corpus[name];
        using var reader = fixture.Client("reader");
        var before = await SnapshotAsync(reader);
        var auditBefore = await fixture.ScalarAsync<long>("SELECT coalesce(max(id), 0) FROM margingrid_audit");
        var quarantineBefore = await fixture.ScalarAsync<long>("SELECT count(*) FROM margingrid_audit_quarantine");

        using (var client = c.Role == "wrong" ? fixture.Client(null, key: "not-a-key") : fixture.Client(c.Role))
        using (var request = new HttpRequestMessage(new HttpMethod(c.Method), c.Path))
        {
            if (c.Body is not null)
            {
                request.Content = new StringContent(WithTimes(c.Body), Encoding.UTF8, "application/json");
            }

            using var response = await client.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(c.Status == response.StatusCode, $"{name}: expected {(int)c.Status}, got {(int)response.StatusCode}: {text}");
            if (!c.Path.Contains("%00", StringComparison.Ordinal))
            {
                // (Kestrel itself refuses a NUL in the path with a bare 400, before any of the API runs.)
                Assert.Equal(Problem, response.Content.Headers.ContentType?.MediaType);
            }

            Assert.DoesNotContain("MarginGrid.", text, StringComparison.Ordinal);
            Assert.DoesNotContain("System.", text, StringComparison.Ordinal);
            if (c.Status == HttpStatusCode.BadRequest && !c.Path.Contains("%00", StringComparison.Ordinal) && !text.Contains("\"field\"", StringComparison.Ordinal))
            {
                Assert.Fail($"{name}: a 400 must name its field: {text}");
            }
        }

        // The marker: its audit row arriving means every row queued before it is in the table.
        using var feed = fixture.Client("feed");
        // A new price each time: the same mark again would not be a new step.
        var markerPrice = (100m + (Interlocked.Increment(ref s_markers) / 1000m)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var marker = await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("MARK-USD", markerPrice))));
        var step = marker.GetProperty("steps")[0].GetProperty("step").GetString()!;
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            if (await fixture.ScalarAsync<long>($"SELECT count(*) FROM margingrid_audit WHERE id > {auditBefore} AND kind = 'price' AND payload->>'step' = '{step}'") == 1)
            {
                break;
            }

            Assert.True(deadline.Elapsed < AuditDeadline, $"the marker {step} never reached the audit trail");
            await Task.Delay(TimeSpan.FromMilliseconds(50)); // polling a condition with a deadline
        }

        var row = Assert.Single(await fixture.AuditAfterAsync(auditBefore));
        Assert.Equal(("price", "price", "*"), (row.Kind, row.Type, row.Account));
        Assert.Equal(quarantineBefore, await fixture.ScalarAsync<long>("SELECT count(*) FROM margingrid_audit_quarantine"));
        Assert.Equal(before, await SnapshotAsync(reader));
    }

    /// <summary>Replaces <c>{NOW+seconds}</c> with that instant, at send time (a case may run minutes after the corpus is built).</summary>
    private static string WithTimes(string body) =>
        System.Text.RegularExpressions.Regex.Replace(body, @"\{NOW\+(\d+)\}", m =>
            DateTimeOffset.UtcNow.AddSeconds(int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
                .ToString("O", System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Balances, positions and versions of both accounts, whether fresh-1 exists, the fund and the config version.</summary>
    private static async Task<string> SnapshotAsync(GridClient reader)
    {
        var victim = await reader.GetJsonAsync(V);
        var own = await reader.GetJsonAsync("v1/accounts/own-1");
        var fund = await reader.GetJsonAsync("v1/insurance-fund");
        using var fresh = await reader.GetAsync(Open);
        return string.Join(
            " | ",
            victim.GetProperty("collateral").GetRawText(), victim.GetProperty("positions").GetRawText(), victim.GetProperty("version").GetRawText(),
            own.GetProperty("collateral").GetRawText(), own.GetProperty("version").GetRawText(),
            ((int)fresh.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture),
            fund.GetRawText());
    }

    private static IEnumerable<HostileCase> Build()
    {
        const HttpStatusCode Bad = HttpStatusCode.BadRequest;
        var cases = new List<HostileCase>();
        void Add(string name, string? role, string method, string path, string? body, HttpStatusCode status) =>
            cases.Add(new HostileCase(name, role, method, path, body, status));

        string Deposit(string quantity, string commandId = "\"c-1\"", string asset = "\"USD\"") =>
            $$"""{ "commandId": {{commandId}}, "asset": {{asset}}, "quantity": {{quantity}} }""";
        string Fill(string size, string price, string market = "\"BTC-USD\"", string commandId = "\"f-1\"") =>
            $$"""{ "commandId": {{commandId}}, "market": {{market}}, "size": {{size}}, "price": {{price}} }""";
        string PriceBatch(string price, string timestamp = "\"2020-01-01T00:00:00Z\"", string market = "\"BTC-USD\"", string source = "\"test\"") =>
            $$"""[{ "market": {{market}}, "source": {{source}}, "price": {{price}}, "timestamp": {{timestamp}} }]""";

        // Malformed JSON, on every kind of route.
        foreach (var (label, body) in new[]
                 {
                     ("truncated", """{ "commandId": "x", """), ("not JSON", "deposit 5 USD"), ("empty body", ""), ("trailing garbage", Deposit("\"1\"") + "}"),
                     ("single quotes", "{ 'commandId': 'x', 'asset': 'USD', 'quantity': '1' }"), ("comment", "{ /* hi */ \"commandId\": \"x\", \"asset\": \"USD\", \"quantity\": \"1\" }"),
                     ("trailing comma", """{ "commandId": "x", "asset": "USD", "quantity": "1", }"""), ("array instead of object", "[]"), ("bare null", "null"), ("bare number", "5"),
                 })
        {
            Add($"deposit: {label}", "venue", "POST", $"{V}/deposits", body, Bad);
        }

        Add("fill: truncated", "venue", "POST", $"{V}/fills", """{ "commandId": "f", "market": """, Bad);
        Add("prices: object instead of array", "feed", "POST", "v1/prices", """{ "market": "BTC-USD" }""", Bad);
        Add("config: truncated", "admin", "POST", "v1/config", """{ "markets": [ """, Bad);
        Add("open: truncated", "venue", "POST", Open, """{ "collateral": { "USD": """, Bad);

        // Numbers: huge, exponents, NaN-likes, wrong types, negative and zero.
        foreach (var (label, quantity) in new[]
                 {
                     ("NaN literal", "NaN"), ("NaN string", "\"NaN\""), ("Infinity", "\"Infinity\""), ("-Infinity", "\"-Infinity\""), ("nan lower", "\"nan\""),
                     ("1e400", "1e400"), ("1e29 string", "\"1e29\""), ("decimal.MaxValue + 1", "\"79228162514264337593543950336\""),
                     ("decimal.MaxValue", "\"79228162514264337593543950335\""), ("beyond maxQuantity", "\"10000000000001\""), ("1e14 exponent", "1e14"),
                     ("tiny exponent rounds to 0", "\"1e-30\""), ("zero", "\"0\""), ("negative", "\"-5\""), ("negative zero", "\"-0\""),
                     ("hex", "\"0x10\""), ("thousands separator", "\"1,000\""), ("boolean", "true"), ("array", "[1]"), ("object", "{}"),
                     ("null", "null"), ("empty string", "\"\""), ("spaces", "\" 5 \""), ("currency sign", "\"$5\""),
                 })
        {
            Add($"deposit quantity: {label}", "venue", "POST", $"{V}/deposits", Deposit(quantity), Bad);
        }

        foreach (var (label, quantity) in new[] { ("NaN", "\"NaN\""), ("zero", "0"), ("negative", "\"-1\""), ("beyond maxQuantity", "\"1e15\""), ("1e400", "1e400") })
        {
            Add($"withdrawal quantity: {label}", "venue", "POST", $"{V}/withdrawals", Deposit(quantity), Bad);
        }

        Add("deposit BTC beyond its maxQuantity", "venue", "POST", $"{V}/deposits", Deposit("\"1000001\"", asset: "\"BTC\""), Bad);

        foreach (var (label, size, price) in new[]
                 {
                     ("zero size", "\"0\"", "\"100\""), ("zero price", "\"1\"", "\"0\""), ("negative price", "\"1\"", "\"-100\""), ("NaN size", "\"NaN\"", "\"100\""),
                     ("Infinity price", "\"1\"", "\"Infinity\""), ("size beyond maxPositionSize", "\"10001\"", "\"100\""), ("short beyond maxPositionSize", "\"-10001\"", "\"100\""),
                     ("price beyond maxPrice", "\"1\"", "\"1000001\""), ("notional beyond maxNotional", "\"10000\"", "\"100001\""), ("decimal.MaxValue size", "\"79228162514264337593543950335\"", "\"100\""),
                     ("decimal.MaxValue price", "\"1\"", "\"79228162514264337593543950335\""), ("size 1e400", "1e400", "\"100\""), ("price as boolean", "\"1\"", "false"),
                 })
        {
            Add($"fill: {label}", "venue", "POST", $"{V}/fills", Fill(size, price), Bad);
        }

        Add("fill: ETH-USD price beyond the default maxPrice", "venue", "POST", $"{V}/fills", Fill("\"1\"", "\"1000000001\"", market: "\"ETH-USD\""), Bad);
        Add("fill: unknown market", "venue", "POST", $"{V}/fills", Fill("\"1\"", "\"100\"", market: "\"XYZ-USD\""), HttpStatusCode.NotFound);
        Add("pre-trade: NaN size", "trader", "POST", "v1/accounts/own-1/pre-trade", """{ "market": "BTC-USD", "size": "NaN", "price": "100" }""", Bad);
        Add("pre-trade: price beyond maxPrice", "trader", "POST", "v1/accounts/own-1/pre-trade", """{ "market": "BTC-USD", "size": "1", "price": "1e7" }""", Bad);
        Add("pre-trade: zero size", "trader", "POST", "v1/accounts/own-1/pre-trade", """{ "market": "BTC-USD", "size": 0, "price": "100" }""", Bad);

        // Duplicate keys, unknown and missing members, nulls.
        Add("deposit: duplicate quantity", "venue", "POST", $"{V}/deposits", """{ "commandId": "c", "asset": "USD", "quantity": "1", "quantity": "1000000" }""", Bad);
        Add("deposit: duplicate commandId", "venue", "POST", $"{V}/deposits", """{ "commandId": "a", "commandId": "b", "asset": "USD", "quantity": "1" }""", Bad);
        Add("deposit: duplicate key differing in case", "venue", "POST", $"{V}/deposits", """{ "commandId": "c", "asset": "USD", "quantity": "1", "Quantity": "9" }""", Bad);
        Add("fill: duplicate size", "venue", "POST", $"{V}/fills", """{ "commandId": "f", "market": "BTC-USD", "size": "1", "size": "-1", "price": "100" }""", Bad);
        Add("open: duplicate collateral asset", "venue", "POST", Open, """{ "collateral": { "USD": "1", "USD": "1000000" } }""", Bad);
        Add("prices: duplicate price", "feed", "POST", "v1/prices", """[{ "market": "BTC-USD", "source": "t", "price": "100", "price": "1", "timestamp": "2020-01-01T00:00:00Z" }]""", Bad);
        Add("config: duplicate markets member", "admin", "POST", "v1/config", """{ "markets": [], "markets": [] }""", Bad);
        Add("deposit: unknown member", "venue", "POST", $"{V}/deposits", """{ "commandId": "c", "asset": "USD", "quantity": "1", "account": "other" }""", Bad);
        Add("fill: unknown member", "venue", "POST", $"{V}/fills", """{ "commandId": "f", "market": "BTC-USD", "size": "1", "price": "100", "leverage": 100 }""", Bad);
        Add("open: unknown member", "venue", "POST", Open, """{ "collateral": { "USD": "1" }, "admin": true }""", Bad);
        Add("deposit: missing quantity", "venue", "POST", $"{V}/deposits", """{ "commandId": "c", "asset": "USD" }""", Bad);
        Add("deposit: missing commandId", "venue", "POST", $"{V}/deposits", """{ "asset": "USD", "quantity": "1" }""", Bad);
        Add("deposit: null asset", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", asset: "null"), Bad);
        Add("deposit: null commandId", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", commandId: "null"), Bad);
        Add("deposit: numeric commandId", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", commandId: "5"), Bad);

        // Ids, symbols and asset names outside their pattern.
        foreach (var (label, id) in new[]
                 {
                     ("empty", "\"\""), ("129 chars", $"\"{new string('c', 129)}\""), ("600 chars", $"\"{new string('c', 600)}\""), ("NUL", "\"a\\u0000b\""),
                     ("space", "\"a b\""), ("tab", "\"a\\tb\""), ("newline", "\"a\\nb\""), ("Cyrillic look-alike", "\"с-1\""), ("zero-width space", "\"c\\u200b1\""),
                     ("fullwidth", "\"ｃ-1\""), ("slash", "\"a/b\""), ("leading dash", "\"-c\""), ("RTL override", "\"c\\u202e1\""), ("DEL", "\"c\\u007f\""),
                 })
        {
            Add($"deposit commandId: {label}", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", commandId: id), Bad);
        }

        Add("fill commandId: 129 chars", "venue", "POST", $"{V}/fills", Fill("\"1\"", "\"100\"", commandId: $"\"{new string('f', 129)}\""), Bad);
        Add("deposit asset: NUL", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", asset: "\"US\\u0000D\""), Bad);
        Add("deposit asset: look-alike", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", asset: "\"UЅD\""), Bad);
        Add("deposit asset: unknown", "venue", "POST", $"{V}/deposits", Deposit("\"1\"", asset: "\"DOGE\""), Bad);
        Add("fill market: control character", "venue", "POST", $"{V}/fills", Fill("\"1\"", "\"100\"", market: "\"BTC\\u0001USD\""), Bad);
        Add("fill market: 33 chars", "venue", "POST", $"{V}/fills", Fill("\"1\"", "\"100\"", market: $"\"{new string('M', 33)}\""), Bad);
        foreach (var (label, segment) in new[]
                 {
                     ("600 chars", new string('a', 600)), ("129 chars", new string('a', 129)), ("NUL", "a%00b"), ("space", "a%20b"),
                     ("Cyrillic look-alike", "%D0%B0cct"), ("zero-width", "a%E2%80%8Bb"), ("percent-encoded slash", "a%2Fb"), ("tilde", "a~b"),
                 })
        {
            Add($"route id: {label} (deposit)", "venue", "POST", $"v1/accounts/{segment}/deposits", Deposit("\"1\""), Bad);
        }

        Add("route id: 600 chars (open)", "venue", "POST", $"v1/accounts/{new string('a', 600)}", "{}", Bad);
        Add("route id: 600 chars (view)", "reader", "GET", $"v1/accounts/{new string('a', 600)}", null, Bad);
        Add("route id: NUL (events)", "reader", "GET", "v1/accounts/a%00b/events", null, Bad);

        // Roles.
        Add("trader deposits on its own account", "trader", "POST", "v1/accounts/own-1/deposits", Deposit("\"1\""), HttpStatusCode.Forbidden);
        Add("trader withdraws from its own account", "trader", "POST", "v1/accounts/own-1/withdrawals", Deposit("\"1\""), HttpStatusCode.Forbidden);
        Add("trader fills on its own account", "trader", "POST", "v1/accounts/own-1/fills", Fill("\"1\"", "\"100\""), HttpStatusCode.Forbidden);
        Add("trader opens its own account", "trader", "POST", "v1/accounts/own-2", """{ "collateral": { "USD": "1000000" } }""", HttpStatusCode.Forbidden);
        Add("trader reads a foreign account", "trader", "GET", V, null, HttpStatusCode.Forbidden);
        Add("trader pre-trades on a foreign account", "trader", "POST", $"{V}/pre-trade", """{ "market": "BTC-USD", "size": "1", "price": "100" }""", HttpStatusCode.Forbidden);
        Add("trader posts a price", "trader", "POST", "v1/prices", PriceBatch("\"1\""), HttpStatusCode.Forbidden);
        Add("trader posts a configuration", "trader", "POST", "v1/config", HardeningFixture.Config, HttpStatusCode.Forbidden);
        Add("feed deposits", "feed", "POST", $"{V}/deposits", Deposit("\"1\""), HttpStatusCode.Forbidden);
        Add("feed fills", "feed", "POST", $"{V}/fills", Fill("\"1\"", "\"100\""), HttpStatusCode.Forbidden);
        Add("reader withdraws", "reader", "POST", $"{V}/withdrawals", Deposit("\"1\""), HttpStatusCode.Forbidden);
        Add("reader opens", "reader", "POST", Open, "{}", HttpStatusCode.Forbidden);
        Add("venue posts a price", "venue", "POST", "v1/prices", PriceBatch("\"1\""), HttpStatusCode.Forbidden);
        Add("venue posts a configuration", "venue", "POST", "v1/config", HardeningFixture.Config, HttpStatusCode.Forbidden);
        Add("venue opens an unhealthy account with allowUnhealthy", "venue", "POST", Open,
            """{ "positions": [ { "market": "BTC-USD", "size": "100", "entryPrice": "100" } ], "allowUnhealthy": true }""", HttpStatusCode.Forbidden);
        Add("no key deposits", null, "POST", $"{V}/deposits", Deposit("\"1\""), HttpStatusCode.Unauthorized);
        Add("unknown key withdraws", "wrong", "POST", $"{V}/withdrawals", Deposit("\"1\""), HttpStatusCode.Unauthorized);
        Add("unknown key posts a configuration", "wrong", "POST", "v1/config", """{ "markets": [] }""", HttpStatusCode.Unauthorized);

        // Opening accounts.
        Add("open: not initial-margin healthy", "venue", "POST", Open, """{ "collateral": { "USD": "100" }, "positions": [ { "market": "BTC-USD", "size": "100", "entryPrice": "100" } ] }""", HttpStatusCode.UnprocessableEntity);
        Add("open: bankrupt from the start", "venue", "POST", Open, """{ "positions": [ { "market": "BTC-USD", "size": "-5", "entryPrice": "50" } ] }""", HttpStatusCode.UnprocessableEntity);
        Add("open: USD debt beyond collateral", "venue", "POST", Open, """{ "collateral": { "USD": "-1000", "BTC": "1" } }""", HttpStatusCode.UnprocessableEntity);
        Add("open: two positions in one market", "venue", "POST", Open,
            """{ "collateral": { "USD": "100000" }, "positions": [ { "market": "BTC-USD", "size": "1", "entryPrice": "100" }, { "market": "BTC-USD", "size": "1", "entryPrice": "100" } ] }""", Bad);
        Add("open: position beyond maxPositionSize", "venue", "POST", Open, """{ "collateral": { "USD": "1" }, "positions": [ { "market": "BTC-USD", "size": "1e5", "entryPrice": "1" } ] }""", Bad);
        Add("open: entry price beyond maxPrice", "venue", "POST", Open, """{ "positions": [ { "market": "BTC-USD", "size": "1", "entryPrice": "1e9" } ] }""", Bad);
        Add("open: negative BTC", "venue", "POST", Open, """{ "collateral": { "BTC": "-1" } }""", Bad);
        Add("open: USD beyond maxQuantity", "venue", "POST", Open, """{ "collateral": { "USD": "1e20" } }""", Bad);
        Add("open: unknown asset", "venue", "POST", Open, """{ "collateral": { "DOGE": "1" } }""", Bad);
        Add("open: asset with a NUL", "venue", "POST", Open, """{ "collateral": { "U\u0000SD": "1" } }""", Bad);
        Add("open: unknown market", "venue", "POST", Open, """{ "positions": [ { "market": "XYZ-USD", "size": "1", "entryPrice": "1" } ] }""", HttpStatusCode.NotFound);
        Add("open: the victim again", "venue", "POST", V, "{}", HttpStatusCode.Conflict);

        // Prices.
        Add("prices: the end of time", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "\"9999-12-31T23:59:59Z\""), Bad);
        Add("prices: an hour ahead", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "\"{NOW+3600}\""), Bad);
        Add("prices: a minute ahead", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "\"{NOW+60}\""), Bad);
        Add("prices: year 10000", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "\"10000-01-01T00:00:00Z\""), Bad);
        Add("prices: timestamp not a date", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "\"yesterday\""), Bad);
        Add("prices: timestamp as number", "feed", "POST", "v1/prices", PriceBatch("\"100\"", "1700000000"), Bad);
        Add("prices: beyond maxPrice", "feed", "POST", "v1/prices", PriceBatch("\"1000001\""), Bad);
        Add("prices: decimal.MaxValue", "feed", "POST", "v1/prices", PriceBatch("\"79228162514264337593543950335\""), Bad);
        Add("prices: zero", "feed", "POST", "v1/prices", PriceBatch("\"0\""), Bad);
        Add("prices: NaN", "feed", "POST", "v1/prices", PriceBatch("\"NaN\""), Bad);
        Add("prices: empty batch", "feed", "POST", "v1/prices", "[]", Bad);
        Add("prices: source with a NUL", "feed", "POST", "v1/prices", PriceBatch("\"100\"", source: "\"a\\u0000b\""), Bad);
        Add("prices: empty source", "feed", "POST", "v1/prices", PriceBatch("\"100\"", source: "\"\""), Bad);
        Add("prices: market look-alike", "feed", "POST", "v1/prices", PriceBatch("\"100\"", market: "\"ВTC-USD\""), Bad);
        Add("prices: unknown market", "feed", "POST", "v1/prices", PriceBatch("\"100\"", market: "\"XYZ-USD\""), HttpStatusCode.NotFound);
        Add("prices: one good, then one from the far future", "feed", "POST", "v1/prices",
            """[{ "market": "BTC-USD", "source": "t", "price": "100", "timestamp": "2020-01-01T00:00:00Z" }, { "market": "BTC-USD", "source": "t", "price": "1", "timestamp": "9999-12-31T23:59:59Z" }]""", Bad);

        // Configuration changes that would strand accounts, or break bounds and names.
        var config = HardeningFixture.Config;
        var btcStart = config.IndexOf("{ \"symbol\": \"BTC-USD\"", StringComparison.Ordinal);
        var withoutBtc = config.Remove(btcStart, config.IndexOf("{ \"symbol\": \"ETH-USD\"", StringComparison.Ordinal) - btcStart);
        Add("config: removes BTC-USD, held by the victim", "admin", "POST", "v1/config", withoutBtc.Replace("\"priceMarket\": \"BTC-USD\"", "\"priceMarket\": \"ETH-USD\"", StringComparison.Ordinal), HttpStatusCode.Conflict);
        Add("config: removes the BTC collateral asset", "admin", "POST", "v1/config",
            HardeningFixture.Config.Replace("""{ "asset": "BTC", "weight": "0.9", "priceMarket": "BTC-USD", "liquidationDiscount": "0.02", "maxQuantity": "1000000" }""", "", StringComparison.Ordinal), HttpStatusCode.Conflict);
        Add("config: empties the markets", "admin", "POST", "v1/config", """{ "markets": [] }""", HttpStatusCode.Conflict);
        Add("config: symbol with a space", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"MARK-USD\"", "\"MARK USD\"", StringComparison.Ordinal), Bad);
        Add("config: symbol with a slash", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"MARK-USD\"", "\"MARK/USD\"", StringComparison.Ordinal), Bad);
        Add("config: asset with a NUL", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"asset\": \"BTC\"", "\"asset\": \"B\\u0000TC\"", StringComparison.Ordinal), Bad);
        Add("config: maxPrice above the ceiling", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"maxPrice\": \"1000000\"", "\"maxPrice\": \"1e13\"", StringComparison.Ordinal), Bad);
        Add("config: negative maxNotional", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"maxNotional\": \"1000000000\"", "\"maxNotional\": \"-1\"", StringComparison.Ordinal), Bad);
        Add("config: maxQuantity above the ceiling", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"maxQuantity\": \"1000000\"", "\"maxQuantity\": \"1e20\"", StringComparison.Ordinal), Bad);
        Add("config: insurance fund beyond bounds", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"insuranceFund\": \"10000\"", "\"insuranceFund\": \"1e20\"", StringComparison.Ordinal), Bad);
        Add("config: negative insurance fund", "admin", "POST", "v1/config", HardeningFixture.Config.Replace("\"insuranceFund\": \"10000\"", "\"insuranceFund\": \"-1\"", StringComparison.Ordinal), Bad);
        Add("config: 300 markets", "admin", "POST", "v1/config",
            "{ \"markets\": [" + string.Join(",", Enumerable.Range(0, 300).Select(i => $$"""{ "symbol": "M{{i}}", "lotSize": "1", "liquidationPenalty": "0.01", "brackets": [ { "floor": 0, "mmr": "0.05", "imr": "0.1" } ] }""")) + "] }", Bad);

        Add("oversized body", "venue", "POST", $"{V}/deposits", "{ \"commandId\": \"" + new string('x', 1_100_000) + "\" }", HttpStatusCode.RequestEntityTooLarge);
        return cases;
    }
}
