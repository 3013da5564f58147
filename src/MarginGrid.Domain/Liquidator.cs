namespace MarginGrid.Domain;

/// <summary>One close of a position in a liquidation, at its execution price (the step's mark unless netting moved it).</summary>
public sealed record PositionClose(string Market, decimal Quantity, decimal Price, decimal Penalty, decimal RealizedPnl);

/// <summary>One sale of collateral in a liquidation: the seller gets <c>P(1−δ)</c> per unit, the fund the discount.</summary>
public sealed record CollateralSale(string Asset, decimal Quantity, decimal Price, decimal Discount, decimal Proceeds);

/// <summary>What the liquidation of one account did; <see cref="Deficit"/> is the USD debt left for the fund (≥ 0).</summary>
public sealed record LiquidationResult(
    IReadOnlyList<PositionClose> Closes,
    IReadOnlyList<CollateralSale> Sales,
    decimal Deficit)
{
    /// <summary>v3: step 2 stopped at an asset with <c>auction</c>, put up for auction (nothing to apply: the lot stays).</summary>
    public AuctionStart? Auction { get; init; }

    public decimal Penalties => Closes.Sum(c => c.Penalty);

    public decimal Discounts => Sales.Sum(s => s.Discount);

    /// <summary>What the insurance fund receives before any bankruptcy is covered.</summary>
    public decimal FundIncome => Penalties + Discounts;

    public bool IsEmpty => Closes.Count == 0 && Sales.Count == 0 && Deficit == 0m;

    /// <summary>
    /// Applies this outcome to the account's portfolio, which must hold what it held when the outcome was decided:
    /// each close at its (execution) price with its penalty paid, each collateral sale, and the write-off of the
    /// deficit. Deterministic: applied to an identical portfolio it gives an identical portfolio.
    /// </summary>
    public void ApplyTo(Portfolio portfolio)
    {
        foreach (var close in Closes)
        {
            portfolio.ClosePosition(close.Market, close.Quantity, close.Price);
            portfolio.PayUsd(close.Penalty);
        }

        foreach (var sale in Sales)
        {
            portfolio.SellCollateral(sale.Asset, sale.Quantity, sale.Proceeds, sale.Quantity * sale.Price);
        }

        if (Deficit > 0m)
        {
            portfolio.ForgiveUsdDebt();
        }
    }
}

/// <summary>The liquidation of one account (MARGIN-MODEL.md, "Liquidation", steps 1–3 up to the fund).</summary>
public static class Liquidator
{
    /// <summary>
    /// Liquidates <paramref name="portfolio"/> in place at <paramref name="marks"/> by the v1 rule: closes the least lots
    /// needed to reach <c>E ≥ γ·MM</c> (positions by MMᵢ descending), sells collateral if no position is left and USD is
    /// negative, and writes off what is still owed (returned as <see cref="LiquidationResult.Deficit"/>). No cap and no
    /// price impact apply (a batch of one with v2's knobs off); the rule itself lives in <see cref="StepLiquidation"/>.
    /// </summary>
    public static LiquidationResult Liquidate(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var plan = StepLiquidation.PlanAccount("", portfolio.Clone(), marks, config, LiquidationBudget.Unlimited);
        var result = StepLiquidation.SettleAccount(portfolio.Clone(), plan, StepLiquidation.NoBatches, marks, config);
        result.ApplyTo(portfolio);
        return result;
    }

    /// <summary>The penalty <c>min(φ·q·M, max(0, E))</c>: no account pays a penalty it cannot afford.</summary>
    public static decimal Penalty(MarketSpec market, decimal quantity, decimal mark, decimal equityBefore) =>
        Math.Min(market.LiquidationPenalty * quantity * mark, Math.Max(0m, equityBefore));

    /// <summary>
    /// The least multiple of the lot size (at most |size|) whose close reaches <c>E' ≥ γ·MM'</c>; |size| if none does.
    /// <c>E' − γ·MM'</c> increases strictly with the quantity because φ &lt; γ·mmr₁, so bisection finds it.
    /// </summary>
    public static decimal LeastQuantity(
        MarketSpec market, Position position, decimal mark, decimal equity, decimal mm, decimal mmi, decimal gamma) =>
        LeastQuantity(market, position, mark, equity, mm, mmi, gamma, 1m);

    /// <summary>
    /// <see cref="LeastQuantity(MarketSpec, Position, decimal, decimal, decimal, decimal, decimal)"/> with the market's
    /// volatility multiplier k: MMᵢ (given scaled in <paramref name="mmi"/>) and what remains of it scale by k (k ≥ 1
    /// keeps <c>φ &lt; γ·k·mmr₁</c>, so the search stays monotone).
    /// </summary>
    public static decimal LeastQuantity(
        MarketSpec market, Position position, decimal mark, decimal equity, decimal mm, decimal mmi, decimal gamma, decimal multiplier)
    {
        var size = Math.Abs(position.Size);
        var lots = decimal.Floor(size / market.LotSize);
        if (lots < 1m || !Reaches(lots))
        {
            return size;
        }

        decimal lo = 0m, hi = lots; // Reaches(lo) is false (or lo = 0), Reaches(hi) is true
        while (hi - lo > 1m)
        {
            var mid = decimal.Floor((lo + hi) / 2m);
            if (Reaches(mid))
            {
                hi = mid;
            }
            else
            {
                lo = mid;
            }
        }

        return hi * market.LotSize;

        bool Reaches(decimal n)
        {
            var q = n * market.LotSize;
            var equityAfter = equity - Penalty(market, q, mark, equity);
            var mmAfter = mm - mmi + MarginCalculator.Scale(multiplier, market.MaintenanceRequirement((size - q) * mark));
            return equityAfter >= gamma * mmAfter;
        }
    }

    /// <summary>Liquidation step 2: sells collateral (weight ascending, then asset) until USD ≥ 0, at <c>P(1−δ)</c>.</summary>
    internal static List<CollateralSale> SellCollateral(Portfolio portfolio, IMarks marks, RiskConfiguration config) =>
        SellCollateral(portfolio, marks, config, after: null, auctions: false).Sales;

    /// <summary>
    /// Liquidation step 2 from the asset after <paramref name="after"/> (all of them when null), in order of weight
    /// ascending then asset: each sells the least quantity that brings USD to ≥ 0, or all of it. With
    /// <paramref name="auctions"/>, an asset that has <c>auction</c> is put up for auction instead (its whole balance)
    /// and step 2 stops there.
    /// </summary>
    public static (List<CollateralSale> Sales, AuctionStart? Auction) SellCollateral(
        Portfolio portfolio, IMarks marks, RiskConfiguration config, CollateralSpec? after, bool auctions)
    {
        var sales = new List<CollateralSale>();
        if (portfolio.Usd >= 0m)
        {
            return (sales, null);
        }

        var assets = portfolio.Balances
            .Where(b => b.Key != Assets.Usd && b.Value > 0m)
            .Select(b => (Asset: b.Key, Quantity: b.Value, Spec: config.TryGetCollateral(b.Key, out var s) ? s : throw new InvalidOperationException($"asset '{b.Key}' is not configured")))
            .Where(x => after is null || x.Spec.Weight > after.Weight || (x.Spec.Weight == after.Weight && string.CompareOrdinal(x.Asset, after.Asset) > 0))
            .OrderBy(x => x.Spec.Weight)
            .ThenBy(x => x.Asset, StringComparer.Ordinal)
            .ToList();

        foreach (var (asset, held, spec) in assets)
        {
            if (portfolio.Usd >= 0m)
            {
                break;
            }

            var price = MarginCalculator.Mark(marks, spec.PriceMarket!);
            if (auctions && spec.Auction is { } auction)
            {
                return (sales, new AuctionStart(asset, held, -portfolio.Usd, price * auction.Buf));
            }

            sales.Add(Sell(portfolio, spec, held, price));
        }

        return (sales, null);
    }

    /// <summary>Sells the least quantity (at most <paramref name="held"/>) of an asset that brings USD to ≥ 0, at <c>P(1−δ)</c>.</summary>
    public static CollateralSale Sell(Portfolio portfolio, CollateralSpec spec, decimal held, decimal price)
    {
        var unit = price * (1m - spec.LiquidationDiscount);
        var quantity = Math.Min(held, DecimalMath.CeilingQuotient(-portfolio.Usd, unit));
        var proceeds = quantity * unit;
        var value = quantity * price;
        var discount = spec.LiquidationDiscount * price * quantity;
        portfolio.SellCollateral(spec.Asset, quantity, proceeds, value);
        return new CollateralSale(spec.Asset, quantity, price, discount, proceeds);
    }
}

/// <summary>v3: a lot put up for a Dutch auction: the whole balance of the asset, the debt (tab) and the top price.</summary>
public sealed record AuctionStart(string Asset, decimal Lot, decimal Tab, decimal Top);

/// <summary>The insurance fund and the socialized loss: income from penalties and discounts, cover for bankruptcies.</summary>
public sealed class InsuranceLedger(decimal fund = 0m, decimal socialized = 0m)
{
    public decimal Fund { get; private set; } = fund >= 0m ? fund : throw new ArgumentOutOfRangeException(nameof(fund));

    public decimal SocializedLoss { get; private set; } = socialized;

    /// <summary>Credits the liquidation's penalties and discounts, then covers its deficit up to the fund's balance.</summary>
    public BankruptcyCover? Apply(LiquidationResult result)
    {
        Collect(result.FundIncome);
        return result.Deficit > 0m ? Cover(result.Deficit) : null;
    }

    /// <summary>Credits penalties and discounts.</summary>
    public void Collect(decimal income)
    {
        if (income < 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(income), "fund income cannot be negative");
        }

        Fund += income;
    }

    /// <summary>v3: money recovered by auto-deleveraging reduces the socialized loss it had been counted in.</summary>
    public void Recover(decimal amount)
    {
        if (amount < 0m || amount > SocializedLoss)
        {
            throw new ArgumentOutOfRangeException(nameof(amount), $"cannot recover {amount} of a socialized loss of {SocializedLoss}");
        }

        SocializedLoss -= amount;
    }

    /// <summary>Covers a bankruptcy deficit up to the fund's balance; the rest is socialized.</summary>
    public BankruptcyCover Cover(decimal deficit)
    {
        if (deficit <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(deficit), "a deficit is positive");
        }

        var covered = Math.Min(deficit, Fund);
        Fund -= covered;
        SocializedLoss += deficit - covered;
        return new BankruptcyCover(deficit, covered, deficit - covered);
    }
}

public sealed record BankruptcyCover(decimal Deficit, decimal InsuranceCovered, decimal Socialized)
{
    /// <summary>v3 with "adl": the part of the uncovered deficit recovered from counterparties (always set then, 0 if none).</summary>
    public decimal? AdlRecovered { get; init; }
}

public static class DecimalMath
{
    /// <summary>The least decimal q (at the precision of the quotient) with <c>q × divisor ≥ dividend</c>; both positive.</summary>
    public static decimal CeilingQuotient(decimal dividend, decimal divisor)
    {
        var q = dividend / divisor;
        for (var i = 0; i < 4 && q * divisor < dividend; i++)
        {
            q += Ulp(q);
        }

        return q;
    }

    /// <summary>One unit in the last place of <paramref name="value"/>'s scale.</summary>
    public static decimal Ulp(decimal value) => new(1, 0, 0, false, value.Scale);

    /// <summary>The value without trailing zeros, for display ("1.500" → "1.5").</summary>
    public static decimal Normalize(decimal value) => value / 1.0000000000000000000000000000m;
}
