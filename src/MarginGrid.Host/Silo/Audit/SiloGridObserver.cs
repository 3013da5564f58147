using MarginGrid.Grains;
using MarginGrid.Host.Silo.Metrics;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>
/// What the silo's grains report: Prometheus metrics, and each event to the audit trail. Called on grain threads:
/// both are non-blocking (counters, and a queue that never blocks a grain and never drops).
/// </summary>
public sealed class SiloGridObserver(PrometheusGridObserver metrics, AuditTrail audit) : IGridObserver
{
    public void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp) =>
        metrics.TickSettled(market, evaluated, decision, tickTimestamp);

    public void Evaluated(int accounts) => metrics.Evaluated(accounts);

    public void EventEmitted(GridEvent gridEvent)
    {
        metrics.EventEmitted(gridEvent);
        audit.Event(gridEvent);
    }

    public void StatusChanged(RiskStatus? from, RiskStatus? to) => metrics.StatusChanged(from, to);

    public void FundChanged(FundView fund) => metrics.FundChanged(fund);

    public void LiquidationQueue(int depth) => metrics.LiquidationQueue(depth);

    public void Command(string type, string outcome) => metrics.Command(type, outcome);

    public void EvaluationFailed(string account) => metrics.EvaluationFailed(account);

    public void MarketPriced(string market, decimal multiplier, bool held, bool stale, IReadOnlyDictionary<string, decimal> sourceAgeSeconds) =>
        metrics.MarketPriced(market, multiplier, held, stale, sourceAgeSeconds);

    public void LiquidationDeferred(string reason) => metrics.LiquidationDeferred(reason);

    public void AuctionsRunning(int count) => metrics.AuctionsRunning(count);

    public void AuctionEnded(TimeSpan duration) => metrics.AuctionEnded(duration);

    public void LiquidationBatch(string market, decimal netted, decimal residual, decimal impact) =>
        metrics.LiquidationBatch(market, netted, residual, impact);
}
