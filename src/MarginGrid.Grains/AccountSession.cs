using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// One activation of an account: what its protocols share — the aggregate as stored, the configuration it was decided
/// with, its markets' current marks, its event sink and the one write that persists a step. It decides nothing: the
/// protocols (<see cref="AccountCommands"/>, <see cref="AccountSteps"/>, <see cref="AccountLiquidations"/>,
/// <see cref="AccountAuctions"/>) call the aggregate with what this holds.
/// </summary>
public sealed class AccountSession(Grain grain, string id, IPersistentState<AccountState> state, AccountServices services)
{
    private RiskConfiguration? _config;
    private AccountEvents? _events;
    private AccountAudit? _audit;

    public string Id => id;

    public IGrainFactory Grains => services.Grains;

    public GridOptions Options => services.Options;

    public IGridObserver Observer => services.Observer;

    public GridClock Clock => services.Clock;

    public ILogger Logger => services.Logger;

    public AccountMarkets Markets { get; } = new AccountMarkets(services.Grains, id, services.Options);

    public IMarks Marks => Markets.Marks;

    /// <summary>The event sink, made on the first event (most accounts of a calm market never emit one).</summary>
    public AccountEvents Events => _events ??= new AccountEvents(grain, services.History, () => History, h => state.State.History = h, Options.RecentEvents, Observer, Clock, Logger)
    {
        Audit = Options.AuditOutbox ? new AccountEventAudit(Id, state) : null,
    };

    // The protocols hold nothing of their own: they are made per call (short-lived), so an idle account keeps none; each
    // depends only on those before it.
    public AccountLiquidations Liquidations => new(this);

    public AccountSteps Steps => new(this, Liquidations);

    public AccountAuctions Auctions => new(this, Liquidations, Steps);

    public AccountCommands Commands => new(this, Liquidations, Steps, Auctions);

    /// <summary>
    /// The audit outbox of commands (inert unless <see cref="GridOptions.AuditOutbox"/>). Kept by the activation only
    /// where it is enabled: an inert one (it checks <see cref="AccountAudit.Enabled"/> itself) is made per use, so that an
    /// account of a silo without an outbox holds none.
    /// </summary>
    public AccountAudit Audit => Options.AuditOutbox ? _audit ??= new AccountAudit(this, () => AuditPending) : new AccountAudit(this, () => AuditPending);

    /// <summary>The audit outbox (command ids not yet confirmed by the audit trail), persisted with the account.</summary>
    public List<string> AuditPending => state.State.AuditPending ??= [];

    public Account Account => state.State.Account ??= new Account(Id);

    /// <summary>The recent events as persisted (what a retried call answers with), decoded.</summary>
    public IReadOnlyList<GridEvent> Recent => services.History.Decode(History);

    /// <summary>The encoded history (a state written in the earlier format is converted on the first use).</summary>
    private byte[]? History => services.History.Of(state.State, Options.RecentEvents);

    public RiskConfiguration Config => _config ?? throw new InvalidOperationException("configuration not loaded");

    public long ConfigVersion { get; private set; }

    /// <summary>The silo's configuration provider (for a step of an account that has none loaded: an unknown one).</summary>
    public RiskConfigProvider Configs => services.Configs;

    public IAuctionHouseGrain House => Grains.GetGrain<IAuctionHouseGrain>(0);

    /// <summary>v3: whether any collateral is auctioned (the registry is consulted only then).</summary>
    public bool AuctionsConfigured => Config.Collateral.Any(c => c.Auction is not null);

    public async Task LoadConfigAsync(long minVersion) => (_config, ConfigVersion) = await services.Configs.GetAsync(Math.Max(1, minVersion));

    /// <summary>The newest configuration, not this silo's cached copy (opening: a change may have moved what prices an asset).</summary>
    public async Task RefreshConfigAsync() => (_config, ConfigVersion) = await services.Configs.RefreshAsync();

    public AccountSnapshot Snapshot() => new(Id, Account.Holdings.ToSeed(), Account.Version, Account.Auction is not null);

    /// <summary>
    /// Persists the step together with its <paramref name="recorded"/> events (already in the account's history and
    /// audit outbox: <see cref="AccountEvents.Record"/>), so that the events survive exactly when the change they report
    /// does; announces them (observer, audit trail, event stream) only once the write succeeded.
    /// </summary>
    public async Task PersistAsync(Account.Memento undo, ImmutableArray<GridEvent> recorded)
    {
        try
        {
            await PersistAsync(undo);
        }
        catch
        {
            Events.Forget(recorded);
            throw;
        }

        await Events.AnnounceAsync(recorded);
    }

    /// <summary>
    /// Persists the step; when the write fails, the step is undone in memory (so the answer "failed" means "not
    /// applied" here) and the grain deactivates, so that the next call reloads what storage really holds.
    /// </summary>
    public async Task PersistAsync(Account.Memento undo)
    {
        // The audit reminder, registered alongside the write that gives the outbox records (never throws): both are
        // durable before the step is answered.
        var keep = Options.AuditOutbox && (state.State.AuditPending is { Count: > 0 } || state.State.AuditEvents is { Count: > 0 })
            ? ((IAuditRetryHost)grain).KeepOfferingAuditAsync()
            : Task.CompletedTask;
        try
        {
            await state.WriteStateAsync();
            await keep;
        }
        catch
        {
            await keep;
            Account.Restore(undo);
            grain.GrainContext.Deactivate(new DeactivationReason(DeactivationReasonCode.ApplicationRequested, "a write of the account failed: reload what storage holds"));
            throw;
        }

        if (undo.Status != Account.Status)
        {
            Observer.StatusChanged(undo.Status.ToWire(), Account.Status.ToWire());
        }

        if (undo.Auction != Account.Auction)
        {
            // Every change of the auction (a start, a take's smaller lot, the next asset's auction, the end): the house
            // keeps each running auction's deadline.
            await (Account.Auction is { } auction ? House.RegisterAsync(RegisteredAuction.Of(Id, auction)) : House.UnregisterAsync(Id));
        }
    }
}

/// <summary>What every account of a silo shares (one instance per silo, not per activation).</summary>
public sealed class AccountServices(
    IGrainFactory grains,
    RiskConfigProvider configs,
    Microsoft.Extensions.Options.IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILoggerFactory loggers,
    Orleans.Serialization.Serializer<GridEvent> events)
{
    public IGrainFactory Grains { get; } = grains;

    public RiskConfigProvider Configs { get; } = configs;

    public GridOptions Options { get; } = options.Value;

    public IGridObserver Observer { get; } = observer;

    public GridClock Clock { get; } = clock;

    public ILogger Logger { get; } = loggers.CreateLogger<AccountGrain>();

    /// <summary>Encodes and decodes the accounts' recent events (kept encoded in their state).</summary>
    public EventHistory History { get; } = new(events);
}

/// <summary>The grain that re-offers an account's unconfirmed audit records (a reminder while there are any).</summary>
public interface IAuditRetryHost
{
    Task KeepOfferingAuditAsync();
}
