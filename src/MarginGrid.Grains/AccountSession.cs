using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// One activation of an account: what its protocols share — the aggregate as stored, the configuration it was decided
/// with, its markets' current marks, its event sink and the one write that persists a step. It decides nothing: the
/// protocols (<see cref="AccountCommands"/>, <see cref="AccountSteps"/>, <see cref="AccountLiquidations"/>,
/// <see cref="AccountAuctions"/>) call the aggregate with what this holds.
/// </summary>
public sealed class AccountSession
{
    private readonly IPersistentState<AccountState> _state;
    private readonly RiskConfigProvider _configs;
    private readonly Action _deactivate;
    private RiskConfiguration? _config;

    public AccountSession(
        Grain grain,
        IGrainFactory grains,
        string id,
        IPersistentState<AccountState> state,
        RiskConfigProvider configs,
        GridOptions options,
        IGridObserver observer,
        GridClock clock,
        ILogger logger,
        Action deactivate)
    {
        Id = id;
        _state = state;
        _configs = configs;
        _deactivate = deactivate;
        Grains = grains;
        Options = options;
        Observer = observer;
        Clock = clock;
        Logger = logger;
        Markets = new AccountMarkets(Grains, id, options);
        Events = new AccountEvents(grain, () => state.State.Recent ??= [], options.RecentEvents, observer, clock, logger)
        {
            Audit = options.AuditOutbox ? new AccountEventAudit(id, state) : null,
        };
    }

    public string Id { get; }

    public IGrainFactory Grains { get; }

    public GridOptions Options { get; }

    public IGridObserver Observer { get; }

    public GridClock Clock { get; }

    public ILogger Logger { get; }

    public AccountMarkets Markets { get; }

    public IMarks Marks => Markets.Marks;

    public AccountEvents Events { get; }

    /// <summary>The audit outbox (command ids not yet confirmed by the audit trail), persisted with the account.</summary>
    public List<string> AuditPending => _state.State.AuditPending ??= [];

    public Account Account => _state.State.Account ??= new Account(Id);

    /// <summary>The recent events as persisted (what a retried call answers with).</summary>
    public IReadOnlyList<GridEvent> Recent => _state.State.Recent ?? [];

    public RiskConfiguration Config => _config ?? throw new InvalidOperationException("configuration not loaded");

    public long ConfigVersion { get; private set; }

    /// <summary>The silo's configuration provider (for a step of an account that has none loaded: an unknown one).</summary>
    public RiskConfigProvider Configs => _configs;

    public IAuctionHouseGrain House => Grains.GetGrain<IAuctionHouseGrain>(0);

    /// <summary>v3: whether any collateral is auctioned (the registry is consulted only then).</summary>
    public bool Auctions => Config.Collateral.Any(c => c.Auction is not null);

    public async Task LoadConfigAsync(long minVersion) => (_config, ConfigVersion) = await _configs.GetAsync(Math.Max(1, minVersion));

    /// <summary>The newest configuration, not this silo's cached copy (opening: a change may have moved what prices an asset).</summary>
    public async Task RefreshConfigAsync() => (_config, ConfigVersion) = await _configs.RefreshAsync();

    public AccountSnapshot Snapshot() => new(Id, Account.Holdings.ToSeed(), Account.Version, Account.Auction is not null);

    /// <summary>
    /// Persists the step; when the write fails, the step is undone in memory (so the answer "failed" means "not
    /// applied" here) and the grain deactivates, so that the next call reloads what storage really holds.
    /// </summary>
    public async Task PersistAsync(Account.Memento undo)
    {
        try
        {
            await _state.WriteStateAsync();
        }
        catch
        {
            Account.Restore(undo);
            _deactivate();
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
