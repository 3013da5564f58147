using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MarginGrid.Host.Silo.Security;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>The Orleans Dashboard under <c>/dashboard</c> of a real <c>margingrid silo</c>: admin role only.</summary>
public sealed class DashboardTests(SiloFixture fixture) : IClassFixture<SiloFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("reader", HttpStatusCode.Forbidden)]
    [InlineData("trader", HttpStatusCode.Forbidden)]
    [InlineData("feed", HttpStatusCode.Forbidden)]
    public async Task OnlyTheAdminRoleMaySeeTheDashboard(string? role, HttpStatusCode expected)
    {
        using var client = Client(role is null ? null : fixture.Keys[role]);
        foreach (var path in new[] { "dashboard", "dashboard/", "dashboard/index.min.js", "dashboard/DashboardCounters", "dashboard/Trace" })
        {
            using var response = await client.GetAsync(path);
            Assert.True(expected == response.StatusCode, $"{path}: {(int)response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task AnUnknownKeyIsUnauthorized()
    {
        using var client = Client("not-a-key");
        using var response = await client.GetAsync("dashboard/");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task TheAdminKeyGetsThePageThroughTheRedirectToTheTrailingSlash()
    {
        using var admin = Client(fixture.Keys["admin"]);
        using var redirect = await admin.GetAsync("dashboard");
        Assert.True(
            redirect.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Redirect,
            $"{(int)redirect.StatusCode}: {await redirect.Content.ReadAsStringAsync()}");
        Assert.Equal("/dashboard/", redirect.Headers.Location?.OriginalString);

        using var page = await admin.GetAsync(redirect.Headers.Location);
        await AssertHtmlAsync(page);
    }

    [Fact]
    public async Task ABrowserMayPresentTheAdminKeyAsBearer()
    {
        using var client = new GridClient(fixture.Silo.BaseAddress);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", fixture.Keys["admin"]);
        using var page = await client.GetAsync("dashboard/");
        await AssertHtmlAsync(page);
        using var script = await client.GetAsync("dashboard/index.min.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
    }

    [Fact]
    public async Task TheJsonApiDescribesThisSilo()
    {
        var silo = await ActiveSiloAsync();
        using var admin = Client(fixture.Keys["admin"]);

        // Set by the dashboard's hosted service at start-up, before the silo reports ready.
        var properties = await admin.GetJsonAsync($"dashboard/SiloProperties/{silo}");
        Assert.Contains("10.4.2", properties.GetProperty("orleansVersion").GetString(), StringComparison.Ordinal);

        // The cluster counters are refreshed at most once a second after the dashboard grain is activated.
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            var counters = await admin.GetJsonAsync("dashboard/DashboardCounters");
            var host = counters.GetProperty("hosts").EnumerateArray()
                .FirstOrDefault(h => h.GetProperty("siloAddress").GetString() == silo);
            if (host.ValueKind == JsonValueKind.Object)
            {
                Assert.Equal("Active", host.GetProperty("status").GetString());
                Assert.True(counters.GetProperty("totalActiveHostCount").GetInt32() >= 1, counters.GetRawText());
                break;
            }

            Assert.True(stopwatch.Elapsed < Deadline, $"the dashboard never listed the silo {silo}: {counters.GetRawText()}");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval of a condition with a deadline
        }
    }

    /// <summary>The silo's address as Orleans writes it (<c>ip:port@generation</c>), from the membership table.</summary>
    private async Task<string> ActiveSiloAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(fixture.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(
            "SELECT address, port, generation FROM orleansmembershiptable WHERE status = 3", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "no active silo in the membership table");
        var address = $"{reader.GetString(0)}:{reader.GetInt32(1)}@{reader.GetInt32(2)}";
        Assert.False(await reader.ReadAsync(), "more than one active silo");
        return address;
    }

    [Fact]
    public void The_test_client_sends_the_key_in_the_header_the_api_reads() => Assert.Equal(ApiKeys.Header, GridClient.ApiKeyHeader);

    private GridClient Client(string? key) => new(fixture.Silo.BaseAddress, key, handler: new HttpClientHandler { AllowAutoRedirect = false });

    private static async Task AssertHtmlAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<html", body, StringComparison.OrdinalIgnoreCase);
    }
}
