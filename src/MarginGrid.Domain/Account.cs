using System.Globalization;

namespace MarginGrid.Domain;

/// <summary>A command an account takes from the exchange (MARGIN-MODEL.md, "Fills, deposits, withdrawals").</summary>
public abstract record AccountCommand(string CommandId)
{
    /// <summary>"fill", "deposit" or "withdrawal".</summary>
    public abstract string Kind { get; }

    /// <summary>The body of the command, to tell a retry (same body) from a conflicting reuse of its id.</summary>
    public abstract string Fingerprint { get; }

    /// <summary>The market whose mark deciding this command needs besides the account's own (none for USD).</summary>
    public abstract string? MarketNeeded(RiskConfiguration config);

    /// <summary>Whether the market or asset the command names is configured (if not, a newer configuration may know it).</summary>
    public bool IsKnownTo(RiskConfiguration config) => this switch
    {
        Fill f => config.TryGetMarket(f.Market, out _),
        Deposit d => config.TryGetCollateral(d.Asset, out _),
        Withdrawal w => config.TryGetCollateral(w.Asset, out _),
        Bid b => config.TryGetCollateral(b.Asset, out _),
        _ => true,
    };

    protected static string Print(string type, string subject, params decimal[] amounts) =>
        string.Join('|', [type, subject, .. amounts.Select(a => DecimalMath.Normalize(a).ToString(CultureInfo.InvariantCulture))]);

    public sealed record Fill(string CommandId, string Market, decimal Size, decimal Price) : AccountCommand(CommandId)
    {
        public override string Kind => "fill";

        public override string Fingerprint => Print("fill", Market, Size, Price);

        public override string? MarketNeeded(RiskConfiguration config) => config.TryGetMarket(Market, out _) ? Market : null;
    }

    public sealed record Deposit(string CommandId, string Asset, decimal Quantity) : AccountCommand(CommandId)
    {
        public override string Kind => "deposit";

        public override string Fingerprint => Print("deposit", Asset, Quantity);

        public override string? MarketNeeded(RiskConfiguration config) =>
            config.TryGetCollateral(Asset, out var spec) ? spec.PriceMarket : null;
    }

    /// <summary>v3: a bid of this account (the liquidator) on <see cref="Target"/>'s running auction of <see cref="Asset"/>.</summary>
    public sealed record Bid(string CommandId, string Target, string Asset, decimal Quantity, decimal MaxPrice) : AccountCommand(CommandId)
    {
        public override string Kind => "bid";

        public override string Fingerprint => Print("bid", Target + "|" + Asset, Quantity, MaxPrice);

        public override string? MarketNeeded(RiskConfiguration config) =>
            config.TryGetCollateral(Asset, out var spec) ? spec.PriceMarket : null;
    }

    public sealed record Withdrawal(string CommandId, string Asset, decimal Quantity) : AccountCommand(CommandId)
    {
        public override string Kind => "withdrawal";

        public override string Fingerprint => Print("withdraw", Asset, Quantity);

        public override string? MarketNeeded(RiskConfiguration config) =>
            config.TryGetCollateral(Asset, out var spec) ? spec.PriceMarket : null;
    }
}

/// <summary>What a command step decided, as stored for idempotent retries.</summary>
public sealed record CommandRecord(
    string CommandId,
    string Fingerprint,
    DateTimeOffset At,
    bool Accepted,
    string? Reason,
    IReadOnlyList<ModelEvent> Events,
    long Version);

/// <summary>
/// The command ids an account has taken, with their results, kept for a retention period (not a count): a retry
/// within it is answered with the stored result and changes nothing.
/// </summary>
public sealed class CommandLog
{
    /// <summary>Shared by every empty log (most accounts never receive a command); never added to.</summary>
    private static readonly List<CommandRecord> NoRecords = [];

    private List<CommandRecord> _records = NoRecords;
    private Dictionary<string, int>? _index;

    public IReadOnlyList<CommandRecord> Records => _records;

    public static CommandLog Restore(IEnumerable<CommandRecord> records)
    {
        var log = new CommandLog();
        var sorted = records.OrderBy(r => r.At).ToList();
        if (sorted.Count > 0)
        {
            log._records = sorted;
        }

        return log;
    }

    public CommandRecord? Find(string commandId)
    {
        if (_records.Count <= 8)
        {
            return _records.Find(r => r.CommandId == commandId);
        }

        _index ??= BuildIndex();
        return _index.TryGetValue(commandId, out var i) ? _records[i] : null;
    }

    internal void Put(CommandRecord record)
    {
        for (var i = _records.Count - 1; i >= 0 && i >= _records.Count - 2; i--)
        {
            if (_records[i].CommandId == record.CommandId)
            {
                _records[i] = record; // the same command's record, completed (its liquidation's bankruptcy event)
                return;
            }
        }

        if (ReferenceEquals(_records, NoRecords))
        {
            _records = [];
        }

        _records.Add(record);
        _index?.Add(record.CommandId, _records.Count - 1);
    }

    /// <summary>Drops the records added after the log had <paramref name="count"/>, and puts back its last one.</summary>
    internal void Truncate(int count, CommandRecord? last)
    {
        if (_records.Count > count)
        {
            _records.RemoveRange(count, _records.Count - count);
            _index = null;
        }

        if (last is not null && count > 0)
        {
            _records[count - 1] = last;
        }
    }

    /// <summary>Forgets the records older than <paramref name="cutoff"/>.</summary>
    internal void Prune(DateTimeOffset cutoff)
    {
        var expired = 0;
        while (expired < _records.Count && _records[expired].At < cutoff)
        {
            expired++;
        }

        if (expired > 0)
        {
            _records.RemoveRange(0, expired);
            _index = null;
        }
    }

    private Dictionary<string, int> BuildIndex()
    {
        var index = new Dictionary<string, int>(_records.Count, StringComparer.Ordinal);
        for (var i = 0; i < _records.Count; i++)
        {
            index[_records[i].CommandId] = i;
        }

        return index;
    }
}

/// <summary>
/// A liquidation applied to the holdings whose settlement with the insurance fund is outstanding (the outbox):
/// <see cref="FundIncome"/> to pay in, <see cref="Deficit"/> to cover. <see cref="Coordinated"/>: begun for the
/// coordinator, which holds the charge too and confirms it to the fund itself.
/// </summary>
public sealed record PendingLiquidation(
    string LiquidationId,
    decimal FundIncome,
    decimal Deficit,
    IReadOnlyList<ModelEvent> Events,
    DateTimeOffset StartedAt,
    bool Coordinated,
    string? CommandId)
{
    /// <summary>v3 with auto-deleveraging (null without): what counterparties pay of the part the fund cannot cover.</summary>
    public decimal? AdlRecovered { get; init; }

    /// <summary>v3: the counterparties' auto-deleveraging closes this bankruptcy causes, applied once the fund has the charge.</summary>
    public IReadOnlyList<AdlClose> Adl { get; init; } = [];
}

/// <summary>v3: a running Dutch auction of one account's collateral: the asset, the unsold lot, the start and the top price.</summary>
public sealed record RunningAuction(string Asset, decimal Lot, DateTimeOffset Start, decimal Top);

/// <summary>What evaluating an account at the step's marks found.</summary>
public readonly record struct Evaluation(AccountHealth Health, ModelEvent? MarginCall)
{
    public bool NeedsLiquidation => Health.NeedsLiquidation;
}

/// <summary>What a command step did: the record (stored for retries) and whether it must now liquidate the account.</summary>
public sealed record CommandStep(CommandRecord Record, bool Duplicate, bool NeedsLiquidation, Account.Memento Undo);

/// <summary>
/// One account of the model: its holdings, last status and margin-call flag, the command log and the liquidation
/// outbox. Every decision about one account is made here at the marks the caller passes in; a grain only loads marks
/// and configuration, calls this, persists, and publishes the returned events.
/// </summary>
public sealed class Account
{
    private readonly List<string> _liquidations;

    public Account(string id)
        : this(id, false, new Portfolio(), AccountStatus.Healthy, true, 0, new CommandLog(), null, [], null)
    {
    }

    private Account(
        string id,
        bool opened,
        Portfolio holdings,
        AccountStatus status,
        bool armed,
        long version,
        CommandLog commands,
        PendingLiquidation? outbox,
        List<string> liquidations,
        RunningAuction? auction)
    {
        Auction = auction;
        Id = id;
        Opened = opened;
        Holdings = holdings;
        Status = status;
        MarginCallArmed = armed;
        Version = version;
        Commands = commands;
        Outbox = outbox;
        _liquidations = liquidations;
    }

    /// <summary>How many liquidation ids an account remembers, to make a retried coordinator request a no-op.</summary>
    public const int RememberedLiquidations = 256;

    public string Id { get; }

    public bool Opened { get; private set; }

    public Portfolio Holdings { get; private set; }

    /// <summary>The status the last evaluation found.</summary>
    public AccountStatus Status { get; private set; }

    /// <summary>The margin-call flag: armed at seeding, disarmed by a margin call, re-armed by a Healthy evaluation.</summary>
    public bool MarginCallArmed { get; private set; }

    /// <summary>Incremented with every change that must be persisted.</summary>
    public long Version { get; private set; }

    public CommandLog Commands { get; }

    public PendingLiquidation? Outbox { get; private set; }

    /// <summary>v2: the account's last liquidation was deferred by a cap, so it may be in the coordinator's queue.</summary>
    public bool CapDeferred { get; private set; }

    /// <summary>v3: the Dutch auction of this account's collateral, while it runs.</summary>
    public RunningAuction? Auction { get; private set; }

    public IReadOnlyList<string> RecentLiquidations => _liquidations;

    public static Account Restore(
        string id,
        bool opened,
        Portfolio holdings,
        AccountStatus status,
        bool armed,
        long version,
        IEnumerable<CommandRecord> commands,
        PendingLiquidation? outbox,
        IEnumerable<string> liquidations,
        RunningAuction? auction = null) =>
        new(id, opened, holdings, status, armed, version, CommandLog.Restore(commands), outbox, [.. liquidations], auction);

    /// <summary>Opens the account with the given holdings (seeding); throws <see cref="ArgumentException"/> naming what is wrong.</summary>
    public void Open(Portfolio holdings, RiskConfiguration config)
    {
        if (Opened)
        {
            throw new InvalidOperationException($"account '{Id}' is already open");
        }

        foreach (var (asset, quantity) in holdings.Balances)
        {
            if (AccountRules.CheckOpeningBalance(asset, quantity, config) is { } problem)
            {
                throw new ArgumentException($"collateral {asset}: {problem}", nameof(holdings));
            }

            // Bounded arithmetic (issue 9): within the asset's maxQuantity, whoever opens the account.
            if (config.TryGetCollateral(asset, out var spec) && Limits.CheckQuantity(spec.MaxQuantity, quantity, "quantity", allowNegative: true) is { } tooBig)
            {
                throw new ArgumentException($"collateral {asset}: {tooBig.Reason}", nameof(holdings));
            }
        }

        foreach (var (market, position) in holdings.Positions)
        {
            if (AccountRules.CheckOpeningPosition(market, position.Entry, config) is { } problem)
            {
                throw new ArgumentException($"position {market} {problem.Field}: {problem.Reason}", nameof(holdings));
            }

            if (Limits.CheckTrade(config.Market(market).Limits, position.Size, position.Entry, "size", "entryPrice") is { } beyond)
            {
                throw new ArgumentException($"position {market} {beyond.Field}: {beyond.Reason}", nameof(holdings));
            }
        }

        Holdings = holdings;
        Opened = true;
        Status = AccountStatus.Healthy;
        MarginCallArmed = true;
        Version++;
    }

    /// <summary>The markets whose marks move this account: its positions and the price markets of its collateral.</summary>
    public IReadOnlyList<string> PricedBy(RiskConfiguration config) => AccountRules.PricedBy(Holdings, config);

    /// <summary>
    /// v3: what auto-deleveraging ranks this account on: its holdings (not a copy — read them before the account changes
    /// again), its version and whether it is in auction.
    /// </summary>
    public AdlStanding AdlStanding() => new(Holdings, Version, Auction is not null);

    /// <summary>Whether a price of <paramref name="market"/> moves this account.</summary>
    public bool IsPricedBy(string market, RiskConfiguration config) => AccountRules.IsPricedBy(Holdings, market, config);

    /// <summary>The markets whose current marks a step of this account (and, if given, this command) needs.</summary>
    public IReadOnlyList<string> MarketsNeeded(RiskConfiguration config, AccountCommand? command = null)
    {
        var markets = PricedBy(config);
        return command?.MarketNeeded(config) is { } extra && !markets.Contains(extra, StringComparer.Ordinal)
            ? [.. markets, extra]
            : markets;
    }

    /// <summary>
    /// Evaluates at <paramref name="marks"/> as part of a step: emits <c>margin_call</c> when the account is worse than
    /// Healthy with its flag armed (and disarms it); a Healthy evaluation re-arms it.
    /// </summary>
    public Evaluation Evaluate(IMarks marks, RiskConfiguration config) => Judge(MarginCalculator.Evaluate(Holdings, marks, config));

    private Evaluation Judge(AccountHealth health)
    {
        ModelEvent? marginCall = null;
        if (health.Status == AccountStatus.Healthy)
        {
            MarginCallArmed = true;
        }
        else if (MarginCallArmed)
        {
            MarginCallArmed = false;
            marginCall = new ModelEvent(ModelEventType.MarginCall, Id) { Status = health.Status };
        }

        Status = health.Status;
        return new Evaluation(health, marginCall);
    }

    /// <summary>This account's safe bands at <paramref name="marks"/> (none unless Healthy, or when it cannot be evaluated).</summary>
    public IReadOnlyDictionary<string, SafeBand>? SafeBands(IMarks marks, RiskConfiguration config)
    {
        try
        {
            // k of a volatility-scaled market changes with each of its marks, ticks inside a band included: bands are
            // computed at each such market's largest k, so that no tick inside them can make the account unhealthy.
            return Domain.SafeBands.For(Holdings, new WorstCaseMultipliers(marks, config), config);
        }
        catch (Exception e) when (e is MissingMarkException or ArithmeticException)
        {
            return null; // no bands: every tick of its markets reaches the account
        }
    }

    /// <summary>The stored result of a command id, or null if it is new; throws <see cref="CommandConflictException"/> on a different body.</summary>
    public CommandRecord? FindCommand(AccountCommand command)
    {
        if (Commands.Find(command.CommandId) is not { } stored)
        {
            return null;
        }

        return stored.Fingerprint == command.Fingerprint ? stored : throw new CommandIdConflictException(command.CommandId);
    }

    /// <summary>
    /// A command step at the current <paramref name="marks"/>: refuses it (a <c>rejected</c> event) or applies it and
    /// evaluates the account, recording the result under its command id. Nothing changes when this throws. When the
    /// result says <see cref="CommandStep.NeedsLiquidation"/>, the caller liquidates the account next in the same step
    /// (<see cref="BeginLiquidation"/> with the command id).
    /// </summary>
    public CommandStep Execute(
        AccountCommand command, IMarks marks, RiskConfiguration config, DateTimeOffset now, TimeSpan retention, IReadOnlyList<ModelEvent>? before = null)
    {
        if (command is AccountCommand.Bid)
        {
            throw new ArgumentException("a bid is executed by Purchase or Reject", nameof(command));
        }

        if (FindCommand(command) is { } stored)
        {
            return new CommandStep(stored, true, false, Save());
        }

        Commands.Prune(now - retention);
        var undo = Save();
        var holdings = Holdings.Clone();
        var reason = command is AccountCommand.Withdrawal && Auction is not null
            ? DutchAuction.InAuction
            : Check(command, holdings, marks, config);
        Evaluation? evaluation = null;
        var events = new List<ModelEvent>(before ?? []);
        if (reason is null)
        {
            Apply(command, holdings);
            reason = AccountRules.CheckLimits(Holdings, holdings, config); // bounded arithmetic across commands
        }

        if (reason is null)
        {
            var health = MarginCalculator.Evaluate(holdings, marks, config); // throws before anything has changed
            if (command is AccountCommand.Deposit && Auction is { } running && holdings.Usd >= 0m)
            {
                // A deposit that pays the debt ends the auction before the step's evaluation (nothing to sell or write off).
                var (end, _) = DutchAuction.End(Id, holdings, running.Asset, running.Lot, sellLot: false, marks, config);
                events.Add(end);
                Auction = null;
            }

            Holdings = holdings;
            evaluation = Judge(health);
        }

        if (reason is not null)
        {
            events.Add(new ModelEvent(ModelEventType.Rejected, Id) { Reason = reason });
        }
        else if (evaluation!.Value.MarginCall is { } call)
        {
            events.Add(call);
        }

        Version++;
        var record = new CommandRecord(command.CommandId, command.Fingerprint, now, reason is null, reason, events, Version);
        Commands.Put(record);
        return new CommandStep(record, false, evaluation?.NeedsLiquidation == true, undo);
    }

    /// <summary>
    /// Applies this account's part of a step's liquidation, decided by <see cref="StepLiquidation"/> on holdings of
    /// version <paramref name="expectedVersion"/> (closes at their execution prices, penalties, collateral sales, the
    /// write-off, an auction started), and puts the fund settlement in the outbox. Idempotent per
    /// <paramref name="liquidationId"/>; false when already applied, or when the holdings changed since the decision
    /// (the account is then decided again by its next step). <paramref name="commandId"/>: the command step it belongs to.
    /// </summary>
    public bool ApplyLiquidation(
        string liquidationId,
        long expectedVersion,
        LiquidationResult result,
        string? deferReason,
        bool coordinated,
        DateTimeOffset now,
        string? commandId = null,
        decimal? adlRecovered = null,
        IReadOnlyList<AdlClose>? adl = null,
        IReadOnlyList<ModelEvent>? batches = null)
    {
        if (Outbox is not null)
        {
            throw new InvalidOperationException($"account '{Id}' has an unsettled liquidation {Outbox.LiquidationId}");
        }

        if (_liquidations.Contains(liquidationId, StringComparer.Ordinal) || Version != expectedVersion)
        {
            return false;
        }

        var holdings = Holdings.Clone();
        result.ApplyTo(holdings);
        Holdings = holdings;
        CapDeferred = deferReason == DeferReasons.Cap;
        if (result.Auction is { } auction)
        {
            Auction = new RunningAuction(auction.Asset, auction.Lot, now, auction.Top);
        }

        IReadOnlyList<ModelEvent> events = [.. batches ?? [], .. new AccountLiquidation(Id, result, null, deferReason).Events];
        Outbox = new PendingLiquidation(liquidationId, result.FundIncome, result.Deficit, events, now, coordinated, commandId)
        {
            AdlRecovered = adlRecovered,
            Adl = adl ?? [],
        };
        Remember(liquidationId);
        Version++;
        return true;
    }

    /// <summary>v3: a counterparty's auto-deleveraging close at the bankruptcy price of another account. Idempotent per id.</summary>
    public bool ApplyAdl(string adlId, string market, decimal quantity, decimal price)
    {
        if (_liquidations.Contains(adlId, StringComparer.Ordinal) || Holdings.PositionIn(market) is not { } position)
        {
            return false;
        }

        var holdings = Holdings.Clone();
        holdings.ClosePosition(market, Math.Min(quantity, Math.Abs(position.Size)), price);
        Holdings = holdings;
        Remember(adlId);
        Version++;
        return true;
    }

    private void Remember(string liquidationId)
    {
        _liquidations.Add(liquidationId);
        if (_liquidations.Count > RememberedLiquidations)
        {
            _liquidations.RemoveAt(0);
        }
    }

    /// <summary>
    /// Records the fund's answer to the outstanding liquidation (its bankruptcy cover, if any) and returns the
    /// liquidation's events. The account's own liquidation re-arms the margin-call flag when it leaves it Healthy.
    /// </summary>
    public IReadOnlyList<ModelEvent> CompleteLiquidation(BankruptcyCover? cover, IMarks marks, RiskConfiguration config)
    {
        var pending = Outbox ?? throw new InvalidOperationException($"account '{Id}' has no liquidation to complete");
        var events = new List<ModelEvent>(pending.Events);
        if (cover is not null)
        {
            events.Add(cover.ToEvent(Id));
            if (cover.AdlRecovered is { } recovered && recovered > 0m)
            {
                var holdings = Holdings.Clone();
                holdings.RecordRecovery(recovered);
                Holdings = holdings;
            }
        }

        if (cover is not null)
        {
            events.AddRange(pending.Adl.Select(a => a.ToEvent()));
        }

        try
        {
            Status = MarginCalculator.Evaluate(Holdings, marks, config).Status;
            if (Status == AccountStatus.Healthy)
            {
                MarginCallArmed = true;
            }
        }
        catch (MissingMarkException)
        {
            // Settled on reactivation before any mark is known: the next step sets the status.
        }

        if (pending.CommandId is { } commandId && Commands.Find(commandId) is { } record)
        {
            Commands.Put(record with { Events = [.. record.Events, .. events], Version = Version + 1 });
        }

        Outbox = null;
        Version++;
        return events;
    }

    /// <summary>v3: whether this account's running auction has ended by time at <paramref name="now"/>.</summary>
    public bool AuctionExpired(DateTimeOffset now, RiskConfiguration config) =>
        Auction is { } a && config.TryGetCollateral(a.Asset, out var spec) && spec.Auction is { } rule
        && DutchAuction.Expired(rule, DutchAuction.Elapsed(a.Start, now));

    /// <summary>
    /// v3: the current price, unsold lot and debt of this account's running auction of <paramref name="asset"/> (null when
    /// none, or when it has expired at <paramref name="now"/> and only waits for its end).
    /// </summary>
    public (decimal Price, decimal Lot, decimal Debt)? AuctionQuote(string asset, DateTimeOffset now, RiskConfiguration config)
    {
        if (Auction is not { } a || a.Asset != asset || !config.TryGetCollateral(a.Asset, out var spec) || spec.Auction is not { } rule
            || AuctionExpired(now, config))
        {
            return null;
        }

        return (DutchAuction.Price(a.Top, rule, DutchAuction.Elapsed(a.Start, now), out _), a.Lot, -Holdings.Usd);
    }

    /// <summary>
    /// v3: ends the running auction (<c>auction_end</c>; with <paramref name="sellLot"/>, the lot is sold to the system),
    /// resumes liquidation step 2 and writes off what is left. Returns the events when nothing is left to settle with the
    /// fund; otherwise they are in the outbox (under <paramref name="liquidationId"/>) and this returns none.
    /// </summary>
    public IReadOnlyList<ModelEvent> EndAuction(string liquidationId, bool sellLot, IMarks marks, RiskConfiguration config, DateTimeOffset now)
    {
        var running = Auction ?? throw new InvalidOperationException($"account '{Id}' has no running auction");
        if (Outbox is not null)
        {
            throw new InvalidOperationException($"account '{Id}' has an unsettled liquidation {Outbox.LiquidationId}");
        }

        var holdings = Holdings.Clone();
        var (end, result) = DutchAuction.End(Id, holdings, running.Asset, running.Lot, sellLot, marks, config);
        Holdings = holdings;
        Auction = result.Auction is { } next ? new RunningAuction(next.Asset, next.Lot, now, next.Top) : null;
        Version++;
        if (result.IsEmpty && result.Auction is null)
        {
            return [end];
        }

        IReadOnlyList<ModelEvent> events = [end, .. new AccountLiquidation(Id, result, null, null).Events];
        Outbox = new PendingLiquidation(liquidationId, result.FundIncome, result.Deficit, events, now, false, null)
        {
            AdlRecovered = config.Risk.AutoDeleveraging ? 0m : null, // no auto-deleveraging after an auction
        };
        Remember(liquidationId);
        return [];
    }

    /// <summary>
    /// v3: the liquidator's purchase from this account's auction (idempotent per <paramref name="bidId"/>; null when the
    /// auction no longer allows it — ended, taken by another bid, or expired at <paramref name="now"/> even if its end has
    /// not been applied yet): <c>auction_take</c>, and the auction's end when the debt is paid or the lot is gone.
    /// </summary>
    public IReadOnlyList<ModelEvent>? TakeAtAuction(
        string bidId, string liquidator, string asset, decimal quantity, decimal payment, decimal price, IMarks marks, RiskConfiguration config, DateTimeOffset now)
    {
        if (Auction is not { } running || running.Asset != asset || quantity > running.Lot || Outbox is not null
            || _liquidations.Contains(bidId, StringComparer.Ordinal) || AuctionExpired(now, config))
        {
            return null;
        }

        var undo = Save(); // a take is whole or nothing: its auction's end can still fail (the asset no longer configured)
        try
        {
            var holdings = Holdings.Clone();
            holdings.SellAtAuction(asset, quantity, payment);
            Holdings = holdings;
            Auction = running with { Lot = running.Lot - quantity };
            Remember(bidId);
            Version++;
            var events = new List<ModelEvent>
            {
                new(ModelEventType.AuctionTake, Id) { Liquidator = liquidator, Asset = asset, Quantity = quantity, Price = price },
            };
            if (Holdings.Usd >= 0m || Auction.Lot <= 0m)
            {
                events.AddRange(EndAuction($"{bidId}/end", sellLot: false, marks, config, now));
                if (Outbox is { } pending)
                {
                    Outbox = pending with { Events = [events[0], .. pending.Events] };
                    return [];
                }
            }

            return events;
        }
        catch
        {
            Restore(undo);
            throw;
        }
    }

    /// <summary>
    /// v3: a bid step of this account (the liquidator) that bought <paramref name="quantity"/> for <paramref name="payment"/>:
    /// the purchase is applied and the account evaluated; <paramref name="before"/> are the step's earlier events.
    /// </summary>
    public CommandStep Purchase(
        AccountCommand.Bid bid, decimal quantity, decimal payment, IReadOnlyList<ModelEvent> before, IMarks marks, RiskConfiguration config, DateTimeOffset now, TimeSpan retention)
    {
        Commands.Prune(now - retention);
        var undo = Save();
        var holdings = Holdings.Clone();
        holdings.BuyAtAuction(bid.Asset, quantity, payment);
        var health = MarginCalculator.Evaluate(holdings, marks, config);
        Holdings = holdings;
        var evaluation = Judge(health);
        var events = new List<ModelEvent>(before);
        if (evaluation.MarginCall is { } call)
        {
            events.Add(call);
        }

        Version++;
        var record = new CommandRecord(bid.CommandId, bid.Fingerprint, now, true, null, events, Version);
        Commands.Put(record);
        return new CommandStep(record, false, evaluation.NeedsLiquidation, undo);
    }

    /// <summary>Records a refused command (<c>rejected</c> with <paramref name="reason"/>) after the step's earlier events.</summary>
    public CommandStep Reject(AccountCommand command, string reason, IReadOnlyList<ModelEvent> before, DateTimeOffset now, TimeSpan retention)
    {
        Commands.Prune(now - retention);
        var undo = Save();
        Version++;
        var record = new CommandRecord(
            command.CommandId, command.Fingerprint, now, false, reason, [.. before, new ModelEvent(ModelEventType.Rejected, Id) { Reason = reason }], Version);
        Commands.Put(record);
        return new CommandStep(record, false, false, undo);
    }

    /// <summary>
    /// v3: why the bid's purchase is refused, or null: the balances it leaves beyond the configured limits
    /// (<see cref="AccountRules.CheckLimits"/>, as for any command), or <c>E &lt; IM</c> at <paramref name="marks"/>.
    /// </summary>
    public string? PurchaseRefusal(string asset, decimal quantity, decimal payment, IMarks marks, RiskConfiguration config)
    {
        var after = Holdings.Clone();
        after.BuyAtAuction(asset, quantity, payment);
        if (AccountRules.CheckLimits(Holdings, after, config) is { } limit)
        {
            return limit;
        }

        var health = MarginCalculator.Evaluate(after, marks, config);
        return health.Equity >= health.InitialMargin ? null : RejectReasons.InitialMargin;
    }

    /// <summary>Everything a step may change, to put back when its result could not be persisted.</summary>
    public Memento Save() => new(
        Holdings, Status, MarginCallArmed, Version, Outbox, _liquidations.Count == 0 ? [] : [.. _liquidations], Commands.Records.Count, Commands.Records.LastOrDefault(), Auction);

    /// <summary>Puts back what <see cref="Save"/> took (the step's changes were not persisted).</summary>
    public void Restore(Memento memento)
    {
        Holdings = memento.Holdings;
        Status = memento.Status;
        MarginCallArmed = memento.Armed;
        Version = memento.Version;
        Outbox = memento.Outbox;
        _liquidations.Clear();
        _liquidations.AddRange(memento.Liquidations);
        Commands.Truncate(memento.CommandCount, memento.LastCommand);
        Auction = memento.Auction;
    }

    private static string? Check(AccountCommand command, Portfolio holdings, IMarks marks, RiskConfiguration config) => command switch
    {
        AccountCommand.Fill f => AccountRules.CheckFill(f.Market, f.Size, f.Price, marks, config).RejectReason,
        AccountCommand.Deposit d => AccountRules.CheckDeposit(d.Asset, d.Quantity, config).RejectReason,
        AccountCommand.Withdrawal w => AccountRules.CheckWithdrawal(holdings, w.Asset, w.Quantity, marks, config).RejectReason,
        _ => throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command"),
    };

    private static void Apply(AccountCommand command, Portfolio holdings)
    {
        switch (command)
        {
            case AccountCommand.Fill f:
                holdings.ApplyFill(f.Market, f.Size, f.Price);
                break;
            case AccountCommand.Deposit d:
                holdings.Deposit(d.Asset, d.Quantity);
                break;
            case AccountCommand.Withdrawal w:
                holdings.Withdraw(w.Asset, w.Quantity);
                break;
        }
    }

    /// <summary>A copy of what a step may change; the portfolio is kept by reference (steps replace it, never mutate it).</summary>
    public sealed record Memento(
        Portfolio Holdings,
        AccountStatus Status,
        bool Armed,
        long Version,
        PendingLiquidation? Outbox,
        IReadOnlyList<string> Liquidations,
        int CommandCount,
        CommandRecord? LastCommand,
        RunningAuction? Auction);
}

/// <summary>Marks with each volatility-scaled market at its largest multiplier (for safe bands).</summary>
internal sealed class WorstCaseMultipliers(IMarks marks, RiskConfiguration config) : IMarks
{
    public bool TryGetMark(string market, out decimal mark) => marks.TryGetMark(market, out mark);

    public decimal Multiplier(string market) =>
        config.TryGetMarket(market, out var spec) && spec.Volatility is { } v ? Math.Max(v.MaxMultiplier, marks.Multiplier(market)) : marks.Multiplier(market);
}

/// <summary>A command id reused with a different body.</summary>
public sealed class CommandIdConflictException(string commandId)
    : Exception($"command id '{commandId}' was already used with a different body")
{
    public string CommandId { get; } = commandId;
}
