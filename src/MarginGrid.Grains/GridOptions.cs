namespace MarginGrid.Grains;

/// <summary>Engine settings shared by every silo of a cluster (they must agree).</summary>
public sealed class GridOptions
{
    public const string Section = "MarginGrid:Grid";

    /// <summary>How a shard passes a tick to its holders.</summary>
    public FanOutMode FanOut { get; set; } = FanOutMode.Gated;

    /// <summary>Holder shards per market; every silo must use the same number.</summary>
    public int ShardsPerMarket { get; set; } = 8;

    /// <summary>Events kept in each account's recent history.</summary>
    public int RecentEvents { get; set; } = 50;

    /// <summary>How long an account remembers a command id (and its result) for idempotent retries.</summary>
    public TimeSpan CommandRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a liquidation begun for the coordinator may wait for its fund settlement before the account settles it itself.</summary>
    public TimeSpan PendingLiquidationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long the insurance fund remembers a liquidation it applied whose account has not confirmed the outcome (the
    /// coordinator or the account confirms right after recording it, and the fund then forgets the id). An account
    /// settles an unconfirmed liquidation on its next activation, tick or command, so this only bounds what a lost
    /// confirmation leaves behind; it must exceed the longest time an account with a pending liquidation can stay idle.
    /// </summary>
    public TimeSpan UnconfirmedLiquidationRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// How old a silo's copy of the risk configuration may be when a market step, a command or a pre-trade check is
    /// decided with it: a configuration change reaches every silo within this time (a tick that carries a newer
    /// version refreshes it at once).
    /// </summary>
    public TimeSpan ConfigMaxAge { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// v3: whether running Dutch auctions end by themselves at their deadline on the engine's clock (a grain timer of the
    /// auction house, and a reminder that brings the house back after a silo failure), not only at the start of the
    /// next step. <c>margingrid replay</c> turns it off: there the scenario's steps are the only clock.
    /// </summary>
    public bool AuctionTimers { get; set; } = true;

    /// <summary>
    /// The longest the auction house's timer sleeps before it reads the engine's clock again (it wakes at the earliest
    /// deadline, or after this long when that is later), so that an engine clock that jumps is noticed in time.
    /// </summary>
    public TimeSpan AuctionTimerResolution { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The account's audit outbox (<see cref="AccountAudit"/>): each command step keeps its command id in the account's
    /// state, in the same write, until the audit trail confirms it stored the record. On where a silo has an audit trail
    /// (a PostgreSQL connection string); off elsewhere, where nothing would confirm.
    /// </summary>
    public bool AuditOutbox { get; set; }

    /// <summary>
    /// The period of the audit reminder of a grain whose audit outbox holds records (an account, a market, the
    /// configuration; at least a minute, Orleans' minimum): each tick offers again what stayed unconfirmed for a whole period.
    /// </summary>
    public TimeSpan AuditRetryInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>How ticks reach the holders of a market.</summary>
public enum FanOutMode
{
    /// <summary>Every holder evaluates every tick.</summary>
    Naive = 0,

    /// <summary>Holders hand their shard a safe band per market; only ticks that leave it are delivered.</summary>
    Gated = 1,

}

/// <summary>Storage and stream provider names used by the grains.</summary>
public static class GridProviders
{
    public const string Storage = "grid";
    public const string PubSubStore = "PubSubStore";
}

/// <summary>A hash that is the same in every process (string.GetHashCode is randomized per process).</summary>
public static class StableHash
{
    public static uint Fnv1a(string value)
    {
        var hash = 2166136261u;
        foreach (var c in value)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return hash;
    }

    public static int Shard(string account, int shards) => (int)(Fnv1a(account) % (uint)shards);

    public static string ShardKey(string market, int shard) => $"{market}/{shard}";
}

/// <summary>
/// The engine's clock. A wrapper rather than the container's <see cref="TimeProvider"/>, so that tests can fake the
/// engine's time without also faking the time of Orleans' own timers (membership, stream balancers, ...).
/// </summary>
public sealed class GridClock(TimeProvider time)
{
    public static GridClock System { get; } = new(TimeProvider.System);

    public TimeProvider Time { get; } = time;

    public DateTimeOffset UtcNow => Time.GetUtcNow();
}

/// <summary>A clock that stands still until it is moved forward: replay drives the engine's clock with a scenario's time.</summary>
public sealed class SteppedTimeProvider(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    /// <summary>Moves the clock to <paramref name="time"/>; never backwards.</summary>
    public void AdvanceTo(DateTimeOffset time)
    {
        if (time.UtcTicks < Interlocked.Read(ref _ticks))
        {
            throw new ArgumentOutOfRangeException(nameof(time), $"the clock cannot go back from {GetUtcNow():O} to {time:O}");
        }

        Interlocked.Exchange(ref _ticks, time.UtcTicks);
    }
}
