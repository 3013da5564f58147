using System.Diagnostics;

namespace MarginGrid.Domain.Model;

/// <summary>
/// The whole margin model applied sequentially, one step at a time, with nothing but the domain library: the
/// reference the grains are compared with. Step semantics of MARGIN-MODEL.md: the initial step (every initial price,
/// then every account evaluated once), price steps (oracle guard and circuit breaker, volatility multiplier, holders of
/// the market and the cap queue evaluated), commands (their own account alone), margin calls by the armed flag,
/// liquidations planned, netted and settled by <see cref="StepLiquidation"/> with a fresh cap budget per step, and the
/// events in the model's order.
/// </summary>
public sealed class ModelEngine
{
    private readonly RiskConfiguration _config;
    private readonly SortedDictionary<string, AccountState> _accounts = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MarketPriceState> _prices = new(StringComparer.Ordinal);
    private readonly MarkBook _marks = new();
    private readonly SortedSet<string> _queue = new(StringComparer.Ordinal);
    private readonly List<ModelEvent> _events = [];
    private readonly SortedDictionary<string, Auction> _auctions = new(StringComparer.Ordinal);

    public ModelEngine(RiskConfiguration config, decimal insuranceFund, IEnumerable<ModelAccountSeed> accounts, decimal startTime = 0m)
    {
        _config = config;
        InitialFund = insuranceFund;
        Ledger = new InsuranceLedger(insuranceFund);
        Now = startTime;
        foreach (var seed in accounts)
        {
            if (!_accounts.TryAdd(seed.Id, new AccountState(seed.ToPortfolio())))
            {
                throw new ArgumentException($"duplicate account id '{seed.Id}'", nameof(accounts));
            }
        }

        foreach (var market in config.Markets)
        {
            _prices[market.Symbol] = new MarketPriceState(market);
        }
    }

    public RiskConfiguration Config => _config;

    /// <summary>The clock, in scenario seconds.</summary>
    public decimal Now { get; private set; }

    public decimal InitialFund { get; }

    public InsuranceLedger Ledger { get; }

    public IMarks Marks => _marks;

    public IReadOnlyDictionary<string, MarketPriceState> Prices => _prices;

    /// <summary>Accounts queued by a cap deferral (MARGIN-MODEL.md v2, "Liquidation caps").</summary>
    public IReadOnlyCollection<string> Queue => _queue;

    public IReadOnlyList<ModelEvent> Events => _events;

    public IEnumerable<KeyValuePair<string, Portfolio>> Portfolios =>
        _accounts.Select(a => KeyValuePair.Create(a.Key, a.Value.Portfolio));

    /// <summary>Account evaluations so far (the first evaluation of each evaluated account in a step).</summary>
    public long Evaluations { get; private set; }

    /// <summary>
    /// Time spent deciding and applying the steps' liquidations with the domain alone (<see cref="StepLiquidation.Run"/>
    /// and applying its outcomes), one thread: the ceiling a grid's liquidation throughput is compared with.
    /// </summary>
    public TimeSpan LiquidationTime { get; private set; }

    /// <summary>Liquidation closes decided in <see cref="LiquidationTime"/>.</summary>
    public long LiquidationCloses { get; private set; }

    /// <summary>
    /// <see cref="LiquidationNetting.Batch"/> (the model): a step's liquidation closes are netted across accounts per
    /// market. The others are comparisons, not the model.
    /// </summary>
    public LiquidationNetting Netting { get; init; } = LiquidationNetting.Batch;

    /// <summary>Whether the account's margin-call flag is armed.</summary>
    public bool IsArmed(string account) => _accounts[account].Armed;

    /// <summary>Runs a whole scenario: the initial step, then every step in order.</summary>
    public static ModelResult Run(ModelScenario scenario)
    {
        var engine = new ModelEngine(scenario.Config, scenario.InsuranceFund, scenario.Accounts, scenario.StartTime);
        engine.Initialize(scenario.InitialPrices);
        foreach (var step in scenario.Steps)
        {
            engine.Apply(step);
        }

        return engine.Result();
    }

    /// <summary>Scenario seconds as an instant: the Unix epoch plus the seconds (100 ns resolution).</summary>
    public static DateTimeOffset Instant(decimal seconds)
    {
        var ticks = decimal.Round(seconds * 10_000_000m);
        var min = (decimal)(DateTimeOffset.MinValue - DateTimeOffset.UnixEpoch).Ticks;
        var max = (decimal)(DateTimeOffset.MaxValue - DateTimeOffset.UnixEpoch).Ticks;
        if (ticks < min || ticks > max)
        {
            throw new ArgumentOutOfRangeException(nameof(seconds), $"{seconds} s is outside the calendar");
        }

        return DateTimeOffset.UnixEpoch.AddTicks((long)ticks);
    }

    /// <summary>The initial step: every market's initial price (source "default", at the start time), then every account evaluated once.</summary>
    public IReadOnlyList<ModelEvent> Initialize(IEnumerable<KeyValuePair<string, decimal>> initialPrices) =>
        Initialize(initialPrices, MarketPriceState.DefaultSource);

    /// <summary>The initial step with the initial prices from <paramref name="source"/> (a grid prices its markets from a feed).</summary>
    public IReadOnlyList<ModelEvent> Initialize(IEnumerable<KeyValuePair<string, decimal>> initialPrices, string source)
    {
        foreach (var (market, price) in initialPrices)
        {
            var state = Price(market);
            state.SetInitial(price, Instant(Now), source);
            SetMark(state);
        }

        foreach (var market in _config.Markets)
        {
            if (!_marks.TryGetMark(market.Symbol, out _))
            {
                throw new InvalidOperationException($"no initial price for {market.Symbol}");
            }
        }

        return Record(Settle(_accounts.Keys));
    }

    /// <summary>Applies one step; returns its events (also appended to <see cref="Events"/>).</summary>
    public IReadOnlyList<ModelEvent> Apply(ModelStep step)
    {
        if (step is ModelPriceStep { Time: { } time })
        {
            if (time < Now)
            {
                throw new ArgumentException($"time {time} is earlier than now ({Now})", nameof(step));
            }

            Now = time;
        }

        var events = EndExpiredAuctions();
        events.AddRange(step switch
        {
            ModelPriceStep p => PriceStep(p),
            ModelFillStep f => Fill(f),
            ModelDepositStep d => Deposit(d),
            ModelWithdrawStep w => Withdraw(w),
            ModelBidStep b => Bid(b),
            _ => throw new ArgumentException($"unknown step {step}", nameof(step)),
        });
        return Record(events);
    }

    /// <summary>Accounts in auction (v3), by id: the asset, the unsold lot, the start time and the top price.</summary>
    public IReadOnlyDictionary<string, (string Asset, decimal Lot, decimal Start, decimal Top)> Auctions =>
        _auctions.ToDictionary(a => a.Key, a => (a.Value.Asset, a.Value.Lot, a.Value.Start, a.Value.Top), StringComparer.Ordinal);

    /// <summary>The accounts (by id, ordinal) at the current marks, the fund, the socialized loss and all events.</summary>
    public ModelResult Result()
    {
        var accounts = _accounts.Select(a =>
        {
            var p = a.Value.Portfolio;
            var h = MarginCalculator.Evaluate(p, _marks, _config);
            return new ModelAccountResult(
                a.Key,
                p.Balances.Where(b => b.Value != 0m).ToDictionary(b => b.Key, b => b.Value, StringComparer.Ordinal),
                p.Positions.ToDictionary(x => x.Key, x => x.Value, StringComparer.Ordinal),
                h.Equity,
                h.MaintenanceMargin,
                h.InitialMargin,
                h.Health,
                h.Status);
        }).ToList();
        return new ModelResult(accounts, Ledger.Fund, Ledger.SocializedLoss, [.. _events]);
    }

    /// <summary>The money conservation identity over every account, the fund and the socialized loss.</summary>
    public ConservationReport Conservation() =>
        Domain.Conservation.Check(
            _accounts.Values.Select(a => new ConservationEntry(a.Portfolio.Usd, a.Portfolio.NetUsdTransfers, a.Portfolio.RealizedPnl, a.Portfolio.CollateralSoldValue)),
            InitialFund,
            Ledger.Fund,
            Ledger.SocializedLoss);

    private List<ModelEvent> PriceStep(ModelPriceStep step)
    {
        var state = Price(step.Market);
        var outcome = state.Apply(step.Source, step.Price, Instant(Now));
        if (!outcome.GoesOn)
        {
            return [outcome.Event!];
        }

        SetMark(state);
        var evaluated = _accounts.Where(a => Holds(a.Value.Portfolio, step.Market)).Select(a => a.Key).Concat(_queue);
        return Settle(evaluated);
    }

    private List<ModelEvent> Fill(ModelFillStep fill)
    {
        if (!_accounts.TryGetValue(fill.Account, out var account))
        {
            return [Rejected(fill.Account, RejectReasons.UnknownAccount)];
        }

        var check = AccountRules.CheckFill(fill.Market, fill.Size, fill.Price, _marks, _config);
        if (!check.Accepted)
        {
            return [Rejected(fill.Account, check.RejectReason!)];
        }

        account.Portfolio.ApplyFill(fill.Market, fill.Size, fill.Price);
        return Settle([fill.Account]);
    }

    private List<ModelEvent> Deposit(ModelDepositStep deposit)
    {
        if (!_accounts.TryGetValue(deposit.Account, out var account))
        {
            return [Rejected(deposit.Account, RejectReasons.UnknownAccount)];
        }

        var check = AccountRules.CheckDeposit(deposit.Asset, deposit.Quantity, _config);
        if (!check.Accepted)
        {
            return [Rejected(deposit.Account, check.RejectReason!)];
        }

        account.Portfolio.Deposit(deposit.Asset, deposit.Quantity);
        var events = new List<ModelEvent>();
        if (_auctions.ContainsKey(deposit.Account) && account.Portfolio.Usd >= 0m)
        {
            events.AddRange(EndAuction(deposit.Account, sellLot: false));
        }

        events.AddRange(Settle([deposit.Account]));
        return events;
    }

    private List<ModelEvent> Withdraw(ModelWithdrawStep withdraw)
    {
        if (!_accounts.TryGetValue(withdraw.Account, out var account))
        {
            return [Rejected(withdraw.Account, RejectReasons.UnknownAccount)];
        }

        if (_auctions.ContainsKey(withdraw.Account))
        {
            return [Rejected(withdraw.Account, DutchAuction.InAuction)];
        }

        var check = AccountRules.CheckWithdrawal(account.Portfolio, withdraw.Asset, withdraw.Quantity, _marks, _config);
        if (!check.Accepted)
        {
            return [Rejected(withdraw.Account, check.RejectReason!)];
        }

        account.Portfolio.Withdraw(withdraw.Asset, withdraw.Quantity);
        return Settle([withdraw.Account]);
    }

    /// <summary>
    /// Evaluates the given accounts (margin calls by id), then liquidates those that need it in liquidation order, with
    /// a fresh cap budget, and updates the flags and the queue.
    /// </summary>
    private List<ModelEvent> Settle(IEnumerable<string> ids)
    {
        var evaluated = ids.Distinct().Order(StringComparer.Ordinal).ToList();
        var events = new List<ModelEvent>();
        var liquidate = new List<(string Id, AccountHealth Health)>();
        foreach (var id in evaluated)
        {
            var account = _accounts[id];
            var health = MarginCalculator.Evaluate(account.Portfolio, _marks, _config);
            Evaluations++;
            if (health.Status == AccountStatus.Healthy)
            {
                account.Armed = true;
            }
            else if (account.Armed)
            {
                events.Add(new ModelEvent(ModelEventType.MarginCall, id) { Status = health.Status });
                account.Armed = false;
            }

            if (health.NeedsLiquidation && !_auctions.ContainsKey(id))
            {
                liquidate.Add((id, health));
            }
        }

        liquidate.Sort((a, b) => MarginCalculator.CompareForLiquidation(a.Id, a.Health, b.Id, b.Health));
        var outcomes = new Dictionary<string, AccountLiquidation>(StringComparer.Ordinal);
        if (liquidate.Count > 0)
        {
            var now = Instant(Now);
            var candidates = liquidate
                .Select(x => new LiquidationCandidate(x.Id, _accounts[x.Id].Portfolio, StepLiquidation.HoldsStale(_accounts[x.Id].Portfolio, m => _prices.TryGetValue(m, out var state) && state.IsStale(now), _config)))
                .ToList();
            var counterparties = _accounts
                .Where(a => !_auctions.ContainsKey(a.Key))
                .Select(a => KeyValuePair.Create(a.Key, a.Value.Portfolio))
                .ToList();
            var liquidating = Stopwatch.GetTimestamp();
            var result = StepLiquidation.Run(candidates, _marks, _config, new LiquidationBudget(_config), Ledger, counterparties, Netting);
            foreach (var outcome in result.Accounts)
            {
                outcomes[outcome.Account] = outcome;
                if (outcome.DeferReason == DeferReasons.Stale)
                {
                    continue;
                }

                var account = _accounts[outcome.Account];
                outcome.ApplyTo(account.Portfolio);
                foreach (var close in outcome.Adl)
                {
                    close.ApplyTo(_accounts[close.Account].Portfolio);
                }

                if (outcome.Result.Auction is { } started)
                {
                    _auctions[outcome.Account] = new Auction(started.Asset, started.Lot, Now, started.Top);
                }

                if (MarginCalculator.Evaluate(account.Portfolio, _marks, _config).Status == AccountStatus.Healthy)
                {
                    account.Armed = true;
                }
            }

            LiquidationTime += Stopwatch.GetElapsedTime(liquidating);
            var stepEvents = result.Events;
            LiquidationCloses += stepEvents.Count(e => e.Type == ModelEventType.Liquidation);
            events.AddRange(stepEvents);
        }

        foreach (var id in evaluated)
        {
            var outcome = outcomes.GetValueOrDefault(id);
            if (outcome?.Queues == true)
            {
                _queue.Add(id);
            }
            else if (outcome?.DeferReason != DeferReasons.Stale)
            {
                _queue.Remove(id);
            }
        }

        return events;
    }

    /// <summary>
    /// v3 bid: liquidator L buys from B's running auction at its current price; refused when the rules say so. The step
    /// then evaluates L alone, as a command.
    /// </summary>
    private List<ModelEvent> Bid(ModelBidStep bid)
    {
        if (!_accounts.TryGetValue(bid.Account, out var liquidator) || !_accounts.TryGetValue(bid.Target, out var target))
        {
            return [Rejected(bid.Account, RejectReasons.UnknownAccount)];
        }

        if (bid.Account == bid.Target)
        {
            return [Rejected(bid.Account, DutchAuction.OwnAuction)];
        }

        if (bid.Quantity <= 0m)
        {
            return [Rejected(bid.Account, RejectReasons.InvalidQuantity)];
        }

        if (bid.MaxPrice <= 0m)
        {
            return [Rejected(bid.Account, RejectReasons.InvalidPrice)];
        }

        if (!_auctions.TryGetValue(bid.Target, out var auction) || auction.Asset != bid.Asset)
        {
            return [Rejected(bid.Account, DutchAuction.NoRunningAuction)];
        }

        var price = AuctionPrice(auction, out _);
        if (price > bid.MaxPrice)
        {
            return [Rejected(bid.Account, DutchAuction.PriceAboveMaximum)];
        }

        var (quantity, payment) = DutchAuction.Take(-target.Portfolio.Usd, price, bid.Quantity, auction.Lot);
        var after = liquidator.Portfolio.Clone();
        after.BuyAtAuction(bid.Asset, quantity, payment);
        var health = MarginCalculator.Evaluate(after, _marks, _config);
        if (health.Equity < health.InitialMargin)
        {
            return [Rejected(bid.Account, RejectReasons.InitialMargin)];
        }

        liquidator.Portfolio.BuyAtAuction(bid.Asset, quantity, payment);
        target.Portfolio.SellAtAuction(bid.Asset, quantity, payment);
        auction.Lot -= quantity;
        var events = new List<ModelEvent>
        {
            new(ModelEventType.AuctionTake, bid.Target) { Liquidator = bid.Account, Asset = bid.Asset, Quantity = quantity, Price = price },
        };
        if (target.Portfolio.Usd >= 0m || auction.Lot <= 0m)
        {
            events.AddRange(EndAuction(bid.Target, sellLot: false));
        }

        events.AddRange(Settle([bid.Account]));
        return events;
    }

    /// <summary>At the start of a step: every running auction (by account id) past its tail or below its cusp ends, and its asset is sold to the system.</summary>
    private List<ModelEvent> EndExpiredAuctions()
    {
        var events = new List<ModelEvent>();
        foreach (var (id, auction) in _auctions.ToList())
        {
            if (DutchAuction.Expired(Spec(auction.Asset).Auction!, Now - auction.Start))
            {
                events.AddRange(EndAuction(id, sellLot: true));
            }
        }

        return events;
    }

    /// <summary>
    /// Ends an account's auction (<c>auction_end</c> with the unsold lot, which it keeps), optionally sells that asset to
    /// the system as in v1, then resumes liquidation step 2 from the next asset and runs step 3.
    /// </summary>
    private List<ModelEvent> EndAuction(string id, bool sellLot)
    {
        var auction = _auctions[id];
        _auctions.Remove(id);
        var (end, result) = DutchAuction.End(id, _accounts[id].Portfolio, auction.Asset, auction.Lot, sellLot, _marks, _config);
        var events = new List<ModelEvent> { end };
        if (result.IsEmpty && result.Auction is null)
        {
            return events;
        }

        var next = result.Auction;
        // The sales are already applied; the ledger takes the discounts and covers the deficit (no ADL after an auction).
        var cover = Ledger.Apply(result);
        if (cover is not null && _config.Risk.AutoDeleveraging)
        {
            cover = cover with { AdlRecovered = 0m };
        }

        if (next is not null)
        {
            _auctions[id] = new Auction(next.Asset, next.Lot, Now, next.Top);
        }

        events.AddRange(new AccountLiquidation(id, result, cover, null).Events);
        return events;
    }

    /// <summary>The auction's current price <c>top × cut^k</c>, <c>k = ⌊(now − t0) / step⌋</c>; <paramref name="factor"/> is <c>cut^k</c>.</summary>
    private decimal AuctionPrice(Auction auction, out decimal factor)
    {
        return DutchAuction.Price(auction.Top, Spec(auction.Asset).Auction!, Now - auction.Start, out factor);
    }

    private CollateralSpec Spec(string asset) =>
        _config.TryGetCollateral(asset, out var spec) ? spec : throw new InvalidOperationException($"asset '{asset}' is not configured");

    /// <summary>A position in the market, or a non-zero balance of collateral priced by it.</summary>
    private bool Holds(Portfolio portfolio, string market)
    {
        if (portfolio.Positions.ContainsKey(market))
        {
            return true;
        }

        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q != 0m && asset != Assets.Usd && _config.TryGetCollateral(asset, out var spec) && spec.PriceMarket == market)
            {
                return true;
            }
        }

        return false;
    }

    private MarketPriceState Price(string market) =>
        _prices.TryGetValue(market, out var state) ? state : throw new ArgumentException($"unknown market '{market}'", nameof(market));

    private void SetMark(MarketPriceState state)
    {
        _marks.Set(state.Market, state.Mark!.Value);
        _marks.SetMultiplier(state.Market, state.Multiplier);
    }

    private static ModelEvent Rejected(string account, string reason) =>
        new(ModelEventType.Rejected, account) { Reason = reason };

    private List<ModelEvent> Record(List<ModelEvent> events)
    {
        _events.AddRange(events);
        return events;
    }

    private sealed class Auction(string asset, decimal lot, decimal start, decimal top)
    {
        public string Asset { get; } = asset;

        public decimal Lot { get; set; } = lot;

        public decimal Start { get; } = start;

        public decimal Top { get; } = top;
    }

    private sealed class AccountState(Portfolio portfolio)
    {
        public Portfolio Portfolio { get; } = portfolio;

        /// <summary>The margin-call flag: armed at seeding.</summary>
        public bool Armed { get; set; } = true;
    }
}
