using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace MarginGrid.Grains;

/// <summary>
/// One account's I/O around the domain's <see cref="Account"/> aggregate: it loads the configuration and the current
/// marks, calls the aggregate, persists, publishes the events and hands its holder shards safe bands. It decides
/// nothing itself: every step is decided by the aggregate at marks fetched for that step.
/// </summary>
public sealed class AccountGrain(
    [PersistentState("account", GridProviders.Storage)] IPersistentState<AccountState> state,
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<AccountGrain> logger)
    : Grain, IAccountGrain, IAccountRiskGrain
{
    private readonly GridOptions _options = options.Value;

    /// <summary>Marks, tick sequences, shard registrations and whether each shard holds a band for us.</summary>
    private readonly MarketLinks _marks = new();
    private RiskConfiguration? _config;
    private long _configVersion;
    private IAsyncStream<GridEvent>? _stream;

    private string Id => this.GetPrimaryKeyString();

    private Account Account => state.State.Account ??= new Account(Id);

    private RiskConfiguration Config => _config ?? throw new InvalidOperationException("configuration not loaded");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Account.Opened)
        {
            await LoadConfigAsync(1);
            await LinkAsync(Account.PricedBy(Config));
            await SettlePendingAsync(force: true); // a liquidation applied here whose fund settlement was not confirmed
        }
    }

    public Task<bool> ExistsAsync() => Task.FromResult(Account.Opened);

    public async Task OpenAsync(AccountSeed seed)
    {
        await LoadConfigAsync(1);
        var holdings = seed.ToPortfolio();
        if (holdings.Positions.Keys.Any(m => !Config.TryGetMarket(m, out _)) || holdings.Balances.Keys.Any(a => !Config.IsPricedAsset(a)))
        {
            await LoadConfigAsync(_configVersion + 1); // this silo's cached configuration may predate the change
        }

        var undo = Account.Save();
        Account.Open(holdings, Config);
        await PersistAsync(undo);
        observer.StatusChanged(null, RiskStatus.Healthy);
        await LinkAsync(Account.PricedBy(Config));
        await RebandAsync();
    }

    public async Task<EvaluationReport?> OnTickAsync(MarketTick tick)
    {
        if (!Account.Opened || !_marks.ApplyMark(tick.Market, tick.Sequence, tick.Price))
        {
            if (!Account.Opened)
            {
                await UnregisterAsync(tick.Market);
            }

            return null; // not open, or stale: a newer tick of this market has already been applied
        }

        if (tick.ConfigVersion > _configVersion)
        {
            await LoadConfigAsync(tick.ConfigVersion);
        }

        if (!Account.IsPricedBy(tick.Market, Config))
        {
            await UnregisterAsync(tick.Market);
            return null;
        }

        await SettlePendingAsync(force: false);
        if (!tick.Evaluate)
        {
            return null;
        }

        _marks.SetBandHeld(tick.Market, false); // the shard dropped our band to deliver this tick
        return await StepAsync(tick.StepId, except: tick.Market);
    }

    public async Task<EvaluationReport?> EvaluateAsync(string step) => Account.Opened ? await StepAsync(step) : null;

    public Task<CommandResult> FillAsync(FillCommand c) => ExecuteAsync(new AccountCommand.Fill(c.CommandId, c.Market, c.Size, c.Price));

    public Task<CommandResult> DepositAsync(TransferCommand c) => ExecuteAsync(new AccountCommand.Deposit(c.CommandId, c.Asset, c.Quantity));

    public Task<CommandResult> WithdrawAsync(TransferCommand c) => ExecuteAsync(new AccountCommand.Withdrawal(c.CommandId, c.Asset, c.Quantity));

    public async Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price)
    {
        if (!Account.Opened)
        {
            return new PreTradeView(false, RejectReasons.UnknownAccount, null, null);
        }

        await RefreshMarksAsync([.. Account.PricedBy(Config).Append(market).Where(m => Config.TryGetMarket(m, out _)).Distinct()]);
        var result = AccountRules.PreTrade(Account.Holdings, market, size, price, _marks, Config);
        return new PreTradeView(result.Allowed, result.Reason, result.HealthAfter?.Equity, result.HealthAfter?.InitialMargin);
    }

    public async Task<LiquidationCharge?> BeginLiquidationAsync(string liquidationId)
    {
        if (Account.Outbox is { } pending && pending.LiquidationId == liquidationId)
        {
            return pending.ToCharge(Id); // a retry of this very call
        }

        await SettlePendingAsync(force: true);
        if (!Account.Opened)
        {
            return null;
        }

        await RefreshMarksIfGatedAsync();
        var undo = Account.Save();
        if (!Account.BeginLiquidation(liquidationId, _marks, Config, coordinated: true, clock.UtcNow))
        {
            return null;
        }

        await PersistAsync(undo);
        return Account.Outbox!.ToCharge(Id);
    }

    public async Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover)
    {
        if (Account.Outbox?.LiquidationId != liquidationId)
        {
            return [.. (state.State.Recent ?? []).Where(e => e.Step == liquidationId)]; // already completed
        }

        var events = await CompleteAsync(cover);
        await RebandAsync();
        return events;
    }

    public async Task<AccountView?> GetViewAsync()
    {
        if (!Account.Opened)
        {
            return null;
        }

        await RefreshMarksAsync(Account.PricedBy(Config));
        return Account.ToView(_marks, Config);
    }

    public Task<ImmutableArray<GridEvent>> GetRecentEventsAsync() => Task.FromResult(state.State.Recent?.ToImmutableArray() ?? []);

    /// <summary>A command step: current marks of every market it touches, the aggregate's decision, persisted before the answer.</summary>
    private async Task<CommandResult> ExecuteAsync(AccountCommand command)
    {
        if (string.IsNullOrWhiteSpace(command.CommandId))
        {
            throw new ArgumentException("a command needs a command id", nameof(command));
        }

        if (!Account.Opened)
        {
            var unknown = Publishable(new ModelEvent(ModelEventType.Rejected, Id) { Reason = RejectReasons.UnknownAccount }, command.CommandId);
            observer.EventEmitted(unknown);
            observer.Command(command.Kind, "rejected");
            await PublishAsync([unknown]);
            return new CommandResult(command.CommandId, false, RejectReasons.UnknownAccount, [unknown], 0);
        }

        await SettlePendingAsync(force: true);
        if (FindCommand(command) is { } stored)
        {
            observer.Command(command.Kind, "duplicate");
            return ToResult(stored) with { Duplicate = true };
        }

        if (!command.IsKnownTo(Config))
        {
            await LoadConfigAsync(_configVersion + 1); // an unknown market or asset may be newer than this silo's copy
        }

        await LinkAsync(Account.MarketsNeeded(Config, command), refresh: true);
        var now = clock.UtcNow;
        var undo = Account.Save();
        var step = Account.Execute(command, _marks, Config, now, _options.CommandRetention);
        if (step.NeedsLiquidation)
        {
            Account.BeginLiquidation($"{command.CommandId}/liquidation", _marks, Config, coordinated: false, now, command.CommandId);
        }

        await PersistAsync(undo);
        Record(step.Record.Events, command.CommandId);
        await PublishAsync([.. step.Record.Events.Select(e => Publishable(e, command.CommandId))]);
        await SettlePendingAsync(force: true);
        observer.Command(command.Kind, step.Record.Accepted ? "accepted" : "rejected");
        await RebandAsync();
        return ToResult(FindCommand(command)!);
    }

    private CommandRecord? FindCommand(AccountCommand command)
    {
        try
        {
            return Account.FindCommand(command);
        }
        catch (CommandIdConflictException)
        {
            throw new CommandConflictException(command.CommandId);
        }
    }

    /// <summary>Evaluates at current marks (fetching those whose ticks were gated), reports what the step must act on, re-bands.</summary>
    private async Task<EvaluationReport?> StepAsync(string step, string? except = null)
    {
        await RefreshMarksIfGatedAsync(except);
        Evaluation evaluation;
        var undo = Account.Save();
        try
        {
            evaluation = Account.Evaluate(_marks, Config);
        }
        catch (Exception e) when (e is MissingMarkException or ArithmeticException)
        {
            // One account that cannot be evaluated never stops the step for the others; nothing of it has changed.
            observer.EvaluationFailed(Id);
            logger.LogError(e, "Account {Account} cannot be evaluated at step {Step}", Id, step);
            return null;
        }

        if (undo.Status != Account.Status)
        {
            observer.StatusChanged(undo.Status.ToWire(), Account.Status.ToWire());
        }

        if (undo.Status != Account.Status || undo.Armed != Account.MarginCallArmed)
        {
            await PersistAsync(undo);
        }

        GridEvent? marginCall = null;
        if (evaluation.MarginCall is { } call)
        {
            marginCall = Record([call], step)[0];
            await PublishAsync([marginCall]);
        }

        if (!evaluation.NeedsLiquidation)
        {
            await RebandAsync(); // a liquidatable account stays unbanded: its liquidation re-bands it
        }

        var health = evaluation.Health;
        return marginCall is not null || evaluation.NeedsLiquidation
            ? new EvaluationReport(Id, health.Status.ToWire(), health.HasPositions, health.Equity, health.MaintenanceMargin, marginCall)
            : null;
    }

    /// <summary>Settles an outstanding liquidation with the fund (idempotent there by id): at once, or once the coordinator is overdue.</summary>
    private async Task SettlePendingAsync(bool force)
    {
        if (Account.Outbox is not { } pending || (!force && clock.UtcNow - pending.StartedAt <= _options.PendingLiquidationTimeout))
        {
            return;
        }

        var fund = GrainFactory.GetGrain<IFundLedgerGrain>(0);
        var cover = await fund.ApplyLiquidationAsync(pending.ToCharge(Id));
        await CompleteAsync(cover);
        if (!pending.Coordinated)
        {
            // Begun here, so only this account ever held the charge and it is recorded now: nobody can send it again.
            // A coordinated one is the coordinator's to confirm — its batch for this id may still be on its way.
            try
            {
                await fund.ForgetSettledAsync([pending.LiquidationId]);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogWarning(e, "Account {Account}: the fund could not forget liquidation {Liquidation}; it expires instead", Id, pending.LiquidationId);
            }
        }
    }

    private async Task<ImmutableArray<GridEvent>> CompleteAsync(BankruptcyCoverView? cover)
    {
        var pending = Account.Outbox!;
        var undo = Account.Save();
        var before = Account.Status;
        var events = Account.CompleteLiquidation(cover?.ToDomain(), _marks, Config);
        await PersistAsync(undo);
        if (before != Account.Status)
        {
            observer.StatusChanged(before.ToWire(), Account.Status.ToWire());
        }

        var published = Record(events, pending.LiquidationId);
        await PublishAsync(published);
        return published;
    }

    /// <summary>
    /// Gated fan-out: computes this account's safe bands (none unless Healthy) and hands each to its shard. A shard that
    /// has seen a newer tick than the marks the band was computed at returns it; the account then takes it and settles
    /// a step of its own (margin call, liquidation), since that tick's step did not include it, and bands again.
    /// </summary>
    private async Task RebandAsync()
    {
        if (_options.FanOut != FanOutMode.Gated || !Account.Opened)
        {
            return;
        }

        for (var attempt = 0; attempt < 4; attempt++)
        {
            var bands = Bands();
            var replies = await Task.WhenAll(Account.PricedBy(Config).Select(m =>
            {
                var band = bands is not null && bands.TryGetValue(m, out var b) ? b : (SafeBand?)null;
                if (band is null && _marks.BandHeld(m) == false)
                {
                    return Task.FromResult<MarketTick?>(null); // no band there already: every tick reaches us
                }

                _marks.SetBandHeld(m, band is not null);
                return Shard(m).SetBandAsync(Id, band?.Low, band?.High, _marks.Sequence(m));
            }));

            var newer = replies.OfType<MarketTick>().Where(t => _marks.ApplyMark(t.Market, t.Sequence, t.Price)).ToList();
            if (newer.Count == 0)
            {
                return;
            }

            var step = newer[^1].StepId;
            if (await StepAsync(step) is { NeedsLiquidation: true })
            {
                await RefreshMarksIfGatedAsync();
                var undo = Account.Save();
                if (Account.BeginLiquidation($"{step}:{Id}/self", _marks, Config, coordinated: false, clock.UtcNow))
                {
                    await PersistAsync(undo);
                    await SettlePendingAsync(force: true);
                }
            }
        }

        logger.LogWarning("Account {Account} could not settle its safe bands; its holders deliver every tick until it does", Id);
    }

    private IReadOnlyDictionary<string, SafeBand>? Bands()
    {
        try
        {
            return SafeBands.For(Account.Holdings, _marks, Config);
        }
        catch (Exception e) when (e is MissingMarkException or ArithmeticException)
        {
            return null; // no bands: every tick of its markets reaches the account
        }
    }

    /// <summary>With gating, ticks inside the bands never reach the account: fetch the current marks unless no shard holds a band.</summary>
    private Task RefreshMarksIfGatedAsync(string? except = null)
    {
        var markets = Account.PricedBy(Config);
        return _options.FanOut == FanOutMode.Gated && markets.Any(m => _marks.BandHeld(m) != false)
            ? RefreshMarksAsync([.. markets.Where(m => m != except)])
            : Task.CompletedTask;
    }

    /// <summary>Fetches the current mark of each market from its market grain.</summary>
    private async Task RefreshMarksAsync(IReadOnlyCollection<string> markets)
    {
        var marks = await Task.WhenAll(markets.Select(m => GrainFactory.GetGrain<IMarketGrain>(m).GetMarkAsync()));
        foreach (var mark in marks.OfType<MarkPrice>())
        {
            _marks.ApplyMark(mark.Market, mark.Sequence, mark.Price);
        }
    }

    /// <summary>Registers with the holder shard of each market (before fetching, so no tick falls between) and fetches its mark.</summary>
    private async Task LinkAsync(IReadOnlyCollection<string> markets, bool refresh = false)
    {
        foreach (var market in markets)
        {
            if (_marks.Register(market))
            {
                await Shard(market).RegisterAsync(Id);
            }
        }

        await RefreshMarksAsync(refresh ? markets : [.. markets.Where(m => !_marks.TryGetMark(m, out _))]);
    }

    private async Task UnregisterAsync(string market)
    {
        _marks.Unregister(market);
        await Shard(market).UnregisterAsync(Id);
    }

    private CommandResult ToResult(CommandRecord record) =>
        new(record.CommandId, record.Accepted, record.Reason, [.. record.Events.Select(e => e.ToGrid(record.CommandId, record.At))], record.Version);

    private GridEvent Publishable(ModelEvent e, string step) => e.ToGrid(step, clock.UtcNow);

    /// <summary>Adds events to the account's recent history and reports them to the observer; returns them as published.</summary>
    private ImmutableArray<GridEvent> Record(IReadOnlyList<ModelEvent> events, string step)
    {
        var published = events.Select(e => Publishable(e, step)).ToImmutableArray();
        var recent = state.State.Recent ??= [];
        foreach (var e in published)
        {
            recent.Add(e);
            observer.EventEmitted(e);
        }

        if (recent.Count > _options.RecentEvents)
        {
            recent.RemoveRange(0, recent.Count - _options.RecentEvents);
        }

        return published;
    }

    private async Task PublishAsync(IReadOnlyCollection<GridEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        try
        {
            _stream ??= this.GetStreamProvider(GridStreams.Provider).GetStream<GridEvent>(StreamId.Create(GridStreams.Namespace, GridStreams.AllKey));
            foreach (var e in events)
            {
                await _stream.OnNextAsync(e);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The events are persisted in the account's history (and the audit trail); the stream is best effort.
            logger.LogWarning(e, "Account {Account} could not publish {Count} events to the event stream", Id, events.Count);
        }
    }

    /// <summary>
    /// Persists the step; when the write fails, the step is undone in memory (so the answer "failed" means "not
    /// applied" here) and the grain deactivates, so that the next call reloads what storage really holds.
    /// </summary>
    private async Task PersistAsync(Account.Memento undo)
    {
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            Account.Restore(undo);
            DeactivateOnIdle();
            throw;
        }
    }

    private async Task LoadConfigAsync(long minVersion) => (_config, _configVersion) = await configs.GetAsync(Math.Max(1, minVersion));

    private IMarketShardGrain Shard(string market) =>
        GrainFactory.GetGrain<IMarketShardGrain>(StableHash.ShardKey(market, StableHash.Shard(Id, _options.ShardsPerMarket)));
}
