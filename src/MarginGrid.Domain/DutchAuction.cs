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
    /// The first instant at which an auction started at <paramref name="start"/> has ended by time (<see cref="Expired"/>),
    /// to the 100 ns resolution of <see cref="Elapsed"/>: <c>min(t0 + k*·step, the first instant after t0 + tail)</c>,
    /// <c>k*</c> the least k with <c>cut^k &lt; cusp</c>. Expired there, and not one tick before: the engine's timers fire
    /// at it, and the start of a step ends exactly the auctions whose deadline has come.
    /// </summary>
    public static DateTimeOffset Deadline(DateTimeOffset start, AuctionSpec spec)
    {
        // k*: the same products as Price, so that the deadline agrees with Expired to the last digit.
        var k = 0m;
        for (var factor = 1m; factor >= spec.Cusp && k < MaxSteps; k++)
        {
            factor *= spec.Cut;
        }

        var byCusp = k * spec.Step;
        var seconds = Math.Min(byCusp, spec.Tail);
        var ticks = seconds >= MaxSeconds ? long.MaxValue / 2 : (long)decimal.Ceiling(seconds * TimeSpan.TicksPerSecond);
        var limit = DateTimeOffset.MaxValue.UtcTicks - start.UtcTicks - 1;
        ticks = Math.Clamp(ticks, 0, limit);

        // Settle on the exact tick: a few steps at most either way (the decimal products round at the 28th digit).
        for (var i = 0; i < 4 && ticks < limit && !Expired(spec, Elapsed(start, start.AddTicks(ticks))); i++)
        {
            ticks++;
        }

        for (var i = 0; i < 4 && ticks > 0 && Expired(spec, Elapsed(start, start.AddTicks(ticks - 1))); i++)
        {
            ticks--;
        }

        return start.AddTicks(ticks);
    }

    /// <summary>The time an auction has left at <paramref name="now"/> (zero once its deadline has come).</summary>
    public static TimeSpan TimeLeft(DateTimeOffset start, AuctionSpec spec, DateTimeOffset now) =>
        Deadline(start, spec) - now is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero;

    /// <summary>More steps than any bounded configuration needs (cut ≤ 1 − 1e-28 would need more; the tail ends it first).</summary>
    private const decimal MaxSteps = 1_000_000m;

    /// <summary>Beyond about 10,000 years a deadline is "never" (the tail caps every real auction long before).</summary>
    private const decimal MaxSeconds = 315_000_000_000m;

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
