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

            if (Cover is { } cover)
            {
                events.Add(new ModelEvent(ModelEventType.Bankruptcy, Account)
                {
                    Deficit = cover.Deficit,
                    InsuranceCovered = cover.InsuranceCovered,
                    Socialized = cover.Socialized,
                });
            }

            return events;
        }
    }

    /// <summary>Applies the closes (at their execution prices), penalties, collateral sales and write-off.</summary>
    public void ApplyTo(Portfolio portfolio) => Result.ApplyTo(portfolio);
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
    public static IReadOnlyDictionary<string, LiquidationBatch> NoBatches { get; } =
        new Dictionary<string, LiquidationBatch>(StringComparer.Ordinal);

    /// <summary>
    /// Runs the step's liquidations. <paramref name="candidates"/> must be in liquidation order (health ascending,
    /// accounts without positions first, ties by id: <see cref="MarginCalculator.CompareForLiquidation"/>).
    /// <paramref name="budget"/> is the step's (fresh for each step); <paramref name="ledger"/> receives the penalties
    /// and discounts and covers the bankruptcies, in order.
    /// </summary>
    public static StepLiquidationResult Run(
        IReadOnlyList<LiquidationCandidate> candidates,
        IMarks marks,
        RiskConfiguration config,
        LiquidationBudget budget,
        InsuranceLedger ledger)
    {
        var plans = Plan(candidates, marks, config, budget);
        var batches = Net(plans, marks, config);
        var byMarket = batches.ToDictionary(b => b.Market, StringComparer.Ordinal);
        var accounts = new List<AccountLiquidation>(candidates.Count);
        for (var i = 0; i < candidates.Count; i++)
        {
            var result = SettleAccount(candidates[i].Portfolio.Clone(), plans[i], byMarket, marks, config);
            var cover = ledger.Apply(result); // a deferred account still pays its penalties; it has no deficit
            accounts.Add(new AccountLiquidation(candidates[i].Account, result, cover, plans[i].DeferReason));
        }

        return new StepLiquidationResult(plans, batches, accounts);
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

        var sales = Liquidator.SellCollateral(copy, marks, config);
        var deficit = 0m;
        if (copy.Usd < 0m)
        {
            deficit = -copy.Usd;
            copy.ForgiveUsdDebt();
        }

        return new LiquidationResult(closes, sales, deficit);
    }
}
