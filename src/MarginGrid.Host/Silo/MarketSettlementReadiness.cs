using System.Text.Json;
using MarginGrid.Grains;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MarginGrid.Host.Silo;

/// <summary>
/// Issue 9: <c>/health/ready</c> names the markets that cannot settle — a price step whose accounts could not all be
/// evaluated (until a later step evaluates them all), or steps that failed
/// <see cref="MarketSettlement.DefaultFailedStepsThreshold"/> times in a row (until one settles) — as the cluster's
/// <see cref="IGridHealthGrain"/> knows them. The check is <em>degraded</em>, not unhealthy: the readiness stays 200 and
/// the body names each market and why (docs/operations.md). Every silo reports the same markets, so a 503 would take
/// every pod out of its Service and stop the markets that do settle, and the fills and prices needed to repair the one
/// that does not; the metric <c>margingrid_evaluation_failures_total</c> and the log carry the alert.
/// </summary>
public sealed class MarketSettlementReadiness(IGrainFactory grains, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    /// <summary>The <see cref="HealthCheckResult.Data"/> member that lists the unsettled markets.</summary>
    public const string UnsettledKey = "unsettled";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!lifetime.ApplicationStarted.IsCancellationRequested || lifetime.ApplicationStopping.IsCancellationRequested)
        {
            return HealthCheckResult.Healthy("the silo is not running (see the check 'silo')");
        }

        try
        {
            var unsettled = await grains.GetGrain<IGridHealthGrain>(0).GetUnsettledAsync().WaitAsync(Timeout, cancellationToken);
            return unsettled.IsDefaultOrEmpty
                ? HealthCheckResult.Healthy("every market settles")
                : HealthCheckResult.Degraded(
                    $"cannot settle: {string.Join("; ", unsettled.Select(m => $"{m.Market}: {m.Reason}"))}",
                    data: new Dictionary<string, object> { [UnsettledKey] = unsettled });
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Degraded("cannot tell whether every market settles", e);
        }
    }

    /// <summary>
    /// The body of <c>/health/ready</c>: <c>{"status", "unsettledMarkets": [...], "checks": [{"name", "status",
    /// "description", "unsettled"?}]}</c>.
    /// </summary>
    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var unsettled = report.Entries.Values
            .SelectMany(e => e.Data.TryGetValue(UnsettledKey, out var u) && u is IEnumerable<UnsettledMarket> list ? list : [])
            .ToList();
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartArray("unsettledMarkets");
        foreach (var market in unsettled)
        {
            json.WriteStringValue(market.Market);
        }

        json.WriteEndArray();
        json.WriteStartArray("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteString("status", entry.Status.ToString());
            json.WriteString("description", entry.Description);
            if (entry.Data.TryGetValue(UnsettledKey, out var u) && u is IEnumerable<UnsettledMarket> markets)
            {
                json.WriteStartArray(UnsettledKey);
                foreach (var m in markets)
                {
                    json.WriteStartObject();
                    json.WriteString("market", m.Market);
                    json.WriteString("reason", m.Reason);
                    json.WriteString("step", m.Step);
                    json.WriteString("since", m.Since);
                    json.WriteEndObject();
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted);
    }
}
