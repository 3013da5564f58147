using System.Diagnostics;
using System.Net;
using MarginGrid.Domain;
using MarginGrid.Host.Silo;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using static MarginGrid.Testing.GridClient;

namespace MarginGrid.Api.Tests;

/// <summary>Issue 9 on a real silo: roles, authentication lockout, audited prices and configuration, admin-only migrations.</summary>
public sealed class HardeningTests(HardeningFixture fixture) : IClassFixture<HardeningFixture>
{
    [Fact]
    public async Task FailedAuthenticationIsLimitedPerClientAddressWithRetryAfter()
    {
        var address = IPAddress.Parse("127.0.0.9");
        using var wrong = fixture.Client(null, key: "guess", from: address);
        for (var i = 0; i < HardeningFixture.FailedAuthPerMinute; i++)
        {
            using var response = await wrong.GetAsync("v1/insurance-fund");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var limited = await wrong.GetAsync("v1/insurance-fund");
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
        Assert.True(limited.Headers.RetryAfter?.Delta > TimeSpan.Zero, "429 without Retry-After");

        // Locked out: even a valid key from that address, so a guesser cannot tell a hit; other addresses are not.
        using var valid = fixture.Client("reader", from: address);
        using var stillLimited = await valid.GetAsync("v1/insurance-fund");
        Assert.Equal(HttpStatusCode.TooManyRequests, stillLimited.StatusCode);
        using var elsewhere = fixture.Client("reader", from: IPAddress.Parse("127.0.0.10"));
        await EnsureOkAsync(await elsewhere.GetAsync("v1/insurance-fund"));
    }

    [Fact]
    public async Task AnAdminMayOpenAnUnhealthyAccountExplicitlyAndTheVenueMayNot()
    {
        const string body = """{ "collateral": { "USD": "10" }, "positions": [ { "market": "ETH-USD", "size": "10", "entryPrice": "100" } ]ALLOW }""";
        using var venue = fixture.Client("venue");
        using var admin = fixture.Client("admin");
        using (var refused = await venue.PostAsync("v1/accounts/migrated-1", Json(body.Replace("ALLOW", "", StringComparison.Ordinal))))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        }

        using (var forbidden = await venue.PostAsync("v1/accounts/migrated-1", Json(body.Replace("ALLOW", ", \"allowUnhealthy\": true", StringComparison.Ordinal))))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        var opened = await EnsureOkAsync(await admin.PostAsync("v1/accounts/migrated-1", Json(body.Replace("ALLOW", ", \"allowUnhealthy\": true", StringComparison.Ordinal))));
        Assert.NotEqual("healthy", opened.GetProperty("status").GetString());
    }

    [Fact]
    public async Task FillsAreFactsAndApplyEvenWhenTheyBreachInitialMargin()
    {
        using var venue = fixture.Client("venue");
        await EnsureOkAsync(await venue.PostAsync("v1/accounts/fact-1", Json("""{ "collateral": { "USD": "100" } }""")));
        var fill = await EnsureOkAsync(await venue.PostAsync(
            "v1/accounts/fact-1/fills", Json("""{ "commandId": "f-1", "market": "ETH-USD", "size": "50", "price": "100" }""")));
        Assert.True(fill.GetProperty("accepted").GetBoolean());
    }

    [Fact]
    public async Task PricesAndConfigurationChangesAreAudited()
    {
        using var feed = fixture.Client("feed");
        var step = (await EnsureOkAsync(await feed.PostAsync("v1/prices", Json(fixture.Price("ETH-USD", "100.5")))))
            .GetProperty("steps")[0].GetProperty("step").GetString();
        var deadline = Stopwatch.StartNew();
        while (await fixture.ScalarAsync<long>($"SELECT count(*) FROM margingrid_audit WHERE kind = 'price' AND market = 'ETH-USD' AND payload->>'step' = '{step}' AND payload ? 'receivedAt'") == 0)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), $"the price {step} was not audited");
            await Task.Delay(TimeSpan.FromMilliseconds(50)); // polling a condition with a deadline
        }

        Assert.Equal(1L, await fixture.ScalarAsync<long>("SELECT count(*) FROM margingrid_audit WHERE kind = 'config' AND grain_version = 1"));
    }
}

/// <summary>The audit trail's queue and writer, and readiness, against a real PostgreSQL (no silo).</summary>
public sealed class AuditHardeningTests
{
    [Fact]
    public async Task ARecordPostgresRefusesIsQuarantinedAndTheRestAreWritten()
    {
        await using var database = await TestPostgres.CreateDatabaseAsync("mg_quarantine");
        {
            var init = await Margingrid.RunAsync("db", "init", "--connection-string", database.ConnectionString);
            Assert.True(init.ExitCode == 0, init.Output);
            await using var log = AuditLog.Create(database.ConnectionString);
            var settings = new AuditSettings { BatchSize = 10 };
            var trail = new AuditTrail(true, "test", settings, NullLogger<AuditTrail>.Instance);
            var writer = new AuditWriter(trail, log, settings, TimeProvider.System, NullLogger<AuditWriter>.Instance);
            await writer.StartAsync(CancellationToken.None);
            trail.Enqueue(new AuditRecord(AuditKind.Command, "deposit", "good-1", """{"n":1}"""));
            trail.Enqueue(new AuditRecord(AuditKind.Command, "deposit", "bad\0account", """{"n":2}"""));
            trail.Enqueue(new AuditRecord(AuditKind.Event, "margin_call", "good-2", """{"reason":"a\u0000b"}"""));
            trail.Enqueue(new AuditRecord(AuditKind.Command, "deposit", "good-3", """{"n":3}"""));

            var deadline = Stopwatch.StartNew();
            while (trail.BacklogCount > 0)
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(20), "the writer never caught up: a bad record blocks the rest");
                await Task.Delay(TimeSpan.FromMilliseconds(20)); // polling a condition with a deadline
            }

            await writer.StopAsync(CancellationToken.None);
            Assert.Single(await log.ReadAsync("good-1"));
            Assert.Single(await log.ReadAsync("good-3"));
            var quarantined = await log.ReadQuarantineAsync();
            Assert.Equal(2, quarantined.Count);
            Assert.Contains(quarantined, q => q.AccountId == "bad\\u0000account");
            Assert.Contains(quarantined, q => q.AccountId == "good-2" && q.Payload!.Contains("\\u0000", StringComparison.Ordinal));
            Assert.Equal(0, trail.DroppedCount);
        }
    }

    [Fact]
    public async Task AFullQueueNeverDropsAndCommandsFeelBackPressure()
    {
        var trail = new AuditTrail(true, "test", new AuditSettings { Capacity = 3, BackPressureTimeout = TimeSpan.FromMilliseconds(200) },
            NullLogger<AuditTrail>.Instance);
        for (var i = 0; i < 10; i++)
        {
            trail.Enqueue(new AuditRecord(AuditKind.Event, "margin_call", $"a-{i}", "{}"));
        }

        Assert.Equal(0, trail.DroppedCount);
        Assert.Equal(10, trail.BacklogCount);
        await Assert.ThrowsAsync<AuditBackPressureException>(async () => await trail.WaitForRoomAsync(CancellationToken.None));

        var waiting = trail.WaitForRoomAsync(CancellationToken.None).AsTask();
        Assert.False(waiting.IsCompleted);
        var read = 0;
        while (trail.Reader.TryRead(out _))
        {
            read++;
        }

        trail.Written(read);
        await waiting; // released by the writer catching up
        Assert.Equal(10, read);
        Assert.True(Problems.IsUnavailable(new AuditBackPressureException(TimeSpan.FromSeconds(1))), "back-pressure must be a 503");
    }

    [Fact]
    public void APermanentPostgresErrorIsNotA503()
    {
        Assert.False(Problems.IsUnavailable(new PostgresException("value too long", "ERROR", "ERROR", "22001")));
        Assert.False(Problems.IsUnavailable(new OrleansException("Error from storage provider", new PostgresException("bad", "ERROR", "ERROR", "22P05"))));
        Assert.True(Problems.IsUnavailable(new NpgsqlException("connection refused", new System.Net.Sockets.SocketException())));
    }

    [Fact]
    public void A_postgres_error_that_crossed_silos_is_classified_by_its_message()
    {
        // What Orleans' exception codec rebuilds on the calling silo: Npgsql's fields (SQLSTATE) are not carried, the
        // message is. The API answered such a failure with a bare 500 (its exception handler threw on the null state).
        var shutdown = Rebuilt(new PostgresException("terminating connection due to administrator command", "FATAL", "FATAL", "57P01"));
        var tooLong = Rebuilt(new PostgresException("value too long", "ERROR", "ERROR", "22001"));
        Assert.Null(shutdown.SqlState);
        Assert.Equal("57P01", Problems.SqlStateOf(shutdown));

        Assert.True(Problems.IsUnavailable(new OrleansException("Error from storage provider grid during ReadStateAsync", shutdown)));
        Assert.False(Problems.IsUnavailable(new OrleansException("Error from storage provider grid during WriteStateAsync", tooLong)));
        Assert.True(Problems.IsUnavailable(Rebuilt(new PostgresException("could not serialize access", "ERROR", "ERROR", "40001"))));

        static PostgresException Rebuilt(PostgresException original)
        {
            var copy = (PostgresException)System.Runtime.CompilerServices.RuntimeHelpers.GetUninitializedObject(typeof(PostgresException));
            typeof(Exception).GetField("_message", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
                .SetValue(copy, original.Message);
            return copy;
        }
    }

    [Fact]
    public async Task ReadinessFailsWhilePostgresDoesNotAnswer()
    {
        var closedPort = Ports.Free();
        await using var away = new PostgresReadiness($"Host=127.0.0.1;Port={closedPort};Username=postgres;Database=postgres");
        Assert.Equal(HealthStatus.Unhealthy, (await away.CheckHealthAsync(new HealthCheckContext())).Status);
        await using var up = new PostgresReadiness(TestPostgres.AdminConnectionString);
        Assert.Equal(HealthStatus.Healthy, (await up.CheckHealthAsync(new HealthCheckContext())).Status);
    }
}

/// <summary>The bounds and name rules of the domain, as the API applies them.</summary>
public sealed class LimitsTests
{
    [Theory]
    [InlineData("acct-7001", true)]
    [InlineData("a:b@c.d_e-f", true)]
    [InlineData("", false)]
    [InlineData(" a", false)]
    [InlineData("a b", false)]
    [InlineData("a\0b", false)]
    [InlineData("а", false)] // Cyrillic
    [InlineData("a/b", false)]
    [InlineData("-a", false)]
    public void IdsFollowTheirPattern(string id, bool valid)
    {
        Assert.Equal(valid, Identifiers.IsValidId(id));
        Assert.Equal(valid, System.Text.RegularExpressions.Regex.IsMatch(id, Identifiers.IdPattern));
    }

    [Fact]
    public void IdsAreAtMost128Characters()
    {
        Assert.True(Identifiers.IsValidId(new string('a', 128)));
        Assert.False(Identifiers.IsValidId(new string('a', 129)));
        Assert.False(Identifiers.IsValidSymbol(new string('A', 33)));
    }

    [Fact]
    public void TheWorstBoundedPortfolioCannotOverflow()
    {
        // 256 markets at the ceilings, 256 assets at the ceilings: notional, PnL and collateral sums stay far below decimal.MaxValue.
        var notional = Limits.SizeCeiling * Limits.PriceCeiling * Limits.MaxMarkets;
        var pnl = Limits.SizeCeiling * Limits.PriceCeiling * Limits.MaxMarkets;
        var collateral = Limits.QuantityCeiling * Limits.PriceCeiling * Limits.MaxAssets;
        Assert.True(notional + pnl + collateral < decimal.MaxValue / 10m);
    }

    [Fact]
    public void TradeChecksNameTheField()
    {
        var limits = new MarketLimits(100m, 10m, 500m);
        Assert.Equal("size", Limits.CheckTrade(limits, 11m, 1m, "size", "price")?.Field);
        Assert.Equal("price", Limits.CheckTrade(limits, 1m, 101m, "size", "price")?.Field);
        Assert.Equal("size", Limits.CheckTrade(limits, 10m, 51m, "size", "price")?.Field);
        Assert.Null(Limits.CheckTrade(limits, -5m, 100m, "size", "price"));
        Assert.Equal("size", Limits.CheckTrade(limits, decimal.MaxValue, decimal.MaxValue, "size", "price")?.Field);
    }
}
