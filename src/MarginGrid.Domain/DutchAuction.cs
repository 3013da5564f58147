namespace MarginGrid.Domain;

/// <summary>
/// v3 Dutch auctions of collateral (MARGIN-MODEL.md, "Dutch auctions of collateral"): the price, the expiry, a take and
/// the end of an auction. The one home of these rules: the model engine and the account aggregate both call them.
/// </summary>
public static class DutchAuction
{
    /// <summary>"in auction": the withdrawal of an account whose collateral is in auction.</summary>
    public const string InAuction = "in auction";

    public const string OwnAuction = "own auction";

    public const string NoRunningAuction = "no running auction";

    public const string PriceAboveMaximum = "price above maximum";

    /// <summary>Seconds from <paramref name="start"/> to <paramref name="now"/> (100 ns resolution, as scenario instants).</summary>
    public static decimal Elapsed(DateTimeOffset start, DateTimeOffset now) => (decimal)(now - start).Ticks / TimeSpan.TicksPerSecond;

    /// <summary>The price <c>top × cut^k</c>, <c>k = ⌊elapsed / step⌋</c>; <paramref name="factor"/> is <c>cut^k</c>.</summary>
    public static decimal Price(decimal top, AuctionSpec spec, decimal elapsed, out decimal factor)
    {
        var k = decimal.Floor(elapsed / spec.Step);
        factor = 1m;
        for (var i = 0m; i < k && factor >= spec.Cusp * 0.0000001m; i++)
        {
            factor *= spec.Cut;
        }

        return top * factor;
    }

    /// <summary>Whether the auction has ended by time: <c>elapsed &gt; tail</c> or <c>cut^k &lt; cusp</c>.</summary>
    public static bool Expired(AuctionSpec spec, decimal elapsed)
    {
        Price(1m, spec, elapsed, out var factor);
        return elapsed > spec.Tail || factor < spec.Cusp;
    }

    /// <summary>
    /// What a bid of <paramref name="quantity"/> takes of a lot at price <paramref name="price"/> from an account owing
    /// <paramref name="debt"/>: exactly the debt when both the bid and the lot reach it, else <c>min(quantity, lot)</c>.
    /// </summary>
    public static (decimal Quantity, decimal Payment) Take(decimal debt, decimal price, decimal quantity, decimal lot)
    {
        var need = debt / price;
        if (quantity >= need && lot >= need)
        {
            return (need, debt);
        }

        var x = Math.Min(quantity, lot);
        return (x, x * price);
    }

    /// <summary>
    /// Ends an account's auction on <paramref name="portfolio"/> (changed in place): <c>auction_end</c> with the unsold lot
    /// (which it keeps); when it has no position, optionally sells the lot to the system as in v1 (while USD &lt; 0),
    /// resumes liquidation step 2 from the next asset (which may start another auction) and writes off what is still
    /// owed. The returned result's sales and write-off are already applied; the fund takes its income and covers its
    /// deficit (no auto-deleveraging after an auction).
    /// </summary>
    public static (ModelEvent End, LiquidationResult Result) End(
        string account, Portfolio portfolio, string asset, decimal lot, bool sellLot, IMarks marks, RiskConfiguration config)
    {
        var end = new ModelEvent(ModelEventType.AuctionEnd, account) { Asset = asset, Quantity = lot };
        if (portfolio.HasPositions)
        {
            return (end, new LiquidationResult([], [], 0m));
        }

        var spec = config.TryGetCollateral(asset, out var s) ? s : throw new InvalidOperationException($"asset '{asset}' is not configured");
        var sales = new List<CollateralSale>();
        if (sellLot && portfolio.Usd < 0m && portfolio.Balance(asset) > 0m)
        {
            sales.Add(Liquidator.Sell(portfolio, spec, portfolio.Balance(asset), MarginCalculator.Mark(marks, spec.PriceMarket!)));
        }

        var (more, next) = Liquidator.SellCollateral(portfolio, marks, config, after: spec, auctions: true);
        sales.AddRange(more);
        var deficit = 0m;
        if (next is null && portfolio.Usd < 0m)
        {
            deficit = -portfolio.Usd;
            portfolio.ForgiveUsdDebt();
        }

        return (end, new LiquidationResult([], sales, deficit) { Auction = next });
    }
}
