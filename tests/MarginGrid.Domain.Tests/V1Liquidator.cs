namespace MarginGrid.Domain.Tests;

/// <summary>
/// The v1 liquidation exactly as it was before v2 (kept verbatim as an oracle): <see cref="Liquidator.Liquidate"/> now
/// runs on <see cref="StepLiquidation"/>, and with v2's knobs off it must give this result to the last digit.
/// </summary>
public static class V1Liquidator
{
    public static LiquidationResult Liquidate(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var gamma = config.Risk.LiquidationTargetRatio;
        var closes = new List<PositionClose>();

        var order = portfolio.Positions
            .Select(p => (Market: config.Market(p.Key), Position: p.Value, Mark: MarginCalculator.Mark(marks, p.Key)))
            .Select(x => (x.Market, x.Position, x.Mark, Mm: MarginCalculator.PositionMaintenance(x.Market, x.Position, x.Mark)))
            .OrderByDescending(x => x.Mm)
            .ThenBy(x => x.Market.Symbol, StringComparer.Ordinal)
            .ToList();

        foreach (var (market, position, mark, mmi) in order)
        {
            var health = MarginCalculator.Evaluate(portfolio, marks, config);
            if (health.Equity >= gamma * health.MaintenanceMargin)
            {
                break;
            }

            var quantity = Liquidator.LeastQuantity(market, position, mark, health.Equity, health.MaintenanceMargin, mmi, gamma);
            var penalty = Liquidator.Penalty(market, quantity, mark, health.Equity);
            var realized = portfolio.ClosePosition(market.Symbol, quantity, mark);
            portfolio.PayUsd(penalty);
            closes.Add(new PositionClose(market.Symbol, quantity, mark, penalty, realized));
        }

        var sales = portfolio.HasPositions ? [] : SellCollateral(portfolio, marks, config);

        var deficit = 0m;
        if (!portfolio.HasPositions && portfolio.Usd < 0m)
        {
            deficit = -portfolio.Usd;
            portfolio.ForgiveUsdDebt();
        }

        return new LiquidationResult(closes, sales, deficit);
    }

    private static List<CollateralSale> SellCollateral(Portfolio portfolio, IMarks marks, RiskConfiguration config)
    {
        var sales = new List<CollateralSale>();
        if (portfolio.Usd >= 0m)
        {
            return sales;
        }

        var assets = portfolio.Balances
            .Where(b => b.Key != Assets.Usd && b.Value > 0m)
            .Select(b => (Asset: b.Key, Quantity: b.Value, Spec: config.TryGetCollateral(b.Key, out var s) ? s : throw new InvalidOperationException()))
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
            var unit = price * (1m - spec.LiquidationDiscount);
            var quantity = Math.Min(held, DecimalMath.CeilingQuotient(-portfolio.Usd, unit));
            var proceeds = quantity * unit;
            var value = quantity * price;
            var discount = spec.LiquidationDiscount * price * quantity;
            portfolio.SellCollateral(asset, quantity, proceeds, value);
            sales.Add(new CollateralSale(asset, quantity, price, discount, proceeds));
        }

        return sales;
    }
}
