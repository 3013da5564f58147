using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MarginGrid.Storage;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>The event stream, the audit trail, traders' own accounts and the metrics key, on a real silo process.</summary>
public sealed class LiveFeaturesTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AMarginCallReachesTheEventStreamAndTheAuditTrail()
    {
        using var reader = fixture.Client("reader");
        using var venue = fixture.Client("venue");
        using var feed = fixture.Client("feed");
        using var timeout = new CancellationTokenSource(Deadline);

        using var request = new HttpRequestMessage(HttpMethod.Get, "v1/events/stream?types=margin_call,liquidation");
        using var stream = await reader.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var lines = new StreamReader(await stream.Content.ReadAsStreamAsync(timeout.Token));
        Assert.Equal(": subscribed", await lines.ReadLineAsync(timeout.Token)); // the subscription is in place

        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("SOL-USD", "100"))));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/own-sse", Json("{}")));
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/own-sse/deposits", Json("""{ "commandId": "d-1", "asset": "USD", "quantity": "1000" }""")));
        var fill = await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/own-sse/fills", Json("""{ "commandId": "f-1", "market": "SOL-USD", "size": "90", "price": "100" }""")));
        using (var rejected = await venue.PostAsync(
                   "v1/accounts/own-sse/withdrawals", Json("""{ "commandId": "w-1", "asset": "USD", "quantity": "900" }""")))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, rejected.StatusCode);
        }

        await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("SOL-USD", "94"))));

        // The stream: "event: margin_call" then its data, for this account.
        JsonElement? call = null;
        string? eventType = null;
        while (call is null && await lines.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                eventType = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                var data = JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone();
                if (data.GetProperty("account").GetString() == "own-sse")
                {
                    call = data;
                }
            }
        }

        Assert.Equal("margin_call", eventType);
        Assert.Equal("margin_call", call!.Value.GetProperty("type").GetString());
        Assert.StartsWith("SOL-USD#", call.Value.GetProperty("step").GetString(), StringComparison.Ordinal);

        // The audit trail: written in the background, read back from PostgreSQL.
        await using var audit = AuditLog.Create(fixture.ConnectionString);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<StoredAuditRecord> rows = [];
        while (clock.Elapsed < Deadline)
        {
            rows = await audit.ReadAsync("own-sse");
            if (rows.Any(r => r.Record is { Kind: AuditKind.Event, Type: "margin_call" }) && rows.Count(r => r.Record.Kind == AuditKind.Command) == 4)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval of a condition with a deadline
        }

        var commands = rows.Where(r => r.Record.Kind == AuditKind.Command).Select(r => r.Record).ToList();
        Assert.Equal(["open", "deposit", "fill", "withdrawal"], commands.Select(c => c.Type));
        var fillRow = commands.Single(c => c.Type == "fill");
        Assert.Equal("own-sse/f-1", fillRow.CommandId);
        Assert.Equal("SOL-USD", fillRow.Market);
        Assert.Equal(fill.GetProperty("version").GetInt64(), fillRow.GrainVersion);
        using (var payload = JsonDocument.Parse(fillRow.PayloadJson))
        {
            Assert.Equal("100", payload.RootElement.GetProperty("request").GetProperty("price").GetString());
            Assert.True(payload.RootElement.GetProperty("result").GetProperty("accepted").GetBoolean());
        }

        var withdrawal = commands.Single(c => c.Type == "withdrawal");
        using (var payload = JsonDocument.Parse(withdrawal.PayloadJson))
        {
            Assert.False(payload.RootElement.GetProperty("result").GetProperty("accepted").GetBoolean());
            Assert.False(string.IsNullOrEmpty(payload.RootElement.GetProperty("result").GetProperty("reason").GetString()));
        }

        var events = rows.Where(r => r.Record.Kind == AuditKind.Event).Select(r => r.Record).ToList();
        Assert.Contains(events, e => e.Type == "rejected"); // the refused withdrawal
        var marginCall = Assert.Single(events, e => e.Type == "margin_call");
        using (var payload = JsonDocument.Parse(marginCall.PayloadJson))
        {
            Assert.Equal(call.Value.GetProperty("step").GetString(), payload.RootElement.GetProperty("step").GetString());
        }

        Assert.All(rows, r => Assert.False(string.IsNullOrEmpty(r.Record.Silo)));
    }

    [Fact]
    public async Task TheEventStreamNeedsAReaderKey()
    {
        using var anonymous = fixture.Client(null);
        using var feed = fixture.Client("feed");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("v1/events/stream")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await feed.GetAsync("v1/events/stream")).StatusCode);
    }

    [Fact]
    public async Task ATraderKeyActsOnlyOnItsOwnAccounts()
    {
        using var admin = fixture.Client("admin");
        using var trader7 = fixture.Client("trader7");
        using var trader = fixture.Client("trader");
        using var reader = fixture.Client("reader");
        await EnsureOkAsync(await admin.PostAsync("v1/accounts/acct-71", Json("{}")));
        await EnsureOkAsync(await admin.PostAsync("v1/accounts/acct-80", Json("{}")));

        using var venue = fixture.Client("venue");
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/acct-71/deposits", Json("""{ "commandId": "d", "asset": "USD", "quantity": "5" }""")));
        await EnsureOkAsync(await trader7.GetAsync("v1/accounts/acct-71"));

        // A trader moves no money, not even on its own accounts: that is the venue's.
        await ExpectForbiddenAsync(await trader7.PostAsync("v1/accounts/acct-71/deposits", Json("""{ "commandId": "d2", "asset": "USD", "quantity": "5" }""")));

        await ExpectForbiddenAsync(await trader7.PostAsync("v1/accounts/acct-80/deposits", Json("""{ "commandId": "d", "asset": "USD", "quantity": "5" }""")));
        await ExpectForbiddenAsync(await trader7.GetAsync("v1/accounts/acct-80"));
        await ExpectForbiddenAsync(await trader7.GetAsync("v1/accounts/acct-80/events"));
        await ExpectForbiddenAsync(await trader.PostAsync("v1/accounts/acct-71/withdrawals", Json("""{ "commandId": "w", "asset": "USD", "quantity": "1" }""")));

        // Nothing changed on acct-80 and acct-71 has only the venue's deposit; readers see every account.
        var untouched = await reader.GetJsonAsync("v1/accounts/acct-80");
        Assert.Equal(JsonValueKind.Object, untouched.GetProperty("collateral").ValueKind);
        Assert.False(untouched.GetProperty("collateral").TryGetProperty("USD", out var usd) && Decimals.Parse(usd) != 0m);
        Assert.Equal(5m, Decimals.Parse((await reader.GetJsonAsync("v1/accounts/acct-71")).GetProperty("collateral").GetProperty("USD")));
    }

    [Fact]
    public async Task MetricsNeedAReaderKeySentAsBearer()
    {
        using var anonymous = fixture.Client(null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("metrics")).StatusCode);

        using var feed = new GridClient(fixture.Silo.BaseAddress);
        feed.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Keys["feed"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await feed.GetAsync("metrics")).StatusCode);

        using var prometheus = new GridClient(fixture.Silo.BaseAddress);
        prometheus.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Keys["reader"]);
        var text = await prometheus.GetStringAsync("metrics");
        Assert.Contains("# TYPE margingrid_audit_dropped_total counter", text, StringComparison.Ordinal);
        Assert.Contains("margingrid_audit_dropped_total 0", text, StringComparison.Ordinal);
    }

    private static async Task ExpectForbiddenAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Forbidden, $"{(int)response.StatusCode}: {body}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }
}
