namespace MarginGrid.Domain;

/// <summary>Why an account's liquidation was deferred (the <c>reason</c> of <c>liquidation_deferred</c>).</summary>
public static class DeferReasons
{
    /// <summary>A liquidation cap cut a close short and the account ended below its target: it is queued.</summary>
    public const string Cap = "cap";

    /// <summary>The account holds a position in, or collateral priced by, a stale market: nothing was done.</summary>
    public const string Stale = "stale";
}

/// <summary>
/// One account the step liquidates, in liquidation order. <paramref name="Portfolio"/> is read, never changed.
/// <paramref name="Stale"/>: it holds a position in, or a non-zero collateral balance priced by, a stale market.
/// </summary>
public sealed record LiquidationCandidate(string Account, Portfolio Portfolio, bool Stale = false);

/// <summary>
/// The per-step liquidation budget of every capped market (MARGIN-MODEL.md v2, "Liquidation caps"): each price or
/// command step starts a fresh one at the caps of the configuration; closes draw their notional from it.
/// </summary>
public sealed class LiquidationBudget
{
    private readonly Dictionary<string, decimal> _remaining = new(StringComparer.Ordinal);

    /// <summary>A fresh budget: every market with a <c>liquidationCap</c> starts at its cap.</summary>
    public LiquidationBudget(RiskConfiguration config)
    {
        foreach (var market in config.Markets)
        {
            if (market.LiquidationCap is { } cap)
            {
                _remaining[market.Symbol] = cap;
            }
        }
    }

    private LiquidationBudget()
    {
    }

    /// <summary>No market is capped (the v1 rule). Drawing from it changes nothing, so one instance is shared.</summary>
    public static LiquidationBudget Unlimited { get; } = new();

    /// <summary>What remains of each capped market's budget.</summary>
    public IReadOnlyDictionary<string, decimal> Remaining => _remaining;

    public bool IsCapped(string market) => _remaining.ContainsKey(market);

    /// <summary>
    /// How much of <paramref name="quantity"/> the budget lets close at <paramref name="mark"/>:
    /// <c>min(q, ⌊b / (M × lotSize)⌋ × lotSize)</c>; the notional closed is drawn from the budget.
    /// </summary>
    public decimal Draw(MarketSpec market, decimal quantity, decimal mark)
    {
        if (!_remaining.TryGetValue(market.Symbol, out var budget))
        {
            return quantity;
        }

        var allowed = Math.Min(quantity, decimal.Floor(budget / (mark * market.LotSize)) * market.LotSize);
        if (allowed < 0m)
        {
            allowed = 0m;
        }

        _remaining[market.Symbol] = budget - (allowed * mark);
        return allowed;
    }
}

/// <summary>One planned close: <see cref="Buys"/> when it closes a short (the liquidation buys), else it sells.</summary>
public sealed record PlannedClose(string Market, decimal Quantity, bool Buys);

/// <summary>
/// The plan of one account's liquidation, decided at the marks on a copy: its closes in order, and whether it is
/// deferred (<see cref="DeferReasons"/>) — stale (nothing planned) or cut short by a cap and still below target.
/// </summary>
public sealed record LiquidationPlan(string Account, IReadOnlyList<PlannedClose> Closes, string? DeferReason)
{
    public bool Deferred => DeferReason is not null;
}

/// <summary>
/// The netting of one market's planned closes (MARGIN-MODEL.md v2, "Batch netting with price impact"): buys B, sells S,
/// netted <c>min(B, S)</c>, residual <c>R = |B − S|</c> and the impact price p* of the residual.
/// </summary>
public sealed record LiquidationBatch(
    string Market, decimal Mark, decimal Buys, decimal Sells, decimal Netted, decimal Residual, decimal Price)
{
    /// <summary>
    /// The execution price of a close on the given side: on the larger side <c>M + (R / side total) × (p* − M)</c>, on the
    /// smaller side (or when B = S) the mark.
    /// </summary>
    public decimal ExecutionPrice(bool buys)
    {
        var side = buys ? Buys : Sells;
        var other = buys ? Sells : Buys;
        if (side <= other)
        {
            return Mark;
        }

        return Residual == side ? Price : Mark + (Residual / side * (Price - Mark));
    }

    public ModelEvent ToEvent() =>
        new(ModelEventType.LiquidationBatch, null)
        {
            Market = Market,
            Buys = Buys,
            Sells = Sells,
            Netted = Netted,
            Residual = Residual,
            Price = Price,
        };
}

/// <summary>
/// What the step's liquidation decided for one account. Apply it to the account's real portfolio with
/// <see cref="ApplyTo"/> (the portfolio must be as it was when the step was planned).
/// </summary>
public sealed record AccountLiquidation(
    string Account,
    LiquidationResult Result,
    BankruptcyCover? Cover,
    string? DeferReason)
{
    public bool Deferred => DeferReason is not null;

    /// <summary>Deferred by a cap: the caller queues the account (MARGIN-MODEL.md v2, "Liquidation caps").</summary>
    public bool Queues => DeferReason == DeferReasons.Cap;

    /// <summary>
    /// The account's events in the model's order: its <c>liquidation</c>s, then either <c>liquidation_deferred</c> or its
    /// <c>collateral_liquidation</c>s and <c>bankruptcy</c>.
    /// </summary>
    public IReadOnlyList<ModelEvent> Events
    {
        get
        {
            var events = new List<ModelEvent>();
            foreach (var c in Result.Closes)
            {
                events.Add(new ModelEvent(ModelEventType.Liquidation, Account)
                {
                    Market = c.Market,
                    Quantity = c.Quantity,
                    Price = c.Price,
                    Penalty = c.Penalty,
                });
            }

            if (DeferReason is { } reason)
            {
                events.Add(new ModelEvent(ModelEventType.LiquidationDeferred, Account) { Reason = reason });
                return events;
            }

            foreach (var s in Result.Sales)
            {
                events.Add(new ModelEvent(ModelEventType.CollateralLiquidation, Account)
                {
                    Asset = s.Asset,
                    Quantity = s.Quantity,
                    Price = s.Price,
                    Discount = s.Discount,
                });
            }

            if (Result.Auction is { } auction)
            {
                events.Add(new ModelEvent(ModelEventType.AuctionStart, Account)
                {
                    Asset = auction.Asset,
                    Quantity = auction.Lot,
                    Tab = auction.Tab,
                    Price = auction.Top,
                });
            }

            if (Cover is { } cover)
            {
                events.Add(cover.ToEvent(Account));
            }

            events.AddRange(Adl.Select(a => a.ToEvent()));
            return events;
        }
    }

    /// <summary>v3: the auto-deleveraging closes of the account's counterparties (apply each to its counterparty).</summary>
    public IReadOnlyList<AdlClose> Adl { get; init; } = [];

    /// <summary>
    /// Applies the closes (at their execution prices), penalties, collateral sales and write-off, and records what
    /// auto-deleveraging recovered. The counterparties' <see cref="Adl"/> closes are applied by their owners.
    /// </summary>
    public void ApplyTo(Portfolio portfolio)
    {
        Result.ApplyTo(portfolio);
        if (Cover?.AdlRecovered is { } recovered && recovered > 0m)
        {
            portfolio.RecordRecovery(recovered);
        }
    }
}

/// <summary>v3: one auto-deleveraging close of a counterparty at the bankruptcy price of <see cref="Counterparty"/>.</summary>
public sealed record AdlClose(string Account, string Market, decimal Quantity, decimal Price, string Counterparty)
{
    public ModelEvent ToEvent() =>
        new(ModelEventType.Adl, Account) { Market = Market, Quantity = Quantity, Price = Price, Counterparty = Counterparty };

    /// <summary>Closes the counterparty's position at the bankruptcy price (realizing <c>x × sign(s) × (P_b − e)</c>).</summary>
    public void ApplyTo(Portfolio counterparty) => counterparty.ClosePosition(Market, Quantity, Price);
}

/// <summary>Events of a bankruptcy cover.</summary>
public static class BankruptcyCoverEvents
{
    public static ModelEvent ToEvent(this BankruptcyCover cover, string account) =>
        new(ModelEventType.Bankruptcy, account)
        {
            Deficit = cover.Deficit,
            InsuranceCovered = cover.InsuranceCovered,
            Socialized = cover.Socialized,
            AdlRecovered = cover.AdlRecovered,
        };
}

/// <summary>
/// A counterparty's place in an auto-deleveraging queue: <see cref="Score"/> descending, ties by <see cref="Account"/>
/// (ordinal). The order of <see cref="AutoDeleveraging.Compare"/>; the first is deleveraged first.
/// </summary>
public readonly record struct AdlKey(decimal Score, string Account);

/// <summary>One eligible counterparty of a market, with its position there and its score (<see cref="AutoDeleveraging.Score"/>).</summary>
public sealed record AdlRanked(string Account, Portfolio Portfolio, Position Position, decimal Score)
{
    public AdlKey Key => new(Score, Account);
}

/// <summary>
/// How one market's auto-deleveraging walked its queue (for a caller that ranked only part of the counterparties): the
/// key of the last counterparty it closed (null: none), and whether it ran out of counterparties before <c>Q_m</c> was
/// used up (then any eligible account it was not given would have been closed too).
/// </summary>
public sealed record AdlWalk(string Market, bool Shorts, AdlKey? Last, bool RanOut);

/// <summary>
/// v3 auto-deleveraging (MARGIN-MODEL.md "Auto-deleveraging"): the part of a bankruptcy deficit that the fund did not
/// cover is taken from the bankrupt account's counterparties, market by market (by symbol), at the bankruptcy price.
/// The score, the eligibility and the rank order live here and only here (<see cref="Score"/>, <see cref="Compare"/>,
/// <see cref="Rank"/>); the grid's incremental index (<see cref="AdlBook"/>) and the API's quantile use them.
/// </summary>
public static class AutoDeleveraging
{
    /// <summary>
    /// The ADL score of <paramref name="portfolio"/>'s position in <paramref name="market"/> at <paramref name="marks"/>:
    /// <c>(u / (|s| × e)) × (G / E)</c> with <c>u = s × (M − e)</c>, G the gross notional <c>Σ |s| × M</c> and E the
    /// equity; null when it is no counterparty there (no position, <c>u ≤ 0</c> or <c>E ≤ 0</c>).
    /// </summary>
    public static decimal? Score(Portfolio portfolio, string market, IMarks marks, RiskConfiguration config)
    {
        if (portfolio.PositionIn(market) is not { } p)
        {
            return null;
        }

        var mark = MarginCalculator.Mark(marks, market);
        var u = p.Size * (mark - p.Entry);
        if (u <= 0m)
        {
            return null;
        }

        var equity = MarginCalculator.Equity(portfolio, marks, config);
        if (equity <= 0m)
        {
            return null;
        }

        var gross = portfolio.Positions.Sum(x => Math.Abs(x.Value.Size) * MarginCalculator.Mark(marks, x.Key));
        return u / (Math.Abs(p.Size) * p.Entry) * (gross / equity);
    }

    /// <summary>The queue's order: score descending, ties by account id (ordinal). Negative: <paramref name="a"/> goes first.</summary>
    public static int Compare(AdlKey a, AdlKey b)
    {
        var c = b.Score.CompareTo(a.Score);
        return c != 0 ? c : string.CompareOrdinal(a.Account, b.Account);
    }

    /// <summary>Whether <paramref name="position"/> is on the side a bankruptcy's closes draw on (shorts for a long, longs for a short).</summary>
    public static bool OnSide(Position position, bool shorts) => shorts ? position.Size < 0m : position.Size > 0m;

    /// <summary>
    /// The eligible counterparties among <paramref name="accounts"/> on the <paramref name="shorts"/> side of
    /// <paramref name="market"/>, in the queue's order. The caller leaves out the bankrupt account, the step's
    /// liquidation order and the accounts in auction.
    /// </summary>
    public static List<AdlRanked> Rank(
        string market, bool shorts, IEnumerable<KeyValuePair<string, Portfolio>> accounts, IMarks marks, RiskConfiguration config)
    {
        var ranked = new List<AdlRanked>();
        foreach (var (id, portfolio) in accounts)
        {
            if (portfolio.PositionIn(market) is { } p && OnSide(p, shorts) && Score(portfolio, market, marks, config) is { } score)
            {
                ranked.Add(new AdlRanked(id, portfolio, p, score));
            }
        }

        ranked.Sort((a, b) => Compare(a.Key, b.Key));
        return ranked;
    }

    /// <summary>
    /// Whether walks over a part of the counterparties (<see cref="AdlBook.Top"/> prefixes) decided exactly as walks over
    /// all of them would have. <paramref name="boundaries"/> holds, for each market and side asked for, the key of the last
    /// counterparty given by each index that had more to give (an exhausted index has none). Every eligible account not
    /// given ranks after its index's boundary, and its score is unchanged (only given accounts were closed), so the
    /// result stands when every walk ended, without running out, at or before every boundary of its market and side.
    /// </summary>
    public static bool Covers(IReadOnlyList<AdlWalk> walks, IReadOnlyDictionary<(string Market, bool Shorts), IReadOnlyList<AdlKey>> boundaries)
    {
        foreach (var walk in walks)
        {
            if (!boundaries.TryGetValue((walk.Market, walk.Shorts), out var keys))
            {
                return false; // a market and side nobody was asked about
            }

            if (keys.Count == 0)
            {
                continue; // every index gave all it had
            }

            if (walk.RanOut || walk.Last is not { } last || keys.Any(k => Compare(last, k) > 0))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Resolves <paramref name="uncovered"/> of <paramref name="bankrupt"/>'s deficit against <paramref name="counterparties"/>
    /// (the eligible other accounts; their portfolios are changed by the closes, so pass copies), given the account's
    /// closes of this settlement. Returns the amount recovered and the closes, in order. <paramref name="walks"/>, when
    /// given, receives how each market's queue was walked.
    /// </summary>
    public static (decimal Recovered, List<AdlClose> Closes) Resolve(
        string bankrupt,
        IReadOnlyList<PlannedClose> closes,
        decimal uncovered,
        IMarks marks,
        RiskConfiguration config,
        IReadOnlyList<KeyValuePair<string, Portfolio>> counterparties,
        List<AdlWalk>? walks = null)
    {
        var adl = new List<AdlClose>();
        var byMarket = closes
            .GroupBy(c => c.Market, StringComparer.Ordinal)
            .Select(g => (Market: g.Key, Q: g.Sum(c => c.Quantity), Long: !g.First().Buys, Mark: MarginCalculator.Mark(marks, g.Key)))
            .OrderBy(x => x.Market, StringComparer.Ordinal)
            .ToList();
        var total = byMarket.Sum(x => x.Q * x.Mark);
        if (uncovered <= 0m || total <= 0m)
        {
            return (0m, adl);
        }

        var recovered = 0m;
        foreach (var (market, q, isLong, mark) in byMarket)
        {
            var share = uncovered * q * mark / total;
            var price = isLong ? mark + (share / q) : mark - (share / q);
            if (price <= 0m)
            {
                continue;
            }

            var ranked = Rank(market, shorts: isLong, counterparties.Where(c => c.Key != bankrupt), marks, config);
            var left = q;
            AdlKey? last = null;
            foreach (var counterparty in ranked)
            {
                if (left <= 0m)
                {
                    break;
                }

                var x = Math.Min(Math.Abs(counterparty.Position.Size), left);
                var close = new AdlClose(counterparty.Account, market, x, price, bankrupt);
                close.ApplyTo(counterparty.Portfolio);
                adl.Add(close);
                left -= x;
                last = counterparty.Key;
            }

            walks?.Add(new AdlWalk(market, isLong, last, RanOut: left > 0m));
            recovered += left == 0m ? share : (q - left) / q * share;
        }

        // The shares R × Q_m × M_m / N are rounded quotients: their sum may exceed R in the last digit.
        return (Math.Min(recovered, uncovered), adl);
    }
}

/// <summary>How a step's liquidation closes meet the impact model. Only <see cref="Batch"/> is the model.</summary>
public enum LiquidationNetting
{
    /// <summary>The model: per market, buys and sells of all accounts net; the residual trades at the impact price.</summary>
    Batch,

    /// <summary>Each account's closes netted only with its own, at the same κ (its own residual's impact).</summary>
    EachAccountAlone,

    /// <summary>No netting: per market, each side's whole volume at the impact of that side's total.</summary>
    Gross,
}

/// <summary>The liquidations of one step: the netting batches and each account's part, in liquidation order.</summary>
public sealed record StepLiquidationResult(
    IReadOnlyList<LiquidationPlan> Plans,
    IReadOnlyList<LiquidationBatch> Batches,
    IReadOnlyList<AccountLiquidation> Accounts)
{
    /// <summary>The step's liquidation events in the model's order: batches by market symbol, then each account's.</summary>
    public IReadOnlyList<ModelEvent> Events =>
        [.. Batches.Select(b => b.ToEvent()), .. Accounts.SelectMany(a => a.Events)];
}

/// <summary>
/// The liquidations of one step (MARGIN-MODEL.md "Liquidation" and v2 "Liquidation caps", "Batch netting with price
/// impact") in three phases: <b>plan</b> each account's closes at the marks on a copy, in liquidation order, drawing
/// the caps; <b>net</b> the planned closes per market with κ &gt; 0 into a batch with an impact price; <b>settle</b> in
/// liquidation order at the execution prices, with collateral sales, bankruptcy and the insurance ledger.
/// Nothing here changes a candidate's portfolio: each <see cref="AccountLiquidation"/> is applied by its owner.
/// With no cap and κ = 0 everywhere, the result is exactly the v1 rule of <see cref="Liquidator.Liquidate"/>.
/// </summary>
public static class StepLiquidation
{
    /// <summary>
    /// v2 "Stale markets": the account holds a position in, or a non-zero collateral balance priced by, a market that
    /// is stale; it is then not liquidated in the step (<c>liquidation_deferred</c> "stale").
    /// </summary>
    public static bool HoldsStale(Portfolio portfolio, Func<string, bool> isStale, RiskConfiguration config)
    {
        foreach (var market in portfolio.Positions.Keys)
        {
            if (isStale(market))
            {
                return true;
            }
        }

        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q != 0m && asset != Assets.Usd && config.TryGetCollateral(asset, out var spec) && spec.PriceMarket is { } market && isStale(market))
            {
                return true;
            }
        }

        return false;
    }

    public static IReadOnlyDictionary<string, LiquidationBatch> NoBatches { get; } =
        new Dictionary<string, LiquidationBatch>(StringComparer.Ordinal);

    /// <summary>
    /// Runs the step's liquidations. <paramref name="candidates"/> must be in liquidation order (health ascending,
    /// accounts without positions first, ties by id: <see cref="MarginCalculator.CompareForLiquidation"/>).
    /// <paramref name="budget"/> is the step's (fresh for each step); <paramref name="ledger"/> receives the penalties
    /// and discounts and covers the bankruptcies, in order. <paramref name="netting"/> other than
    /// <see cref="LiquidationNetting.Batch"/> is not the model: the load tool's comparisons of what netting buys.
    /// </summary>
    public static StepLiquidationResult Run(
        IReadOnlyList<LiquidationCandidate> candidates,
        IMarks marks,
        RiskConfiguration config,
        LiquidationBudget budget,
        InsuranceLedger ledger,
        IReadOnlyList<KeyValuePair<string, Portfolio>>? counterparties = null,
        LiquidationNetting netting = LiquidationNetting.Batch,
        List<AdlWalk>? walks = null)
    {
        var plans = Plan(candidates, marks, config, budget);
        var batches = netting == LiquidationNetting.Batch ? Net(plans, marks, config) : [];
        var byMarket = batches.ToDictionary(b => b.Market, StringComparer.Ordinal);
        var alone = netting == LiquidationNetting.Batch ? null : new List<LiquidationBatch>();
        IReadOnlyDictionary<string, LiquidationBatch> grossBuys = NoBatches, grossSells = NoBatches;
        if (netting == LiquidationNetting.Gross)
        {
            // Not the model: no netting at all — each side's whole volume at the impact of that side's total.
            List<LiquidationPlan> Side(bool buys) => [.. plans.Select(p => p with { Closes = [.. p.Closes.Where(c => c.Buys == buys)] })];
            var b = Net(Side(true), marks, config);
            var s = Net(Side(false), marks, config);
            alone!.AddRange(b);
            alone.AddRange(s);
            grossBuys = b.ToDictionary(x => x.Market, StringComparer.Ordinal);
            grossSells = s.ToDictionary(x => x.Market, StringComparer.Ordinal);
        }
        var accounts = new List<AccountLiquidation>(candidates.Count);
        var adl = config.Risk.AutoDeleveraging;
        var excluded = candidates.Select(c => c.Account).ToHashSet(StringComparer.Ordinal);
        var others = adl && counterparties is not null
            ? counterparties.Where(c => !excluded.Contains(c.Key)).Select(c => KeyValuePair.Create(c.Key, c.Value.Clone())).ToList()
            : [];
        for (var i = 0; i < candidates.Count; i++)
        {
            if (netting == LiquidationNetting.Gross)
            {
                byMarket = plans[i].Closes.DistinctBy(c => c.Market)
                    .Select(c => (c.Buys ? grossBuys : grossSells).GetValueOrDefault(c.Market))
                    .OfType<LiquidationBatch>()
                    .ToDictionary(x => x.Market, StringComparer.Ordinal);
            }
            else if (alone is not null)
            {
                // Not the model: each account's closes form a batch of their own (no netting with other accounts), at the same κ.
                var own = Net([plans[i]], marks, config);
                alone.AddRange(own);
                byMarket = own.ToDictionary(b => b.Market, StringComparer.Ordinal);
            }

            var result = SettleAccount(candidates[i].Portfolio.Clone(), plans[i], byMarket, marks, config);
            var cover = ledger.Apply(result); // a deferred account still pays its penalties; it has no deficit
            IReadOnlyList<AdlClose> adlCloses = [];
            if (cover is not null && adl)
            {
                var recovered = 0m;
                if (cover.Socialized > 0m && plans[i].Closes.Count > 0)
                {
                    (recovered, var closes) = AutoDeleveraging.Resolve(
                        candidates[i].Account, plans[i].Closes, cover.Socialized, marks, config, others, walks);
                    ledger.Recover(recovered);
                    adlCloses = closes;
                }

                cover = cover with { Socialized = cover.Socialized - recovered, AdlRecovered = recovered };
            }

            accounts.Add(new AccountLiquidation(candidates[i].Account, result, cover, plans[i].DeferReason) { Adl = adlCloses });
        }

        return new StepLiquidationResult(plans, alone is null ? batches : [.. alone.OrderBy(b => b.Market, StringComparer.Ordinal)], accounts);
    }

    /// <summary>Phase 1: every candidate's plan, in order, on copies; caps are drawn from <paramref name="budget"/>.</summary>
    public static IReadOnlyList<LiquidationPlan> Plan(
        IReadOnlyList<LiquidationCandidate> candidates, IMarks marks, RiskConfiguration config, LiquidationBudget budget) =>
        [.. candidates.Select(c => c.Stale
            ? new LiquidationPlan(c.Account, [], DeferReasons.Stale)
            : PlanAccount(c.Account, c.Portfolio.Clone(), marks, config, budget))];

    /// <summary>
    /// The plan of one account, applied to <paramref name="copy"/> (which it changes): positions by scaled MMᵢ
    /// descending (ties by symbol), each closing the least quantity that reaches <c>E ≥ γ·MM</c> (or all of it), cut to
    /// the cap's budget; stops as soon as the target holds. Cut short and still below target: deferred ("cap").
    /// </summary>
    public static LiquidationPlan PlanAccount(
        string account, Portfolio copy, IMarks marks, RiskConfiguration config, LiquidationBudget budget)
    {
        var gamma = config.Risk.LiquidationTargetRatio;
        var closes = new List<PlannedClose>();
        var cutShort = false;

        var order = copy.Positions
            .Select(p => (Market: config.Market(p.Key), Position: p.Value, Mark: MarginCalculator.Mark(marks, p.Key), K: marks.Multiplier(p.Key)))
            .Select(x => (x.Market, x.Position, x.Mark, x.K, Mm: MarginCalculator.PositionMaintenance(x.Market, x.Position, x.Mark, x.K)))
            .OrderByDescending(x => x.Mm)
            .ThenBy(x => x.Market.Symbol, StringComparer.Ordinal)
            .ToList();

        foreach (var (market, position, mark, k, mmi) in order)
        {
            var health = MarginCalculator.Evaluate(copy, marks, config);
            if (health.Equity >= gamma * health.MaintenanceMargin)
            {
                break;
            }

            var wanted = Liquidator.LeastQuantity(market, position, mark, health.Equity, health.MaintenanceMargin, mmi, gamma, k);
            var quantity = budget.Draw(market, wanted, mark);
            if (quantity < wanted)
            {
                cutShort = true;
            }

            if (quantity <= 0m)
            {
                continue;
            }

            var penalty = Liquidator.Penalty(market, quantity, mark, health.Equity);
            copy.ClosePosition(market.Symbol, quantity, mark);
            copy.PayUsd(penalty);
            closes.Add(new PlannedClose(market.Symbol, quantity, position.Size < 0m));
        }

        string? defer = null;
        if (cutShort)
        {
            var after = MarginCalculator.Evaluate(copy, marks, config);
            if (after.Equity < gamma * after.MaintenanceMargin)
            {
                defer = DeferReasons.Cap;
            }
        }

        return new LiquidationPlan(account, closes, defer);
    }

    /// <summary>Phase 2: one batch per market with κ &gt; 0 that has planned closes, by market symbol.</summary>
    public static IReadOnlyList<LiquidationBatch> Net(IReadOnlyList<LiquidationPlan> plans, IMarks marks, RiskConfiguration config)
    {
        var sides = new SortedDictionary<string, (decimal Buys, decimal Sells)>(StringComparer.Ordinal);
        foreach (var close in plans.SelectMany(p => p.Closes))
        {
            if (config.Market(close.Market).Impact <= 0m)
            {
                continue;
            }

            var (b, s) = sides.GetValueOrDefault(close.Market);
            sides[close.Market] = close.Buys ? (b + close.Quantity, s) : (b, s + close.Quantity);
        }

        var batches = new List<LiquidationBatch>(sides.Count);
        foreach (var (symbol, (buys, sells)) in sides)
        {
            var spec = config.Market(symbol);
            var mark = MarginCalculator.Mark(marks, symbol);
            var residual = Math.Abs(buys - sells);
            var impact = Math.Min(spec.Impact * residual * mark, spec.MaxImpact);
            var price = buys > sells ? mark * (1m + impact) : sells > buys ? mark * (1m - impact) : mark;
            batches.Add(new LiquidationBatch(symbol, mark, buys, sells, Math.Min(buys, sells), residual, price));
        }

        return batches;
    }

    /// <summary>
    /// Phase 3 for one account, applied to <paramref name="copy"/> (which it changes): the planned closes in plan order at
    /// their execution prices, each with the penalty <c>min(φ·q·M, max(0, E))</c> on the mark notional (E at the marks
    /// just before the close); then, unless deferred and if no position remains, collateral sales and the deficit.
    /// The insurance ledger is not touched (<see cref="Run"/> applies it).
    /// </summary>
    public static LiquidationResult SettleAccount(
        Portfolio copy,
        LiquidationPlan plan,
        IReadOnlyDictionary<string, LiquidationBatch> batches,
        IMarks marks,
        RiskConfiguration config)
    {
        var closes = new List<PositionClose>(plan.Closes.Count);
        foreach (var planned in plan.Closes)
        {
            var market = config.Market(planned.Market);
            var mark = MarginCalculator.Mark(marks, planned.Market);
            var price = batches.TryGetValue(planned.Market, out var batch) ? batch.ExecutionPrice(planned.Buys) : mark;
            var equity = MarginCalculator.Equity(copy, marks, config);
            var penalty = Liquidator.Penalty(market, planned.Quantity, mark, equity);
            var realized = copy.ClosePosition(planned.Market, planned.Quantity, price);
            copy.PayUsd(penalty);
            closes.Add(new PositionClose(planned.Market, planned.Quantity, price, penalty, realized));
        }

        if (plan.Deferred || copy.HasPositions)
        {
            return new LiquidationResult(closes, [], 0m);
        }

        var (sales, auction) = Liquidator.SellCollateral(copy, marks, config, after: null, auctions: true);
        var deficit = 0m;
        if (auction is null && copy.Usd < 0m)
        {
            deficit = -copy.Usd;
            copy.ForgiveUsdDebt();
        }

        return new LiquidationResult(closes, sales, deficit) { Auction = auction };
    }
}
