using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Storage;

namespace MarginGrid.Grains;

/// <summary>The auction house's persisted registry: every running auction as its account registered it.</summary>
[GenerateSerializer, Alias("mg.AuctionHouseState")]
public sealed class AuctionHouseState
{
    [Id(0)] public List<RegisteredAuction> Running { get; set; } = [];
}

/// <summary>
/// The registry of running Dutch auctions (key 0). It decides nothing: each auction's deadline is the domain's
/// (<see cref="DutchAuction.Deadline"/>) at the current configuration, and whether an auction has ended is its account's
/// decision (<see cref="IAccountRiskGrain.EndExpiredAuctionAsync"/>). What it adds is time:
/// <list type="bullet">
/// <item>the registry is persisted (grain state "auction-house"), so it survives the silo that hosts it;</item>
/// <item>one grain timer sleeps until the earliest deadline on the engine's clock (at most
///   <see cref="GridOptions.AuctionTimerResolution"/>, re-reading that clock) and then asks the accounts whose deadline
///   has come to end their auctions — an auction ends on time even when no step follows;</item>
/// <item>while the registry is not empty, a reminder (<see cref="ReminderName"/>, every minute) reactivates the house
///   after its silo died, which re-arms the timer: expiries keep firing, on the same schedule (each auction's start
///   and top are stored, so its price at a given engine time is the same before and after).</item>
/// </list>
/// The start of every step still ends the auctions whose deadline has come (<see cref="EndExpiredAsync"/>), which is
/// the rule that replay relies on (there <see cref="GridOptions.AuctionTimers"/> is off).
/// </summary>
public sealed class AuctionHouseGrain(
    [PersistentState("auction-house", GridProviders.Storage)] IPersistentState<AuctionHouseState> state,
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<AuctionHouseGrain> logger)
    : Grain, IAuctionHouseGrain, IRemindable
{
    /// <summary>The reminder that keeps the house alive (and brings it back) while auctions run.</summary>
    public const string ReminderName = "auction-expiry";

    private static readonly TimeSpan ReminderPeriod = TimeSpan.FromMinutes(1);

    private readonly GridOptions _options = options.Value;
    private readonly SortedDictionary<string, RegisteredAuction> _running = new(StringComparer.Ordinal);
    private readonly Dictionary<string, DateTimeOffset> _notBefore = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _write = new(1, 1);
    private IGrainTimer? _timer;
    private bool _reminder;
    private bool _noReminders;
    private bool _passing;
    private bool _dirty;
    private readonly Dictionary<(string Asset, DateTimeOffset Start), DateTimeOffset> _deadlines = [];
    private RiskConfiguration? _deadlinesOf;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var auction in state.State.Running)
        {
            _running[auction.Account] = auction;
        }

        observer.AuctionsRunning(_running.Count);
        await ScheduleAsync();
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        observer.AuctionsRunning(0); // the next activation (on whichever silo) reports the count again
        return Task.CompletedTask;
    }

    public async Task RegisterAsync(RegisteredAuction auction)
    {
        if (_running.TryGetValue(auction.Account, out var previous))
        {
            if (previous == auction)
            {
                return;
            }

            if (previous.Asset != auction.Asset || previous.Start != auction.Start)
            {
                observer.AuctionEnded(clock.UtcNow - previous.Start); // its next asset's auction follows
            }
        }

        _running[auction.Account] = auction;
        _notBefore.Remove(auction.Account);
        await ChangedAsync();
    }

    public async Task UnregisterAsync(string account)
    {
        if (!_running.Remove(account, out var ended))
        {
            return;
        }

        _notBefore.Remove(account);
        observer.AuctionEnded(clock.UtcNow - ended.Start);
        await ChangedAsync();
    }

    public async Task<ImmutableArray<ScheduledAuction>> ListAsync()
    {
        if (_running.Count == 0)
        {
            return [];
        }

        var (config, _) = await configs.GetAsync();
        return [.. _running.Values.Select(a => new ScheduledAuction(a, Deadline(a, config)))];
    }

    public async Task<ImmutableArray<AccountStepEvents>> EndExpiredAsync(string step, string? except)
    {
        if (_running.Count == 0)
        {
            return [];
        }

        // The newest configuration: the accounts decide on theirs, and a deadline must never be later than their rule's.
        var (config, _) = await configs.RefreshAsync();
        var now = clock.UtcNow;
        var due = _running.Values.Where(a => a.Account != except && Deadline(a, config) <= now).ToList(); // by account id
        var ended = ImmutableArray.CreateBuilder<AccountStepEvents>();
        foreach (var auction in due)
        {
            var events = await GrainFactory.Ref<IAccountRiskGrain>(auction.Account).EndExpiredAuctionAsync(step);
            if (events.Length > 0)
            {
                ended.Add(new AccountStepEvents(auction.Account, events));
            }
        }

        await ScheduleAsync();
        return ended.ToImmutable();
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        _reminder = reminderName == ReminderName;
        await ScheduleAsync(); // the activation (after a silo failure, the first thing here) armed the timer already
    }

    /// <summary>The timer: ends the auctions whose deadline has come on the engine's clock, then sleeps until the next.</summary>
    private async Task OnTimerAsync(CancellationToken cancellationToken)
    {
        if (_passing)
        {
            return;
        }

        _passing = true;
        try
        {
            if (_dirty)
            {
                await WriteAsync();
            }

            var (config, _) = await configs.RefreshAsync();
            var now = clock.UtcNow;
            var due = _running.Values
                .Where(a => Deadline(a, config) <= now && (!_notBefore.TryGetValue(a.Account, out var retry) || retry <= now))
                .ToList();
            foreach (var auction in due)
            {
                var step = $"auction-expiry:{auction.Account}/{auction.Asset}@{auction.Start.UtcTicks}";
                try
                {
                    var events = await GrainFactory.Ref<IAccountRiskGrain>(auction.Account).EndExpiredAuctionAsync(step);
                    if (events.Length == 0 && _running.TryGetValue(auction.Account, out var still) && still == auction)
                    {
                        await NotEndedAsync(auction, now);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One account that cannot end its auction now (storage away) never stops the others: it is retried.
                    _notBefore[auction.Account] = now + _options.AuctionTimerResolution;
                    logger.LogWarning(e, "The auction of account {Account} could not be ended at its deadline; retrying", auction.Account);
                }
            }
        }
        finally
        {
            _passing = false;
        }

        await ScheduleAsync();
    }

    /// <summary>
    /// The account did not end an auction whose deadline had come: either it is not in auction any more (its
    /// unregistration was lost: the entry goes) or its rule differs from the house's (a configuration change on its way):
    /// it is asked again later.
    /// </summary>
    private async Task NotEndedAsync(RegisteredAuction auction, DateTimeOffset now)
    {
        var snapshot = await GrainFactory.Ref<IAccountRiskGrain>(auction.Account).SnapshotAsync();
        if (snapshot is not { InAuction: true })
        {
            if (_running.TryGetValue(auction.Account, out var still) && still == auction)
            {
                _running.Remove(auction.Account);
                await ChangedAsync();
            }

            return;
        }

        _notBefore[auction.Account] = now + _options.AuctionTimerResolution;
    }

    /// <summary>After a change of the registry: persisted (one write at a time), reported, and the timer re-armed.</summary>
    private async Task ChangedAsync()
    {
        observer.AuctionsRunning(_running.Count);
        await WriteAsync();
        await ScheduleAsync();
    }

    /// <summary>
    /// Persists the registry. A failed write never fails the account that registered (its own write is done): the
    /// registry stays right in memory and the timer writes it again; a write fenced by another activation (ETag) hands
    /// over to a fresh activation, which reads storage (accounts in auction re-register as they activate).
    /// </summary>
    private async Task WriteAsync()
    {
        await _write.WaitAsync();
        try
        {
            state.State.Running = [.. _running.Values];
            await state.WriteStateAsync();
            _dirty = false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _dirty = true;
            logger.LogWarning(e, "The auction house could not persist its registry of {Count} auctions; it retries", _running.Count);
            if (e is InconsistentStateException)
            {
                DeactivateOnIdle();
            }
        }
        finally
        {
            _write.Release();
        }
    }

    /// <summary>Arms the timer at the earliest deadline (or disarms it), and holds the reminder while auctions run.</summary>
    private async Task ScheduleAsync()
    {
        if (!_options.AuctionTimers)
        {
            return;
        }

        if (_running.Count == 0)
        {
            _timer?.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            await ReminderAsync(on: false);
            return;
        }

        await ReminderAsync(on: true);
        var (config, _) = await configs.GetAsync();
        var now = clock.UtcNow;
        var next = _running.Values
            .Select(a => Deadline(a, config) is var d && _notBefore.TryGetValue(a.Account, out var retry) && retry > d ? retry : Deadline(a, config))
            .Min();
        var wait = next - now;
        wait = wait < TimeSpan.Zero ? TimeSpan.Zero : wait > _options.AuctionTimerResolution ? _options.AuctionTimerResolution : wait;
        if (_timer is null)
        {
            _timer = this.RegisterGrainTimer(
                OnTimerAsync,
                new GrainTimerCreationOptions(wait, Timeout.InfiniteTimeSpan) { Interleave = true, KeepAlive = true });
        }
        else
        {
            _timer.Change(wait, Timeout.InfiniteTimeSpan);
        }
    }

    private async Task ReminderAsync(bool on)
    {
        if (on == _reminder || _noReminders)
        {
            return;
        }

        _reminder = on;
        try
        {
            if (on)
            {
                await this.RegisterOrUpdateReminder(ReminderName, ReminderPeriod, ReminderPeriod);
            }
            else if (await this.GetReminder(ReminderName) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // No reminder service (a grid without one) or storage away: the timer still runs while this activation lives
            // (which the timer keeps alive); the next activation tries again.
            _reminder = !on;
            _noReminders = true;
            logger.LogWarning(e, "The auction house could not {Action} its reminder", on ? "register" : "unregister");
        }
    }

    /// <summary>
    /// The deadline of <paramref name="auction"/> by the configuration's rule; without one, its start (due: its account
    /// decides). Remembered per auction until the configuration changes.
    /// </summary>
    private DateTimeOffset Deadline(RegisteredAuction auction, RiskConfiguration config)
    {
        if (!ReferenceEquals(config, _deadlinesOf))
        {
            _deadlines.Clear();
            _deadlinesOf = config;
        }

        if (!_deadlines.TryGetValue((auction.Asset, auction.Start), out var deadline))
        {
            deadline = config.TryGetCollateral(auction.Asset, out var spec) && spec.Auction is { } rule
                ? DutchAuction.Deadline(auction.Start, rule)
                : auction.Start;
            if (_deadlines.Count > 4 * _running.Count + 64)
            {
                _deadlines.Clear(); // entries of ended auctions
            }

            _deadlines[(auction.Asset, auction.Start)] = deadline;
        }

        return deadline;
    }
}
