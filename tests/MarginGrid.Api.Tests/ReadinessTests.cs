using System.Diagnostics;
using System.Net;
using Npgsql;

namespace MarginGrid.Api.Tests;

/// <summary><c>/health/ready</c> of a real silo follows PostgreSQL: 503 while its database refuses connections, 200 again after.</summary>
public sealed class ReadinessTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task ReadinessIs503WhilePostgresIsAway()
    {
        var database = new NpgsqlConnectionStringBuilder(fixture.ConnectionString).Database!;
        using var client = fixture.Client(null);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("health/ready")).StatusCode);
        try
        {
            await AdminAsync($"ALTER DATABASE {database} ALLOW_CONNECTIONS false");
            await AdminAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'");
            await WaitForAsync(client, HttpStatusCode.ServiceUnavailable);
        }
        finally
        {
            await AdminAsync($"ALTER DATABASE {database} ALLOW_CONNECTIONS true");
        }

        await WaitForAsync(client, HttpStatusCode.OK);
    }

    private static async Task WaitForAsync(HttpClient client, HttpStatusCode expected)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            using var response = await client.GetAsync("health/ready");
            if (response.StatusCode == expected)
            {
                return;
            }

            Assert.True(deadline.Elapsed < Deadline, $"/health/ready stayed {(int)response.StatusCode}, expected {(int)expected}");
            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling a condition with a deadline
        }
    }

    private static async Task AdminAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(TestPostgres.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}

/// <summary>A silo with one mutating request per second: the 429 carries <c>Retry-After</c>.</summary>
public sealed class RateLimitRetryAfterTests
{
    [Fact]
    public async Task A429CarriesRetryAfter()
    {
        await using var silo = await SiloProcess.StartAsync("api-ratelimit", null, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["MarginGrid__RateLimit__PermitsPerSecond"] = "1",
        });
        using var client = new HttpClient { BaseAddress = silo.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 5 && limited is null; i++)
        {
            var response = await client.PostAsync("v1/prices", GridClient.Json("[]"));
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
            else
            {
                response.Dispose();
            }
        }

        Assert.NotNull(limited);
        using (limited)
        {
            Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 without Retry-After");
        }
    }
}
