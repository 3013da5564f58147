using System.Collections.Immutable;
using System.Globalization;
using Orleans.Concurrency;

namespace MarginGrid.Grains;

/// <summary>A market that cannot settle: why, since when, and the step that showed it.</summary>
[GenerateSerializer, Immutable, Alias("mg.UnsettledMarket")]
public sealed record UnsettledMarket(
    [property: Id(0)] string Market,
    [property: Id(1)] string Reason,
    [property: Id(2)] string? Step,
    [property: Id(3)] DateTimeOffset Since);

/// <summary>
/// The cluster's view of which markets cannot settle (key 0), for <c>/health/ready</c> on every silo. Reports are
/// one-way and best effort: health, not money. Kept in memory and always active (<c>[KeepAlive]</c>); when its silo
/// fails, the new activation starts empty and a market that still cannot settle shows again with its next step.
/// </summary>
public interface IGridHealthGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// An account could not be evaluated in price step <paramref name="step"/> (<c>MARKET#sequence</c>); the step went
    /// on without it.
    /// </summary>
    [OneWay]
    Task EvaluationFailed(string step, string account);

    /// <summary>An evaluating step of <paramref name="market"/> settled (its sequence number).</summary>
    [OneWay]
    Task StepSettled(string market, long sequence);

    /// <summary>A step of <paramref name="market"/> failed before it settled.</summary>
    [OneWay]
    Task StepFailed(string market, string error);

    [AlwaysInterleave]
    Task<ImmutableArray<UnsettledMarket>> GetUnsettledAsync();
}

/// <summary>
/// Decides which markets cannot settle (issue 9): a market whose latest evaluating step could not evaluate an account
/// — until a later step of it settles with none failing — or whose last <see cref="FailedStepsThreshold"/> steps or more
/// failed in a row, until one settles. Reports may arrive out of order (an account's failure after the step's own
/// report): a failure at step <c>s</c> is cleared only by a settled step after <c>s</c>.
/// </summary>
public sealed class MarketSettlement(int failedStepsThreshold = MarketSettlement.DefaultFailedStepsThreshold)
{
    public const int DefaultFailedStepsThreshold = 3;

    /// <summary>How many failed accounts of one step are named (the count is always given).</summary>
    public const int NamedAccounts = 5;

    private readonly Dictionary<string, Entry> _markets = new(StringComparer.Ordinal);

    public int FailedStepsThreshold { get; } = failedStepsThreshold;

    public void EvaluationFailed(string step, string account, DateTimeOffset now)
    {
        if (!TryParseStep(step, out var market, out var sequence))
        {
            return;
        }

        var entry = Get(market);
        var was = IsUnsettled(entry);
        if (sequence > entry.FailedSequence)
        {
            entry.FailedSequence = sequence;
            entry.FailedStep = step;
            entry.FailedAccounts.Clear();
        }

        if (sequence == entry.FailedSequence)
        {
            entry.FailedAccounts.Add(account);
        }

        if (!was && IsUnsettled(entry))
        {
            entry.Since = now;
        }
    }

    public void StepSettled(string market, long sequence)
    {
        var entry = Get(market);
        entry.SettledSequence = Math.Max(entry.SettledSequence, sequence);
        entry.ConsecutiveFailures = 0;
        entry.LastError = null;
    }

    public void StepFailed(string market, string error, DateTimeOffset now)
    {
        var entry = Get(market);
        var was = IsUnsettled(entry);
        entry.ConsecutiveFailures++;
        entry.LastError = error;
        if (!was && IsUnsettled(entry))
        {
            entry.Since = now;
        }
    }

    /// <summary>The markets that cannot settle now, by symbol.</summary>
    public ImmutableArray<UnsettledMarket> Unsettled() =>
        [.. _markets.Where(m => IsUnsettled(m.Value)).OrderBy(m => m.Key, StringComparer.Ordinal).Select(m => Describe(m.Key, m.Value))];

    private UnsettledMarket Describe(string market, Entry e)
    {
        if (e.ConsecutiveFailures >= FailedStepsThreshold)
        {
            return new UnsettledMarket(
                market, $"its last {e.ConsecutiveFailures} steps failed: {e.LastError}", e.FailedStep, e.Since);
        }

        var named = string.Join(", ", e.FailedAccounts.Order(StringComparer.Ordinal).Take(NamedAccounts));
        var more = e.FailedAccounts.Count > NamedAccounts ? ", …" : string.Empty;
        return new UnsettledMarket(
            market,
            string.Create(CultureInfo.InvariantCulture, $"{e.FailedAccounts.Count} account(s) could not be evaluated at {e.FailedStep} ({named}{more})"),
            e.FailedStep,
            e.Since);
    }

    private bool IsUnsettled(Entry e) =>
        e.ConsecutiveFailures >= FailedStepsThreshold || (e.FailedSequence >= 0 && e.FailedSequence >= e.SettledSequence);

    private Entry Get(string market)
    {
        if (!_markets.TryGetValue(market, out var entry))
        {
            // At most one entry per configured market (a configuration holds at most 256).
            entry = new Entry();
            _markets[market] = entry;
        }

        return entry;
    }

    /// <summary><c>ETH-USD#12</c> (a price step); a suffix such as <c>/stale</c> or <c>/auctions</c> is not an evaluating step.</summary>
    internal static bool TryParseStep(string step, out string market, out long sequence)
    {
        var hash = step.LastIndexOf('#');
        market = hash > 0 ? step[..hash] : string.Empty;
        sequence = 0;
        return hash > 0 && long.TryParse(step.AsSpan(hash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out sequence);
    }

    private sealed class Entry
    {
        public long SettledSequence { get; set; } = -1;

        public long FailedSequence { get; set; } = -1;

        public string? FailedStep { get; set; }

        public HashSet<string> FailedAccounts { get; } = new(StringComparer.Ordinal);

        public int ConsecutiveFailures { get; set; }

        public string? LastError { get; set; }

        public DateTimeOffset Since { get; set; }
    }
}

/// <summary>The cluster's <see cref="MarketSettlement"/> (see <see cref="IGridHealthGrain"/>).</summary>
[KeepAlive]
public sealed class GridHealthGrain(GridClock clock) : Grain, IGridHealthGrain
{
    private readonly MarketSettlement _settlement = new();

    public Task EvaluationFailed(string step, string account)
    {
        _settlement.EvaluationFailed(step, account, clock.UtcNow);
        return Task.CompletedTask;
    }

    public Task StepSettled(string market, long sequence)
    {
        _settlement.StepSettled(market, sequence);
        return Task.CompletedTask;
    }

    public Task StepFailed(string market, string error)
    {
        _settlement.StepFailed(market, error, clock.UtcNow);
        return Task.CompletedTask;
    }

    public Task<ImmutableArray<UnsettledMarket>> GetUnsettledAsync() => Task.FromResult(_settlement.Unsettled());
}
