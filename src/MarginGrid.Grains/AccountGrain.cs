using System.Collections.Immutable;
using System.Globalization;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Streams;

namespace MarginGrid.Grains;

/// <summary>
/// One account: holdings (persisted), the marks of the markets that price it (from ticks), its health on every tick,
/// its commands (idempotent by command id, persisted before they are acknowledged) and its own liquidation.
/// </summary>
public sealed class AccountGrain(
    [PersistentState("account", GridProviders.Storage)] IPersistentState<AccountState> state,
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<AccountGrain> logger)
    : Grain, IAccountGrain
{
    private readonly GridOptions _options = options.Value;
    /// <summary>Marks, tick sequences, shard registrations and (gated fan-out) whether each shard holds a band for us.</summary>
    private readonly MarketLinks _marks = new();
    private RiskConfiguration? _config;
    private long _configVersion;
    private IAsyncStream<GridEvent>? _stream;

    private string Id => this.GetPrimaryKeyString();

    /// <summary>The holdings: persisted state and the domain object the model works on, one and the same.</summary>
    private Portfolio Holdings => state.State.Holdings;

    private RiskConfiguration Config => _config ?? throw new InvalidOperationException("configuration not loaded");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (!state.State.Opened)
        {
            return;
        }

        await LoadConfigAsync(1);
        await SyncMarketsAsync();
        if (state.State.Pending is not null)
        {
            // A liquidation was applied here but its fund settlement was not confirmed: finish it (idempotent by id).
            await SettlePendingAsync();
        }
    }

    public Task<bool> ExistsAsync() => Task.FromResult(state.State.Opened);

    public async Task OpenAsync(AccountSeed seed)
    {
        if (state.State.Opened)
        {
            throw new InvalidOperationException($"account '{Id}' is already open");
        }

        await LoadConfigAsync(1);
        if (seed.Positions.Any(p => !Config.TryGetMarket(p.Market, out _)) || seed.Collateral.Keys.Any(a => !Config.IsPricedAsset(a)))
        {
            await LoadConfigAsync(_configVersion + 1); // this silo's cached configuration may predate the change
        }

        foreach (var (asset, quantity) in seed.Collateral)
        {
            if (AccountRules.CheckOpeningBalance(asset, quantity, Config) is { } problem)
            {
                throw new ArgumentException($"collateral {asset}: {problem}", nameof(seed));
            }
        }

        foreach (var position in seed.Positions)
        {
            if (AccountRules.CheckOpeningPosition(position.Market, position.EntryPrice, Config) is { } problem)
            {
                throw new ArgumentException($"position {position.Market} {problem.Field}: {problem.Reason}", nameof(seed));
            }
        }

        state.State.Holdings = seed.ToPortfolio();
        state.State.Opened = true;
        state.State.LastStatus = RiskStatus.Healthy;
        await PersistAsync();
        observer.StatusChanged(null, RiskStatus.Healthy);
        await SyncMarketsAsync();
        await RebandAsync();
    }

    public async Task<EvaluationReport?> OnTickAsync(MarketTick tick)
    {
        if (!state.State.Opened)
        {
            await UnregisterAsync(tick.Market);
            return null;
        }

        if (!_marks.ApplyMark(tick.Market, tick.Sequence, tick.Price))
        {
            return null; // stale: a newer tick of this market has already been applied
        }
        if (tick.ConfigVersion > _configVersion)
        {
            await LoadConfigAsync(tick.ConfigVersion);
        }

        if (!IsPricedBy(tick.Market))
        {
            await UnregisterAsync(tick.Market);
            return null;
        }

        await SettleStalePendingAsync(force: false);
        if (!tick.Evaluate)
        {
            return null;
        }

        if (Gated)
        {
            _marks.SetBandHeld(tick.Market, false); // the shard dropped our band to deliver this tick
            if (!Ungated)
            {
                await RefreshMarksAsync(except: tick.Market); // gated ticks of other markets did not come here
            }
        }

        return await EvaluateAndRebandAsync(tick.StepId);
    }

    public async Task<EvaluationReport?> EvaluateAsync(string step) =>
        state.State.Opened ? await EvaluateAndRebandAsync(step) : null;

    public Task<CommandResult> FillAsync(FillCommand command) =>
        ExecuteAsync("fill", command.CommandId, Fingerprint("fill", command.Market, command.Size, command.Price), async () =>
        {
            if (!Config.TryGetMarket(command.Market, out _))
            {
                await LoadConfigAsync(_configVersion + 1);
            }

            if (Config.TryGetMarket(command.Market, out _))
            {
                await EnsureMarketAsync(command.Market);
            }

            var check = AccountRules.CheckFill(command.Market, command.Size, command.Price, _marks, Config);
            if (check.Accepted)
            {
                Holdings.ApplyFill(command.Market, command.Size, command.Price);
            }

            return check.RejectReason;
        });

    public Task<CommandResult> DepositAsync(TransferCommand command) =>
        ExecuteAsync("deposit", command.CommandId, Fingerprint("deposit", command.Asset, command.Quantity), async () =>
        {
            if (!Config.TryGetCollateral(command.Asset, out _))
            {
                await LoadConfigAsync(_configVersion + 1);
            }

            var check = AccountRules.CheckDeposit(command.Asset, command.Quantity, Config);
            if (check.Accepted)
            {
                if (Config.TryGetCollateral(command.Asset, out var spec) && spec.PriceMarket is { } market)
                {
                    await EnsureMarketAsync(market);
                }

                Holdings.Deposit(command.Asset, command.Quantity);
            }

            return check.RejectReason;
        });

    public Task<CommandResult> WithdrawAsync(TransferCommand command) =>
        ExecuteAsync("withdrawal", command.CommandId, Fingerprint("withdraw", command.Asset, command.Quantity), () =>
        {
            var check = AccountRules.CheckWithdrawal(Holdings, command.Asset, command.Quantity, _marks, Config);
            if (check.Accepted)
            {
                Holdings.Withdraw(command.Asset, command.Quantity);
            }

            return ValueTask.FromResult(check.RejectReason);
        });

    public async Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price)
    {
        if (!state.State.Opened)
        {
            return new PreTradeView(false, RejectReasons.UnknownAccount, null, null);
        }

        if (Config.TryGetMarket(market, out _))
        {
            await FetchMarkAsync(market);
        }

        await RefreshIfGatedAsync();
        var result = AccountRules.PreTrade(Holdings, market, size, price, _marks, Config);
        return new PreTradeView(result.Allowed, result.Reason, result.HealthAfter?.Equity, result.HealthAfter?.InitialMargin);
    }

    public async Task<LiquidationCharge?> BeginLiquidationAsync(string liquidationId)
    {
        if (!state.State.Opened)
        {
            return null;
        }

        if (state.State.Pending is { } pending && pending.LiquidationId == liquidationId)
        {
            return pending.Charge(Id); // a retry of this very call
        }

        await SettleStalePendingAsync(force: true);
        return await BeginCoreAsync(liquidationId, coordinated: true) ? state.State.Pending!.Charge(Id) : null;
    }

    public async Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover)
    {
        if (state.State.Pending?.LiquidationId != liquidationId)
        {
            return [.. (state.State.Recent ?? []).Where(e => e.Step == liquidationId)]; // already completed
        }

        var events = await FinishPendingAsync(cover);
        await PublishAsync(events);
        await RebandAsync();
        return events;
    }

    public async Task<AccountView?> GetViewAsync()
    {
        if (!state.State.Opened)
        {
            return null;
        }

        await RefreshIfGatedAsync();
        var health = MarginCalculator.Evaluate(Holdings, _marks, Config);
        var positions = Holdings.Positions
            .Select(p =>
            {
                var hasMark = _marks.TryGetMark(p.Key, out var mark);
                return new PositionView(
                    p.Key,
                    p.Value.Size,
                    p.Value.Entry,
                    hasMark ? mark : null,
                    hasMark ? LiquidationPrice.For(Holdings, p.Key, _marks, Config) : null,
                    hasMark ? MarginCalculator.PositionMaintenance(Config.Market(p.Key), p.Value, mark) : null);
            })
            .ToImmutableArray();
        return new AccountView(
            Id,
            Holdings.Balances.ToImmutableSortedDictionary(StringComparer.Ordinal),
            positions,
            health.Equity,
            health.MaintenanceMargin,
            health.InitialMargin,
            health.Health,
            health.Status.ToWire(),
            state.State.Version)
        {
            RealizedPnl = Holdings.RealizedPnl,
            CollateralSoldValue = Holdings.CollateralSoldValue,
            NetUsdTransfers = Holdings.NetUsdTransfers,
        };
    }

    public Task<ImmutableArray<GridEvent>> GetRecentEventsAsync() => Task.FromResult(state.State.Recent?.ToImmutableArray() ?? []);

    private async Task<CommandResult> ExecuteAsync(
        string type, string commandId, string fingerprint, Func<ValueTask<string?>> apply)
    {
        if (string.IsNullOrWhiteSpace(commandId))
        {
            throw new ArgumentException("a command needs a command id", nameof(commandId));
        }

        if (!state.State.Opened)
        {
            var unknown = NewEvent(GridEventType.Rejected, commandId) with { Reason = RejectReasons.UnknownAccount };
            observer.EventEmitted(unknown);
            observer.Command(type, "rejected");
            await PublishAsync([unknown]);
            return new CommandResult(commandId, false, RejectReasons.UnknownAccount, [unknown], 0);
        }

        var stored = state.State.Commands?.Find(c => c.CommandId == commandId);
        if (stored is not null)
        {
            if (stored.Fingerprint != fingerprint)
            {
                throw new CommandConflictException(commandId);
            }

            observer.Command(type, "duplicate");
            return stored.Result with { Duplicate = true };
        }

        await SettleStalePendingAsync(force: true);
        await RefreshIfGatedAsync(); // decide commands at current marks, not at the last crossed band's
        var reason = await apply();
        var events = new List<GridEvent>();
        EvaluationReport? report = null;
        if (reason is not null)
        {
            events.Add(Record(NewEvent(GridEventType.Rejected, commandId) with { Reason = reason }));
        }
        else
        {
            await SyncMarketsAsync();
            report = Evaluate(commandId);
            if (report?.MarginCall is { } marginCall)
            {
                events.Add(marginCall);
            }
        }

        Remember(commandId, fingerprint, reason, events);
        await PersistAsync();

        if (report is { NeedsLiquidation: true })
        {
            events.AddRange(await LiquidateCoreAsync($"{commandId}/liquidation"));
            Remember(commandId, fingerprint, reason, events);
            await PersistAsync();
        }

        observer.Command(type, reason is null ? "accepted" : "rejected");
        await PublishAsync(events);
        await RebandAsync();
        return state.State.Commands![^1].Result;
    }

    private void Remember(string commandId, string fingerprint, string? reason, List<GridEvent> events)
    {
        var result = new CommandResult(commandId, reason is null, reason, [.. events], state.State.Version + 1);
        var commands = state.State.Commands ??= [];
        if (commands.Count > 0 && commands[^1].CommandId == commandId)
        {
            commands[^1] = new StoredCommand(commandId, fingerprint, result);
            return;
        }

        commands.Add(new StoredCommand(commandId, fingerprint, result));
        if (commands.Count > _options.RememberedCommands)
        {
            commands.RemoveRange(0, commands.Count - _options.RememberedCommands);
        }
    }

    private async Task<EvaluationReport?> EvaluateStepAsync(string step)
    {
        var before = state.State.LastStatus;
        var report = Evaluate(step);
        if (state.State.LastStatus != before)
        {
            await PersistAsync();
        }

        if (report?.MarginCall is { } marginCall)
        {
            await PublishAsync([marginCall]);
        }

        return report;
    }

    /// <summary>Evaluates at the current marks, emits a margin call on a move away from Healthy, and reports what the step must act on.</summary>
    private EvaluationReport? Evaluate(string step)
    {
        if (TryEvaluate(step) is not { } health)
        {
            return null;
        }

        var status = health.Status.ToWire();
        GridEvent? marginCall = null;
        if (MarginCalls.Emits(state.State.LastStatus.ToDomain(), health.Status))
        {
            marginCall = Record(NewEvent(GridEventType.MarginCall, step) with { Status = status });
        }

        SetStatus(status);
        return marginCall is not null || health.NeedsLiquidation
            ? new EvaluationReport(Id, status, health.HasPositions, health.Equity, health.MaintenanceMargin, marginCall)
            : null;
    }

    /// <summary>The account's health at its marks; null (logged) when a mark it needs is not known yet.</summary>
    private AccountHealth? TryEvaluate(string step)
    {
        try
        {
            return MarginCalculator.Evaluate(Holdings, _marks, Config);
        }
        catch (MissingMarkException e)
        {
            logger.LogWarning("Account {Account} cannot be evaluated at step {Step}: {Reason}", Id, step, e.Message);
            return null;
        }
    }

    /// <summary>Liquidates on this account's own step (a command): close out, then settle with the fund directly.</summary>
    private async Task<ImmutableArray<GridEvent>> LiquidateCoreAsync(string liquidationId) =>
        await BeginCoreAsync(liquidationId, coordinated: false) ? await SettlePendingAsync() : [];

    /// <summary>Runs the domain liquidation if still needed and persists it with the fund settlement outstanding.</summary>
    private async Task<bool> BeginCoreAsync(string liquidationId, bool coordinated)
    {
        if (state.State.Liquidations?.Contains(liquidationId) == true)
        {
            return false;
        }

        if (TryEvaluate(liquidationId) is not { } health || !health.NeedsLiquidation)
        {
            return false; // a later price, deposit or fill has made it safe since the step reported it
        }

        var result = Liquidator.Liquidate(Holdings, _marks, Config);
        var events = new List<GridEvent>(result.Closes.Count + result.Sales.Count + 1);
        foreach (var close in result.Closes)
        {
            events.Add(NewEvent(GridEventType.Liquidation, liquidationId) with
            {
                Market = close.Market,
                Quantity = close.Quantity,
                Price = close.Price,
                Penalty = close.Penalty,
            });
        }

        foreach (var sale in result.Sales)
        {
            events.Add(NewEvent(GridEventType.CollateralLiquidation, liquidationId) with
            {
                Asset = sale.Asset,
                Quantity = sale.Quantity,
                Price = sale.Price,
                Discount = sale.Discount,
            });
        }

        state.State.Pending = new PendingLiquidation(liquidationId, result.FundIncome, result.Deficit, events, clock.UtcNow)
        {
            Coordinated = coordinated,
        };
        var liquidations = state.State.Liquidations ??= [];
        liquidations.Add(liquidationId);
        if (liquidations.Count > _options.RememberedCommands)
        {
            liquidations.RemoveAt(0);
        }

        await PersistAsync();
        return true;
    }

    /// <summary>Settles an outstanding liquidation with the fund directly (idempotent there by liquidation id).</summary>
    private async Task<ImmutableArray<GridEvent>> SettlePendingAsync()
    {
        var pending = state.State.Pending!;
        var fund = GrainFactory.GetGrain<IInsuranceFundGrain>(0);
        var cover = await fund.ApplyLiquidationAsync(pending.Charge(Id));
        var events = await FinishPendingAsync(cover);
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
                logger.LogWarning(e, "Account {Account}: the insurance fund could not forget liquidation {Liquidation}; it expires instead", Id, pending.LiquidationId);
            }
        }

        await PublishAsync(events);
        return events;
    }

    /// <summary>
    /// A liquidation begun for the coordinator that the coordinator never completed (it failed over): settle it
    /// ourselves once it is old enough, or at once before anything else changes the holdings.
    /// </summary>
    private async Task SettleStalePendingAsync(bool force)
    {
        if (state.State.Pending is { } pending && (force || clock.UtcNow - pending.StartedAt > _options.PendingLiquidationTimeout))
        {
            await SettlePendingAsync();
        }
    }

    private async Task<ImmutableArray<GridEvent>> FinishPendingAsync(BankruptcyCoverView? cover)
    {
        var pending = state.State.Pending!;
        var events = new List<GridEvent>(pending.Events);
        if (cover is not null)
        {
            events.Add(NewEvent(GridEventType.Bankruptcy, pending.LiquidationId) with
            {
                Deficit = cover.Deficit,
                InsuranceCovered = cover.InsuranceCovered,
                Socialized = cover.Socialized,
            });
        }

        foreach (var e in events)
        {
            Record(e);
        }

        try
        {
            SetStatus(MarginCalculator.Evaluate(Holdings, _marks, Config).Status.ToWire());
        }
        catch (MissingMarkException)
        {
            // Reactivated without marks: the next tick sets the status.
        }

        state.State.Pending = null;
        await PersistAsync();
        return [.. events];
    }

    private bool IsPricedBy(string market)
    {
        if (Holdings.PositionIn(market) is not null)
        {
            return true;
        }

        foreach (var (asset, q) in Holdings.Balances)
        {
            if (q > 0m && Config.TryGetCollateral(asset, out var spec) && spec.PriceMarket == market)
            {
                return true;
            }
        }

        return false;
    }

    private bool Gated => _options.FanOut == FanOutMode.Gated;

    /// <summary>
    /// True when no shard holds a band for this account (it is not Healthy): every tick of its markets reaches it, so
    /// its marks are current without asking the markets.
    /// </summary>
    private bool Ungated => Holdings.PricedBy(Config).All(m => _marks.BandHeld(m) == false);

    /// <summary>With gating, ticks inside the bands never reach the account: fetch the current marks before deciding anything.</summary>
    private Task RefreshIfGatedAsync() => Gated ? RefreshMarksAsync() : Task.CompletedTask;

    /// <summary>Evaluates as a step; with gating, a Healthy account then hands its shards new safe bands.</summary>
    private async Task<EvaluationReport?> EvaluateAndRebandAsync(string step)
    {
        var report = await EvaluateStepAsync(step);
        if (report is not { NeedsLiquidation: true })
        {
            await RebandAsync(); // a liquidatable account stays unbanded: the liquidation re-bands it
        }

        return report;
    }

    /// <summary>Fetches the current mark of every market that prices this account (except one), from the market grains.</summary>
    private async Task RefreshMarksAsync(string? except = null)
    {
        var markets = Holdings.PricedBy(Config).Where(m => m != except).ToList();
        var marks = await Task.WhenAll(markets.Select(m => GrainFactory.GetGrain<IMarketGrain>(m).GetMarkAsync()));
        foreach (var mark in marks)
        {
            if (mark is not null)
            {
                _marks.ApplyMark(mark.Market, mark.Sequence, mark.Price);
            }
        }
    }

    /// <summary>
    /// Gated fan-out: computes this account's safe bands (none unless Healthy) and hands each to its shard. A shard that
    /// has seen a newer tick than the marks the band was computed at returns it; the account then takes it and settles
    /// a step of its own (margin call, liquidation), since that tick's step did not include it, and bands again.
    /// </summary>
    private async Task RebandAsync()
    {
        if (!Gated || !state.State.Opened)
        {
            return;
        }

        for (var attempt = 0; attempt < 4; attempt++)
        {
            IReadOnlyDictionary<string, SafeBand>? bands;
            try
            {
                bands = SafeBands.For(Holdings, _marks, Config);
            }
            catch (MissingMarkException)
            {
                bands = null;
            }

            var markets = Holdings.PricedBy(Config);
            var replies = await Task.WhenAll(markets.Select(m =>
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
            var report = await EvaluateStepAsync(step);
            if (report is { NeedsLiquidation: true })
            {
                await LiquidateCoreAsync($"{step}:{Id}/self");
                continue;
            }
        }

        logger.LogWarning("Account {Account} could not settle its safe bands; its holders deliver every tick until it does", Id);
    }

    private void SetStatus(RiskStatus status)
    {
        if (status != state.State.LastStatus)
        {
            observer.StatusChanged(state.State.LastStatus, status);
            state.State.LastStatus = status;
        }
    }

    private GridEvent NewEvent(GridEventType type, string step) => new(type, Id, step, clock.UtcNow);

    private GridEvent Record(GridEvent e)
    {
        var recent = state.State.Recent ??= [];
        recent.Add(e);
        if (recent.Count > _options.RecentEvents)
        {
            recent.RemoveRange(0, recent.Count - _options.RecentEvents);
        }

        observer.EventEmitted(e);
        return e;
    }

    private async Task PublishAsync(IReadOnlyCollection<GridEvent> events)
    {
        if (events.Count == 0)
        {
            return;
        }

        try
        {
            _stream ??= this.GetStreamProvider(GridStreams.Provider)
                .GetStream<GridEvent>(StreamId.Create(GridStreams.Namespace, GridStreams.AllKey));
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

    /// <summary>Persists the holdings; a failed write deactivates the grain so that the next call reloads what is stored.</summary>
    private async Task PersistAsync()
    {
        state.State.Version++;
        try
        {
            await state.WriteStateAsync();
        }
        catch
        {
            DeactivateOnIdle();
            throw;
        }
    }

    private async Task LoadConfigAsync(long minVersion)
    {
        (_config, _configVersion) = await configs.GetAsync(Math.Max(1, minVersion));
    }

    /// <summary>Registers with the holder shard of every market that prices this account and fetches missing marks.</summary>
    private async Task SyncMarketsAsync()
    {
        foreach (var market in Holdings.PricedBy(Config))
        {
            await EnsureMarketAsync(market);
        }
    }

    private async Task EnsureMarketAsync(string market)
    {
        if (_marks.Register(market))
        {
            await Shard(market).RegisterAsync(Id);
            if (_options.FanOut == FanOutMode.Streams)
            {
                await SubscribeTicksAsync(market);
            }
        }

        await FetchMarkAsync(market);
    }

    private async Task FetchMarkAsync(string market)
    {
        if (_marks.TryGetMark(market, out _))
        {
            return;
        }

        if (await GrainFactory.GetGrain<IMarketGrain>(market).GetMarkAsync() is { } mark)
        {
            _marks.ApplyMark(market, mark.Sequence, mark.Price);
        }
    }

    private async Task UnregisterAsync(string market)
    {
        _marks.Unregister(market);
        await Shard(market).UnregisterAsync(Id);
        if (_options.FanOut == FanOutMode.Streams)
        {
            foreach (var handle in await TickStream(market).GetAllSubscriptionHandles())
            {
                await handle.UnsubscribeAsync();
            }
        }
    }

    private IAsyncStream<MarketTick> TickStream(string market) =>
        this.GetStreamProvider(GridProviders.TickStreams).GetStream<MarketTick>(StreamId.Create("ticks", market));

    /// <summary>Streams fan-out: one explicit subscription per market, resumed (not duplicated) after a reactivation.</summary>
    private async Task SubscribeTicksAsync(string market)
    {
        var stream = TickStream(market);
        var handles = await stream.GetAllSubscriptionHandles();
        if (handles.Count == 0)
        {
            await stream.SubscribeAsync(OnStreamTickAsync);
            return;
        }

        foreach (var handle in handles)
        {
            await handle.ResumeAsync(OnStreamTickAsync);
        }
    }

    private async Task OnStreamTickAsync(MarketTick tick, StreamSequenceToken? token)
    {
        var report = await OnTickAsync(tick);
        await GrainFactory.GetGrain<IMarketGrain>(tick.Market).AckTickAsync(tick.Sequence, report);
    }

    private IMarketShardGrain Shard(string market) =>
        GrainFactory.GetGrain<IMarketShardGrain>(StableHash.ShardKey(market, StableHash.Shard(Id, _options.ShardsPerMarket)));

    private static string Fingerprint(string type, string subject, params decimal[] amounts) =>
        string.Join('|', [type, subject, .. amounts.Select(a => DecimalMath.Normalize(a).ToString(CultureInfo.InvariantCulture))]);
}
