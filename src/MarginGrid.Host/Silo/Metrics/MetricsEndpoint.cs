using MarginGrid.Host.Silo.Api;
using MarginGrid.Host.Silo.Security;
using Prometheus;

namespace MarginGrid.Host.Silo.Metrics;

/// <summary>
/// <c>/metrics</c>: MarginGrid's metrics, Orleans' meter and the process's, in the Prometheus text format.
/// Anonymous by default (Prometheus scrapes it on the pod network, deploy/prometheus/prometheus.yml);
/// with <c>MarginGrid:Metrics:RequireApiKey=true</c> it needs a reader (or admin) key, which Prometheus sends as
/// <c>Authorization: Bearer &lt;key&gt;</c> (X-Api-Key works too).
/// </summary>
public static class MetricsEndpoint
{
    public const string RequireApiKeyKey = "MarginGrid:Metrics:RequireApiKey";

    /// <summary>The meter whose instruments are exported besides prometheus-net's own metrics.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>
    /// Orleans instruments left out of the export. prometheus-net 8.2.1's meter adapter can only filter whole
    /// instruments (<see cref="MeterAdapterOptions.InstrumentFilterPredicate"/>), not drop single labels, so the
    /// instruments whose labels are unbounded are dropped as a whole: a grain-call latency per grain method would
    /// be one series per method of every grain type.
    /// </summary>
    public static readonly IReadOnlySet<string> DroppedOrleansInstruments = new HashSet<string>(StringComparer.Ordinal)
    {
    };

    /// <summary>
    /// Exports only the Orleans meter (not the runtime's HTTP, QUIC and DNS meters, which the silo does not need and
    /// whose labels include peer addresses), and leaves out prometheus-net's debug metrics and its .NET event counter
    /// adapter: <c>promtool check metrics</c> rejects their names (gauges ending in <c>_total</c> and <c>_count</c>,
    /// such as <c>prometheus_net_eventcounteradapter_sources_connected_total</c> and
    /// <c>system_runtime_threadpool_thread_count</c>). The process metrics (CPU, memory, GC) stay.
    /// Must run before anything touches prometheus-net's default registry.
    /// </summary>
    public static void ConfigureDefaultRegistry()
    {
        Prometheus.Metrics.SuppressDefaultMetrics(new SuppressDefaultMetricOptions
        {
            SuppressDebugMetrics = true,
            SuppressEventCounters = true,
        });
        Prometheus.Metrics.ConfigureMeterAdapter(o =>
            o.InstrumentFilterPredicate = instrument =>
                instrument.Meter.Name == OrleansMeter && !DroppedOrleansInstruments.Contains(instrument.Name));
    }

    public static IEndpointConventionBuilder MapMarginGridMetrics(this WebApplication app)
    {
        if (app.Configuration.GetValue(RequireApiKeyKey, false))
        {
            var keys = app.Services.GetRequiredService<ApiKeys>();
            if (!keys.Enabled)
            {
                throw new InvalidOperationException($"{RequireApiKeyKey} is true but no API keys are configured ({ApiKeys.Section})");
            }

            // A middleware, not an endpoint filter: MapMetrics maps a request delegate, which endpoint filters do not wrap.
            app.Use(async (http, next) =>
            {
                if (!http.Request.Path.Equals("/metrics", StringComparison.Ordinal))
                {
                    await next(http);
                    return;
                }

                var key = keys.Find(http.Request);
                if (key is null)
                {
                    http.Response.Headers.WWWAuthenticate = "Bearer";
                    await Problems.Problem(StatusCodes.Status401Unauthorized, "Unauthorized", "a reader key is required (Authorization: Bearer)")
                        .ExecuteAsync(http);
                }
                else if (key.Role is not (ApiRole.Reader or ApiRole.Admin))
                {
                    await Problems.Problem(StatusCodes.Status403Forbidden, "Forbidden", $"the role '{key.Role.ToString().ToLowerInvariant()}' may not read metrics")
                        .ExecuteAsync(http);
                }
                else
                {
                    await next(http);
                }
            });
        }

        return app.MapMetrics("/metrics");
    }
}
