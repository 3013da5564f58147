using MarginGrid.Grains;
using MarginGrid.Host.Silo.Metrics;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>
/// What the silo's grains report: Prometheus metrics, and each event to the audit trail. Called on grain threads:
/// both are non-blocking (counters, and a queue that never blocks a grain and never drops).
/// </summary>
public sealed class SiloGridObserver(
    PrometheusGridObserver metrics, AuditTrail audit, IServiceProvider services, ILogger<SiloGridObserver> logger) : IGridObserver
{
    private IGrainFactory? _grains;

    public void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp) =>
        metrics.TickSettled(market, evaluated, decision, tickTimestamp);

    public void Evaluated(int accounts) => metrics.Evaluated(accounts);

    public void EventEmitted(GridEvent gridEvent)
    {
        metrics.EventEmitted(gridEvent);
        audit.Event(gridEvent);
    }

    /// <summary>Metrics only: the outbox that keeps its audit record offers it (<see cref="GridAuditOutbox"/>).</summary>
    public void EventKept(GridEvent gridEvent) => metrics.EventEmitted(gridEvent);

    public void StatusChanged(RiskStatus? from, RiskStatus? to) => metrics.StatusChanged(from, to);

    public void FundChanged(FundView fund) => metrics.FundChanged(fund);

    public void LiquidationQueue(int depth) => metrics.LiquidationQueue(depth);

    public void Command(string type, string outcome) => metrics.Command(type, outcome);

    public void CommandUnaudited(string account, MarginGrid.Domain.CommandRecord record) => audit.CommandRecovered(account, record);

    public void EventUnaudited(GridEvent gridEvent) => audit.Event(gridEvent);

    public void GridRecord(GridAuditEntry entry) => audit.Grid(entry);

    public void AccountOpenUnaudited(string account, string requestJson, long version) => audit.OpenRecovered(account, requestJson, version);

    /// <summary>
    /// Counted, and — when it happened in a price step (<paramref name="step"/>) — reported to the cluster's
    /// <see cref="IGridHealthGrain"/>, so that <c>/health/ready</c> names the market (one-way, never awaited by the step).
    /// </summary>
    public void EvaluationFailed(string account, string? step)
    {
        metrics.EvaluationFailed(account, step);
        if (step is null)
        {
            return;
        }

        try
        {
            _grains ??= services.GetRequiredService<IGrainFactory>();
            _grains.GetGrain<IGridHealthGrain>(0).EvaluationFailed(step, account).ContinueWith(
                t => logger.LogWarning(t.Exception, "Could not report the failed evaluation of {Account} at {Step}", account, step),
                CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            logger.LogWarning(e, "Could not report the failed evaluation of {Account} at {Step}", account, step);
        }
    }

    public void MarketPriced(string market, decimal multiplier, bool held, bool stale, IReadOnlyDictionary<string, decimal> sourceAgeSeconds) =>
        metrics.MarketPriced(market, multiplier, held, stale, sourceAgeSeconds);

    public void LiquidationDeferred(string reason) => metrics.LiquidationDeferred(reason);

    public void AuctionsRunning(int count) => metrics.AuctionsRunning(count);

    public void AuctionEnded(TimeSpan duration) => metrics.AuctionEnded(duration);

    public void LiquidationBatch(string market, decimal netted, decimal residual, decimal impact) =>
        metrics.LiquidationBatch(market, netted, residual, impact);
}
