using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

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
    private AccountMarkets? _markets;
    private AccountEvents? _events;
    private RiskConfiguration? _config;
    private long _configVersion;

    private string Id => this.GetPrimaryKeyString();

    private Account Account => state.State.Account ??= new Account(Id);

    private IAuctionHouseGrain House => GrainFactory.GetGrain<IAuctionHouseGrain>(0);

    /// <summary>v3: whether any collateral is auctioned (the registry is consulted only then).</summary>
    private bool Auctions => Config.Collateral.Any(c => c.Auction is not null);

    private AccountMarkets Markets => _markets ??= new AccountMarkets(GrainFactory, Id, _options);

    private IMarks Marks => Markets.Marks;

    private AccountEvents Events => _events ??= new AccountEvents(this, () => state.State.Recent ??= [], _options.RecentEvents, observer, clock, logger);

    private RiskConfiguration Config => _config ?? throw new InvalidOperationException("configuration not loaded");

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Account.Opened)
        {
            await LoadConfigAsync(1);
            await Markets.LinkAsync(Account.PricedBy(Config), refresh: false);
            await SettlePendingAsync(force: true); // a liquidation applied here whose fund settlement was not confirmed
            if (Account.Auction is not null)
            {
                await House.RegisterAsync(RegisteredAuction.Of(Id, Account.Auction)); // in case its registration was lost
            }
        }
    }

    public Task<bool> ExistsAsync() => Task.FromResult(Account.Opened);

    public async Task OpenAsync(AccountSeed seed)
    {
        // The newest configuration, not this silo's cached copy: a configuration change may have moved what prices an asset.
        (_config, _configVersion) = await configs.RefreshAsync();
        var holdings = seed.ToPortfolio();

        var undo = Account.Save();
        Account.Open(holdings, Config);
        await PersistAsync(undo);
        observer.StatusChanged(null, RiskStatus.Healthy);
        await Markets.LinkAsync(Account.PricedBy(Config), refresh: false);
        await RebandAsync();
    }

    public async Task<EvaluationReport?> OnTickAsync(MarketTick tick)
    {
        if (!Account.Opened)
        {
            await Markets.UnlinkAsync(tick.Market);
            return null;
        }

        if (!Markets.TakeTick(tick))
        {
            return null; // stale: a newer tick of this market has already been applied
        }

        if (tick.ConfigVersion > _configVersion)
        {
            await LoadConfigAsync(tick.ConfigVersion);
        }

        if (!Account.IsPricedBy(tick.Market, Config))
        {
            await Markets.UnlinkAsync(tick.Market);
            return null;
        }

        await SettlePendingAsync(force: false);
        return tick.Evaluate ? await StepAsync(tick.StepId, except: tick.Market) : null;
    }

    public async Task<EvaluationReport?> EvaluateAsync(string step) => Account.Opened ? await StepAsync(step) : null;

    public Task<CommandResult> FillAsync(FillCommand c) => ExecuteAsync(new AccountCommand.Fill(c.CommandId, c.Market, c.Size, c.Price));

    public Task<CommandResult> DepositAsync(TransferCommand c) => ExecuteAsync(new AccountCommand.Deposit(c.CommandId, c.Asset, c.Quantity));

    public Task<CommandResult> WithdrawAsync(TransferCommand c) => ExecuteAsync(new AccountCommand.Withdrawal(c.CommandId, c.Asset, c.Quantity));

    public async Task<CommandResult> BidAsync(BidCommand c)
    {
        var command = new AccountCommand.Bid(c.CommandId, c.Target, c.Asset, c.Quantity, c.MaxPrice);
        if (await StartCommandAsync(command) is { } answered)
        {
            return answered;
        }

        var before = await EndExpiredAuctionsAsync(command.CommandId);
        string? reason = null;
        (decimal Quantity, decimal Payment) take = default;
        if (command.Target == Id)
        {
            reason = DutchAuction.OwnAuction;
        }
        else
        {
            var target = GrainFactory.GetGrain<IAccountRiskGrain>(command.Target);
            var quote = await target.AuctionQuoteAsync(command.Asset);
            reason = !quote.Exists ? RejectReasons.UnknownAccount
                : command.Quantity <= 0m ? RejectReasons.InvalidQuantity
                : command.MaxPrice <= 0m ? RejectReasons.InvalidPrice
                : !quote.Running ? DutchAuction.NoRunningAuction
                : quote.Price > command.MaxPrice ? DutchAuction.PriceAboveMaximum
                : null;
            if (reason is null)
            {
                take = DutchAuction.Take(quote.Debt, quote.Price, command.Quantity, quote.Lot);
                if (!Account.CanPurchase(command.Asset, take.Quantity, take.Payment, Marks, Config))
                {
                    reason = RejectReasons.InitialMargin;
                }
            }

            if (reason is null)
            {
                var taken = await target.TakeAtAuctionAsync(
                    new AuctionTakeOrder($"{Id}/{command.CommandId}", Id, command.Asset, take.Quantity, take.Payment, quote.Price));
                if (taken.Taken)
                {
                    before.AddRange(taken.Events);
                }
                else
                {
                    reason = DutchAuction.NoRunningAuction; // it changed since the quote
                }
            }
        }

        var now = clock.UtcNow;
        var undo = Account.Save();
        var step = reason is null
            ? Account.Purchase(command, take.Quantity, take.Payment, before, Marks, Config, now, _options.CommandRetention)
            : Account.Reject(command, reason, before, now, _options.CommandRetention);
        return await FinishCommandAsync(command, step, undo, before.Count);
    }

    public async Task<AuctionQuote> AuctionQuoteAsync(string asset)
    {
        if (!Account.Opened)
        {
            return new AuctionQuote(false, false, 0m, 0m, 0m);
        }

        return Account.AuctionQuote(asset, clock.UtcNow, Config) is { } q
            ? new AuctionQuote(true, true, q.Price, q.Lot, q.Debt)
            : new AuctionQuote(true, false, 0m, 0m, 0m);
    }

    public async Task<AuctionTakeResult> TakeAtAuctionAsync(AuctionTakeOrder order)
    {
        if (!Account.Opened)
        {
            return new AuctionTakeResult(false, []);
        }

        if (Account.RecentLiquidations.Contains(order.BidId, StringComparer.Ordinal))
        {
            // A retry of this very bid: its events as published.
            return new AuctionTakeResult(true, [.. (state.State.Recent ?? []).Where(e => e.Step == order.BidId || e.Step == $"{order.BidId}/end").Select(e => e.ToModel())]);
        }

        await SettlePendingAsync(force: true);
        await Markets.LinkAsync(Account.PricedBy(Config), refresh: true);
        var undo = Account.Save();
        var events = Account.TakeAtAuction(order.BidId, order.Liquidator, order.Asset, order.Quantity, order.Payment, order.Price, Marks, Config, clock.UtcNow);
        if (events is null)
        {
            return new AuctionTakeResult(false, []);
        }

        await PersistAsync(undo);
        await Events.EmitAsync(events, order.BidId);
        var settled = await SettlePendingAsync(force: true);
        await RebandAsync();
        return new AuctionTakeResult(true, [.. events, .. settled]);
    }

    public async Task<ImmutableArray<ModelEvent>> EndExpiredAuctionAsync(string step)
    {
        if (!Account.Opened || Account.Auction is null || !Account.AuctionExpired(clock.UtcNow, Config))
        {
            return [];
        }

        return [.. await EndOwnAuctionAsync(step)];
    }

    /// <summary>v3: ends this account's expired auction (the lot sold to the system, step 2 resumed, the deficit covered).</summary>
    private async Task<List<ModelEvent>> EndOwnAuctionAsync(string step)
    {
        await SettlePendingAsync(force: true);
        await Markets.LinkAsync(Account.PricedBy(Config), refresh: true);
        var undo = Account.Save();
        var events = new List<ModelEvent>(Account.EndAuction($"{step}:{Id}/auction-end", sellLot: true, Marks, Config, clock.UtcNow));
        await PersistAsync(undo);
        await Events.EmitAsync(events, step);
        events.AddRange(await SettlePendingAsync(force: true));
        await RebandAsync();
        return events;
    }

    /// <summary>
    /// v3, at the start of a command step: every expired auction ends, by account id — this account's here, the others'
    /// through the registry (which never calls this account back). Nothing when no collateral is auctioned.
    /// </summary>
    private async Task<List<ModelEvent>> EndExpiredAuctionsAsync(string step)
    {
        if (!Auctions)
        {
            return [];
        }

        var own = Account.AuctionExpired(clock.UtcNow, Config) ? await EndOwnAuctionAsync(step) : [];
        var others = await House.EndExpiredAsync(step, except: Id);
        return [.. others.Select(o => (o.Account, Events: (IReadOnlyList<ModelEvent>)o.Events))
            .Append((Account: Id, Events: own))
            .OrderBy(o => o.Account, StringComparer.Ordinal)
            .SelectMany(o => o.Events)];
    }

    public async Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price)
    {
        if (!Account.Opened)
        {
            return new PreTradeView(false, RejectReasons.UnknownAccount, null, null);
        }

        await Markets.RefreshAsync([.. Account.PricedBy(Config).Append(market).Where(m => Config.TryGetMarket(m, out _)).Distinct()]);
        var result = AccountRules.PreTrade(Account.Holdings, market, size, price, Marks, Config);
        return new PreTradeView(result.Allowed, result.Reason, result.HealthAfter?.Equity, result.HealthAfter?.InitialMargin);
    }

    public async Task<LiquidationCharge?> BeginLiquidationAsync(LiquidationOrder order)
    {
        if (Account.Outbox is { } pending && pending.LiquidationId == order.LiquidationId)
        {
            return pending.ToCharge(Id); // a retry of this very call
        }

        await SettlePendingAsync(force: true);
        var undo = Account.Save();
        if (!Account.Opened || !Apply(order, coordinated: true))
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

        var (_, events) = await CompleteAsync(cover);
        await RebandAsync();
        return events;
    }

    public async Task ApplyAdlAsync(string adlId, AdlOrder close)
    {
        var undo = Account.Save();
        if (Account.ApplyAdl(adlId, close.Market, close.Quantity, close.Price))
        {
            await PersistAsync(undo);
            await RebandAsync();
        }
    }

    public Task<AccountSnapshot?> SnapshotAsync() => Task.FromResult(Account.Opened ? Snapshot() : null);

    private AccountSnapshot Snapshot() => new(Id, Account.Holdings.ToSeed(), Account.Version, Account.Auction is not null);

    private bool Apply(LiquidationOrder order, bool coordinated, string? commandId = null, IReadOnlyList<ModelEvent>? batches = null) =>
        Account.ApplyLiquidation(
            order.LiquidationId,
            order.Version,
            order.ToDomain(),
            order.DeferReason,
            coordinated,
            clock.UtcNow,
            commandId,
            order.AdlRecovered,
            [.. order.Adl.Select(a => new AdlClose(a.Account, a.Market, a.Quantity, a.Price, a.Counterparty))],
            batches);

    public async Task<AccountView?> GetViewAsync()
    {
        if (!Account.Opened)
        {
            return null;
        }

        await Markets.RefreshAsync(Account.PricedBy(Config));
        return Account.ToView(Marks, Config);
    }

    public Task<ImmutableArray<GridEvent>> GetRecentEventsAsync() => Task.FromResult(state.State.Recent?.ToImmutableArray() ?? []);

    /// <summary>A command step: current marks of every market it touches, the aggregate's decision, persisted before the answer.</summary>
    private async Task<CommandResult> ExecuteAsync(AccountCommand command)
    {
        if (await StartCommandAsync(command) is { } answered)
        {
            return answered;
        }

        var before = await EndExpiredAuctionsAsync(command.CommandId);
        var now = clock.UtcNow;
        var undo = Account.Save();
        var step = Account.Execute(command, Marks, Config, now, _options.CommandRetention, before);
        return await FinishCommandAsync(command, step, undo, before.Count);
    }

    /// <summary>A command step's end: its own liquidation, one write, its events (after the step's earlier ones), the fund.</summary>
    private async Task<CommandResult> FinishCommandAsync(AccountCommand command, CommandStep step, Account.Memento undo, int earlier)
    {
        await DecideOwnLiquidationAsync(command.CommandId, step.NeedsLiquidation, undo, command.CommandId);
        await PersistAsync(undo); // the command, its record and its liquidation's outbox: one write
        await Events.EmitAsync([.. step.Record.Events.Skip(earlier)], command.CommandId);
        await SettlePendingAsync(force: true);
        observer.Command(command.Kind, step.Record.Accepted ? "accepted" : "rejected");
        await RebandAsync();
        return ToResult(FindCommand(command)!);
    }

    /// <summary>The start of a command step: an answer when there is nothing to decide (unknown account, a retry); else links current marks.</summary>
    private async Task<CommandResult?> StartCommandAsync(AccountCommand command)
    {
        if (string.IsNullOrWhiteSpace(command.CommandId))
        {
            throw new ArgumentException("a command needs a command id", nameof(command));
        }

        if (!Account.Opened)
        {
            var unknown = new ModelEvent(ModelEventType.Rejected, Id) { Reason = RejectReasons.UnknownAccount }.ToGrid(command.CommandId, clock.UtcNow);
            observer.EventEmitted(unknown);
            observer.Command(command.Kind, "rejected");
            await Events.PublishAsync([unknown]);

            // v3: the step still starts by ending the expired auctions (of other accounts: this one has none).
            var ended = ImmutableArray<AccountStepEvents>.Empty;
            if (configs.Version > 0 && (await configs.GetAsync()).Config.Collateral.Any(c => c.Auction is not null))
            {
                ended = await House.EndExpiredAsync(command.CommandId, except: Id);
            }

            var at = clock.UtcNow;
            return new CommandResult(
                command.CommandId, false, RejectReasons.UnknownAccount, [.. ended.SelectMany(e => e.Events).Select(e => e.ToGrid(command.CommandId, at)), unknown], 0);
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

        await Markets.LinkAsync(Account.MarketsNeeded(Config, command), refresh: true); // decide at current marks
        return null;
    }

    private CommandRecord? FindCommand(AccountCommand command) =>
        Account.Commands.Find(command.CommandId) is { } stored && stored.Fingerprint != command.Fingerprint
            ? throw new CommandConflictException(command.CommandId)
            : Account.FindCommand(command);

    /// <summary>Evaluates at current marks (fetching those whose ticks were gated), reports what the step must act on, re-bands.</summary>
    private async Task<EvaluationReport?> StepAsync(string step, string? except = null)
    {
        await Markets.RefreshIfGatedAsync(Account.PricedBy(Config), except);
        Evaluation evaluation;
        var undo = Account.Save();
        try
        {
            evaluation = Account.Evaluate(Marks, Config);
        }
        catch (Exception e) when (e is MissingMarkException or ArithmeticException)
        {
            // One account that cannot be evaluated never stops the step for the others; nothing of it has changed.
            observer.EvaluationFailed(Id);
            logger.LogError(e, "Account {Account} cannot be evaluated at step {Step}", Id, step);
            return null;
        }

        if (undo.Status != Account.Status || undo.Armed != Account.MarginCallArmed)
        {
            await PersistAsync(undo);
        }

        var health = evaluation.Health;
        var marginCall = evaluation.MarginCall is { } call
            ? (await Events.EmitAsync([call], step, e => e with
            {
                // What justified it, for the audit trail: the equity, the requirement and the marks of the step.
                Equity = health.Equity,
                MaintenanceMargin = health.MaintenanceMargin,
                Marks = Account.PricedBy(Config).Where(m => Marks.TryGetMark(m, out _))
                    .ToImmutableSortedDictionary(m => m, m => Marks.TryGetMark(m, out var p) ? p : 0m, StringComparer.Ordinal),
            }))[0]
            : null;

        if (!evaluation.NeedsLiquidation)
        {
            await RebandAsync(); // a liquidatable account stays unbanded: its liquidation re-bands it
        }

        return marginCall is not null || evaluation.NeedsLiquidation
            ? new EvaluationReport(Id, health.Status.ToWire(), health.HasPositions, health.Equity, health.MaintenanceMargin, marginCall)
            {
                Holdings = evaluation.NeedsLiquidation ? Account.Holdings.ToSeed() : null,
                Version = Account.Version,
                InAuction = Account.Auction is not null,
            }
            : null;
    }

    /// <summary>Settles an outstanding liquidation with the fund (idempotent there by id): at once, or once the coordinator is overdue.</summary>
    private async Task<IReadOnlyList<ModelEvent>> SettlePendingAsync(bool force)
    {
        if (Account.Outbox is not { } pending || (!force && clock.UtcNow - pending.StartedAt <= _options.PendingLiquidationTimeout))
        {
            return [];
        }

        var fund = GrainFactory.GetGrain<IFundLedgerGrain>(0);
        var cover = await fund.ApplyLiquidationAsync(pending.ToCharge(Id));
        await Task.WhenAll(pending.Adl.Select((c, i) =>
            GrainFactory.GetGrain<IAccountRiskGrain>(c.Account).ApplyAdlAsync($"{pending.LiquidationId}/adl/{i}", c.ToOrder())));
        var (events, _) = await CompleteAsync(cover);
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

        return events;
    }

    private async Task<(IReadOnlyList<ModelEvent> Model, ImmutableArray<GridEvent> Published)> CompleteAsync(BankruptcyCoverView? cover)
    {
        var pending = Account.Outbox!;
        var undo = Account.Save();
        var events = Account.CompleteLiquidation(cover?.ToDomain(), Marks, Config);
        await PersistAsync(undo);

        return (events, await Events.EmitAsync(events, pending.LiquidationId));
    }

    /// <summary>
    /// Gated fan-out: hands the shards this account's safe bands (none unless Healthy). A shard that has seen a newer tick
    /// than the band's marks returns it; that tick's step did not include this account, so it settles a step of its own
    /// (margin call, liquidation) and bands again.
    /// </summary>
    private async Task RebandAsync()
    {
        for (var attempt = 0; Account.Opened && attempt < 4; attempt++)
        {
            var newer = await Markets.BandAsync(Account.PricedBy(Config), Account.SafeBands(Marks, Config));
            if (newer.Count == 0)
            {
                return;
            }

            var step = newer[^1].StepId;
            if (await StepAsync(step) is { NeedsLiquidation: true })
            {
                await LiquidateSelfAsync($"{step}:{Id}/self");
            }
        }

        logger.LogWarning("Account {Account} could not settle its safe bands; its holders deliver every tick until it does", Id);
    }

    /// <summary>This account's own step found it liquidatable: liquidate it and settle with the fund directly.</summary>
    private async Task LiquidateSelfAsync(string step)
    {
        var undo = Account.Save();
        await DecideOwnLiquidationAsync(step, true, undo);
        if (Account.Outbox is not null)
        {
            await PersistAsync(undo);
            await SettlePendingAsync(force: true);
        }
    }

    /// <summary>
    /// The liquidation of this account's own step, decided by the coordinator like any step's (a step of one) and
    /// applied here in memory; also tells the coordinator when the step took a cap-queued account out of danger.
    /// </summary>
    private async Task DecideOwnLiquidationAsync(string step, bool needed, Account.Memento undo, string? commandId = null)
    {
        var coordinator = GrainFactory.GetGrain<ILiquidationCoordinatorGrain>(0);
        try
        {
            if (needed && Account.Auction is null)
            {
                var decision = await coordinator.DecideAsync(step, Snapshot(), _configVersion);
                Apply(decision.Order, coordinated: false, commandId, decision.Batches);
            }
            else if (Account.CapDeferred)
            {
                await coordinator.DequeueAsync(Id);
            }
        }
        catch
        {
            Account.Restore(undo); // not applied: the caller's answer is a failure
            throw;
        }
    }

    private CommandResult ToResult(CommandRecord record) =>
        new(record.CommandId, record.Accepted, record.Reason, [.. record.Events.Select(e => e.ToGrid(record.CommandId, record.At))], record.Version);

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

        if (undo.Status != Account.Status)
        {
            observer.StatusChanged(undo.Status.ToWire(), Account.Status.ToWire());
        }

        if (undo.Auction != Account.Auction)
        {
            await (Account.Auction is { } auction ? House.RegisterAsync(RegisteredAuction.Of(Id, auction)) : House.UnregisterAsync(Id));
        }
    }

    private async Task LoadConfigAsync(long minVersion) => (_config, _configVersion) = await configs.GetAsync(Math.Max(1, minVersion));
}
