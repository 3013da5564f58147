namespace MarginGrid.Domain;

/// <summary>Why a well-formed command was refused by the rules (nothing changes).</summary>
public static class RejectReasons
{
    public const string UnknownAccount = "unknown account";
    public const string UnknownMarket = "unknown market";
    public const string AssetNotConfigured = "asset not configured";
    public const string AssetNotPriced = "asset has no price market";
    public const string InvalidQuantity = "invalid quantity";
    public const string InvalidPrice = "invalid price";
    public const string InsufficientBalance = "insufficient balance";
    public const string InitialMargin = "initial margin";
    public const string NoMark = "market has no mark price";

    // Issue 9, bounded arithmetic: the result of the command would exceed a configured limit (each names it).

    /// <summary>A fill price above the market's <c>maxPrice</c>.</summary>
    public const string MaxPrice = "exceeds maxPrice";

    /// <summary>A fill, or the position it leaves, larger than the market's <c>maxPositionSize</c>.</summary>
    public const string MaxPositionSize = "exceeds maxPositionSize";

    /// <summary>A fill's <c>|size| × price</c>, or the position's notional at its entry price, above the market's <c>maxNotional</c>.</summary>
    public const string MaxNotional = "exceeds maxNotional";

    /// <summary>A deposit, or a balance after a command, beyond the asset's <c>maxQuantity</c>.</summary>
    public const string MaxQuantity = "exceeds maxQuantity";

    /// <summary>Whether <paramref name="reason"/> is one of the limits' reasons.</summary>
    public static bool IsLimit(string? reason) => reason is MaxPrice or MaxPositionSize or MaxNotional or MaxQuantity;
}

/// <summary>The outcome of checking a command: null reason means it may apply.</summary>
public readonly record struct CommandCheck(string? RejectReason)
{
    public static CommandCheck Ok { get; } = new(null);

    public bool Accepted => RejectReason is null;

    public static CommandCheck Reject(string reason) => new(reason);
}

/// <summary>The command rules of the model: fills, deposits, withdrawals and the pre-trade check.</summary>
public static class AccountRules
{
    /// <summary>
    /// The markets whose marks move a portfolio (ordinal order): those it holds a position in and the price markets
    /// of its non-zero collateral (a USD debt moves with no market).
    /// </summary>
    public static IReadOnlyList<string> PricedBy(Portfolio portfolio, RiskConfiguration config)
    {
        var markets = new List<string>(portfolio.Positions.Count + 1);
        markets.AddRange(portfolio.Positions.Keys);
        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q > 0m && config.TryGetCollateral(asset, out var spec) && spec.PriceMarket is { } m && !markets.Contains(m, StringComparer.Ordinal))
            {
                markets.Add(m);
            }
        }

        markets.Sort(StringComparer.Ordinal);
        return markets;
    }

    /// <summary>Whether <paramref name="config"/> knows every market and collateral asset the portfolio holds.</summary>
    public static bool Knows(Portfolio portfolio, RiskConfiguration config) =>
        portfolio.Positions.Keys.All(m => config.TryGetMarket(m, out _))
        && portfolio.Balances.All(b => b.Key == Assets.Usd || config.TryGetCollateral(b.Key, out _));

    /// <summary>Whether a price of <paramref name="market"/> moves the portfolio (see <see cref="PricedBy"/>).</summary>
    public static bool IsPricedBy(Portfolio portfolio, string market, RiskConfiguration config)
    {
        if (portfolio.PositionIn(market) is not null)
        {
            return true;
        }

        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q > 0m && config.TryGetCollateral(asset, out var spec) && spec.PriceMarket == market)
            {
                return true;
            }
        }

        return false;
    }

    public static CommandCheck CheckFill(string market, decimal quantity, decimal price, IMarks marks, RiskConfiguration config)
    {
        if (quantity == 0m)
        {
            return CommandCheck.Reject(RejectReasons.InvalidQuantity);
        }

        if (price <= 0m)
        {
            return CommandCheck.Reject(RejectReasons.InvalidPrice);
        }

        if (!config.TryGetMarket(market, out var spec))
        {
            return CommandCheck.Reject(RejectReasons.UnknownMarket);
        }

        if (TradeLimit(spec.Limits, quantity, price) is { } limit)
        {
            return CommandCheck.Reject(limit);
        }

        return marks.TryGetMark(market, out _) ? CommandCheck.Ok : CommandCheck.Reject(RejectReasons.NoMark);
    }

    /// <summary>
    /// The fill on its own within the market's limits (size first, so that the notional is computed only once both
    /// factors are bounded and cannot overflow).
    /// </summary>
    private static string? TradeLimit(MarketLimits limits, decimal quantity, decimal price) =>
        Math.Abs(quantity) > limits.MaxPositionSize ? RejectReasons.MaxPositionSize
        : price > limits.MaxPrice ? RejectReasons.MaxPrice
        : Math.Abs(quantity) * price > limits.MaxNotional ? RejectReasons.MaxNotional
        : null;

    /// <summary>
    /// Issue 9, bounded arithmetic across commands: the reason to refuse a command that took <paramref name="before"/>
    /// to <paramref name="after"/>, or null. A position may not exceed its market's <c>maxPositionSize</c>, nor its
    /// notional at the entry price <c>maxNotional</c>; a balance (USD included, which realized PnL moves) may not exceed
    /// its asset's <c>maxQuantity</c> in absolute value. A command that does not make an out-of-bounds position or
    /// balance larger is never refused for the limits (a position held before a limit was lowered can always be
    /// reduced or closed).
    /// </summary>
    public static string? CheckLimits(Portfolio before, Portfolio after, RiskConfiguration config)
    {
        foreach (var (market, position) in after.Positions)
        {
            var limits = config.TryGetMarket(market, out var spec) ? spec.Limits : MarketLimits.Default;
            var was = before.PositionIn(market);
            var size = Math.Abs(position.Size);
            var wasSize = was is { } w ? Math.Abs(w.Size) : 0m;
            if (size > limits.MaxPositionSize && size > wasSize)
            {
                return RejectReasons.MaxPositionSize;
            }

            var notional = size * position.Entry;
            if (notional > limits.MaxNotional && notional > (was is { } p ? Math.Abs(p.Size) * p.Entry : 0m))
            {
                return RejectReasons.MaxNotional;
            }
        }

        foreach (var (asset, quantity) in after.Balances)
        {
            var max = config.TryGetCollateral(asset, out var spec) ? spec.MaxQuantity : Limits.DefaultMaxQuantity;
            var magnitude = Math.Abs(quantity);
            if (magnitude > max && magnitude > Math.Abs(before.Balance(asset)))
            {
                return RejectReasons.MaxQuantity;
            }
        }

        return null;
    }

    public static CommandCheck CheckDeposit(string asset, decimal quantity, RiskConfiguration config)
    {
        if (quantity <= 0m)
        {
            return CommandCheck.Reject(RejectReasons.InvalidQuantity);
        }

        if (!config.TryGetCollateral(asset, out var spec))
        {
            return CommandCheck.Reject(RejectReasons.AssetNotConfigured);
        }

        if (quantity > spec.MaxQuantity)
        {
            return CommandCheck.Reject(RejectReasons.MaxQuantity);
        }

        return config.IsPricedAsset(asset) ? CommandCheck.Ok : CommandCheck.Reject(RejectReasons.AssetNotPriced);
    }

    /// <summary>An opening balance (seeding an account): a configured, priced asset; only USD may be negative.</summary>
    public static string? CheckOpeningBalance(string asset, decimal quantity, RiskConfiguration config) =>
        !config.TryGetCollateral(asset, out _) ? $"unknown asset '{asset}'"
        : !config.IsPricedAsset(asset) ? $"asset '{asset}' is priced by a market that is not configured"
        : quantity < 0m && asset != Assets.Usd ? "only USD may be negative"
        : null;

    /// <summary>An opening position: a configured market and a positive entry price; returns the offending field and why.</summary>
    public static (string Field, string Reason)? CheckOpeningPosition(string market, decimal entryPrice, RiskConfiguration config) =>
        !config.TryGetMarket(market, out _) ? ("market", $"unknown market '{market}'")
        : entryPrice <= 0m ? ("entryPrice", $"must be positive, got {entryPrice}")
        : null;

    /// <summary>A withdrawal is refused if it exceeds the balance or leaves <c>E &lt; IM</c>.</summary>
    public static CommandCheck CheckWithdrawal(
        Portfolio portfolio, string asset, decimal quantity, IMarks marks, RiskConfiguration config)
    {
        if (quantity <= 0m)
        {
            return CommandCheck.Reject(RejectReasons.InvalidQuantity);
        }

        if (!config.TryGetCollateral(asset, out _))
        {
            return CommandCheck.Reject(RejectReasons.AssetNotConfigured);
        }

        if (quantity > portfolio.Balance(asset))
        {
            return CommandCheck.Reject(RejectReasons.InsufficientBalance);
        }

        var after = portfolio.Clone();
        after.Withdraw(asset, quantity);
        var health = MarginCalculator.Evaluate(after, marks, config);
        return health.Equity < health.InitialMargin
            ? CommandCheck.Reject(RejectReasons.InitialMargin)
            : CommandCheck.Ok;
    }

    /// <summary>
    /// The pre-trade check: would this fill leave <c>E ≥ IM</c>, or does it only reduce |size|?
    /// Returns the health the account would have after the fill.
    /// </summary>
    public static PreTradeResult PreTrade(
        Portfolio portfolio, string market, decimal quantity, decimal price, IMarks marks, RiskConfiguration config)
    {
        var check = CheckFill(market, quantity, price, marks, config);
        if (!check.Accepted)
        {
            return new PreTradeResult(false, check.RejectReason, null);
        }

        var after = portfolio.Clone();
        after.ApplyFill(market, quantity, price);
        if (CheckLimits(portfolio, after, config) is { } limit)
        {
            return new PreTradeResult(false, limit, null);
        }

        var health = MarginCalculator.Evaluate(after, marks, config);
        var before = portfolio.PositionIn(market)?.Size ?? 0m;
        var sizeAfter = after.PositionIn(market)?.Size ?? 0m;
        var reducesOnly = before != 0m
            && (sizeAfter == 0m || Math.Sign(sizeAfter) == Math.Sign(before))
            && Math.Abs(sizeAfter) < Math.Abs(before);
        var allowed = reducesOnly || health.Equity >= health.InitialMargin;
        return new PreTradeResult(allowed, allowed ? null : RejectReasons.InitialMargin, health);
    }
}

public sealed record PreTradeResult(bool Allowed, string? Reason, AccountHealth? HealthAfter);
