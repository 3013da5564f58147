using MarginGrid.Grains;

namespace MarginGrid.Simulation;

/// <summary>Counts what the grid reports, for the demo's live view and the load report.</summary>
public sealed class CountingObserver : IGridObserver
{
    private readonly long[] _statuses = new long[4];
    private long _ticks;
    private long _evaluations;
    private long _marginCalls;
    private long _liquidations;
    private long _collateralSales;
    private long _bankruptcies;
    private long _rejected;
    private long _evaluationFailures;
    private long _decisionTicks;
    private long _maxDecisionTicks;
    private FundView _fund = new(0m, 0m, 0m);

    public long Ticks => Interlocked.Read(ref _ticks);

    public long Evaluations => Interlocked.Read(ref _evaluations);

    public long MarginCalls => Interlocked.Read(ref _marginCalls);

    public long Liquidations => Interlocked.Read(ref _liquidations);

    public long CollateralSales => Interlocked.Read(ref _collateralSales);

    public long Bankruptcies => Interlocked.Read(ref _bankruptcies);

    public long Rejected => Interlocked.Read(ref _rejected);

    /// <summary>Evaluations that failed (an exception in an account's step): each is logged, and none should happen.</summary>
    public long EvaluationFailures => Interlocked.Read(ref _evaluationFailures);

    public FundView Fund => Volatile.Read(ref _fund);

    public TimeSpan MeanDecision => Ticks == 0 ? TimeSpan.Zero : TimeSpan.FromTicks(Interlocked.Read(ref _decisionTicks) / Ticks);

    public TimeSpan MaxDecision => TimeSpan.FromTicks(Interlocked.Read(ref _maxDecisionTicks));

    public long Accounts(RiskStatus status) => Interlocked.Read(ref _statuses[(int)status]);

    public void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp)
    {
        Interlocked.Increment(ref _ticks);
        Interlocked.Add(ref _decisionTicks, decision.Ticks);
        long seen;
        while (decision.Ticks > (seen = Interlocked.Read(ref _maxDecisionTicks))
               && Interlocked.CompareExchange(ref _maxDecisionTicks, decision.Ticks, seen) != seen)
        {
        }
    }

    public void Evaluated(int accounts) => Interlocked.Add(ref _evaluations, accounts);

    public void EvaluationFailed(string account, string? step) => Interlocked.Increment(ref _evaluationFailures);

    public void EventEmitted(GridEvent gridEvent)
    {
        switch (gridEvent.Type)
        {
            case GridEventType.MarginCall:
                Interlocked.Increment(ref _marginCalls);
                break;
            case GridEventType.Liquidation:
                Interlocked.Increment(ref _liquidations);
                break;
            case GridEventType.CollateralLiquidation:
                Interlocked.Increment(ref _collateralSales);
                break;
            case GridEventType.Bankruptcy:
                Interlocked.Increment(ref _bankruptcies);
                break;
            case GridEventType.Rejected:
                Interlocked.Increment(ref _rejected);
                break;
        }
    }

    public void StatusChanged(RiskStatus? from, RiskStatus? to)
    {
        if (from is { } f)
        {
            Interlocked.Decrement(ref _statuses[(int)f]);
        }

        if (to is { } t)
        {
            Interlocked.Increment(ref _statuses[(int)t]);
        }
    }

    public void FundChanged(FundView fund) => Volatile.Write(ref _fund, fund);

    public void LiquidationQueue(int depth)
    {
    }

    public void Command(string type, string outcome)
    {
    }
}
