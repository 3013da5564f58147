using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>Properties 2–4 and the liquidation side conditions, each on freshly generated accounts.</summary>
public sealed class LiquidationProperties
{
    /// <summary>Accounts the engine would liquidate (status Liquidatable or Bankrupt).</summary>
    public static Gen<AccountCase> Liquidatable =>
        Generators.Account.Where(a => MarginCalculator.Evaluate(a.NewPortfolio(), a.NewMarks(), a.Config).NeedsLiquidation);

    /// <summary>Property 2: afterwards E ≥ γ·MM, or no position is left (checked with the calculator and the oracle).</summary>
    [Property(MaxTest = 300)]
    public Property AfterLiquidationTheTargetHoldsOrNoPositionIsLeft() =>
        Prop.ForAll(Arb.From(Gen.OneOf(Liquidatable, Generators.AccountWithPositions)), c =>
        {
            var marks = c.NewMarks();
            var p = c.NewPortfolio();
            Liquidator.Liquidate(p, marks, c.Config);
            var gamma = c.Config.Risk.LiquidationTargetRatio;
            var h = MarginCalculator.Evaluate(p, marks, c.Config);
            Assert.True(!p.HasPositions || h.Equity >= gamma * h.MaintenanceMargin, $"E={h.Equity} < γ·MM={gamma * h.MaintenanceMargin}");
            var (mm, _) = Reference.Requirements(p, marks, c.Config);
            Assert.True(!p.HasPositions || Reference.Equity(p, marks, c.Config) >= gamma * mm);
        });

    /// <summary>
    /// Property 3: every close is the least quantity. Replays the liquidation close by close on a clone: each close
    /// starts below target, follows the MMᵢ-descending order, is a lot multiple (or all of an odd size), and either
    /// reaches the target while one lot fewer (or the largest lot multiple below an odd size) would not, or closes all.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property EveryCloseIsTheLeastQuantity() =>
        Prop.ForAll(Arb.From(Liquidatable), c =>
        {
            var (before, result, marks) = Run(c);
            var config = c.Config;
            var gamma = config.Risk.LiquidationTargetRatio;
            var order = before.Positions
                .Select(x => (Symbol: x.Key, Mm: MarginCalculator.PositionMaintenance(config.Market(x.Key), x.Value, marks.All[x.Key])))
                .OrderByDescending(x => x.Mm)
                .ThenBy(x => x.Symbol, StringComparer.Ordinal)
                .Select(x => x.Symbol)
                .ToList();

            Assert.Equal(before.HasPositions, result.Closes.Count > 0); // below MM ≤ γ·MM: something is closed
            var sim = before.Clone();
            for (var i = 0; i < result.Closes.Count; i++)
            {
                var close = result.Closes[i];
                var market = config.Market(close.Market);
                var mark = marks.All[close.Market];
                var pre = MarginCalculator.Evaluate(sim, marks, config);
                Assert.True(pre.Equity < gamma * pre.MaintenanceMargin, $"close #{i} happened although E ≥ γ·MM");
                Assert.Equal(order[i], close.Market);
                Assert.Equal(mark, close.Price);

                var size = Math.Abs(sim.PositionIn(close.Market)!.Value.Size);
                var q = close.Quantity;
                Assert.True(q > 0m && q <= size, $"quantity {q} outside (0, {size}]");
                Assert.True(q == size || q % market.LotSize == 0m, $"quantity {q} is not a multiple of {market.LotSize}");

                var reached = ReachesAfterClose(sim, close.Market, q, marks, config, gamma);
                if (!reached)
                {
                    Assert.Equal(size, q); // no quantity reaches: close all of it
                }
                else
                {
                    var fewer = q % market.LotSize == 0m ? q - market.LotSize : decimal.Floor(q / market.LotSize) * market.LotSize;
                    Assert.True(
                        fewer <= 0m || !ReachesAfterClose(sim, close.Market, fewer, marks, config, gamma),
                        $"close #{i} of {q} in {close.Market}: {fewer} would already reach E ≥ γ·MM");
                }

                Assert.Equal(sim.ClosePosition(close.Market, q, mark), close.RealizedPnl);
                sim.PayUsd(close.Penalty);
            }

            var end = MarginCalculator.Evaluate(sim, marks, config);
            Assert.True(!sim.HasPositions || end.Equity >= gamma * end.MaintenanceMargin);
        });

    /// <summary>The least quantity searched by bisection equals the brute-force least lot count (oracle requirements).</summary>
    [Property(MaxTest = 300)]
    public Property LeastQuantityMatchesBruteForce() =>
        Prop.ForAll(
            Arb.From(
                from risk in Generators.Risk
                from market in Generators.Market("X", risk)
                from lots in Gen.Choose(1, 2000)
                from odd in Gen.Frequency((4, Gen.Constant(0)), (1, Gen.Choose(1, 9)))
                from sign in Gen.Elements(-1m, 1m)
                from mark in Generators.Price
                from entryPct in Gen.Choose(60, 140)
                from otherCents in Gen.Frequency((1, Gen.Constant(0)), (2, Gen.Choose(1, 100_000_000)))
                from equityPct in Gen.Choose(-50, 109)
                select (risk, market, size: (lots * market.LotSize) + (odd * market.LotSize / 10m), sign, mark, entry: decimal.Round(mark * entryPct / 100m, 2), other: otherCents / 100m, equityPct)),
            t =>
            {
                var (risk, market, size, sign, mark, entry, other, equityPct) = t;
                var gamma = risk.LiquidationTargetRatio;
                var position = new Position(sign * size, entry);
                var mmi = Reference.Requirement(market.Brackets, size * mark, initial: false);
                var mm = other + mmi;
                var equity = gamma * mm * equityPct / 100m; // below the target
                var q = Liquidator.LeastQuantity(market, position, mark, equity, mm, mmi, gamma);

                bool Reaches(decimal closed)
                {
                    var penalty = Math.Min(market.LiquidationPenalty * closed * mark, Math.Max(0m, equity));
                    var mmAfter = other + Reference.Requirement(market.Brackets, (size - closed) * mark, initial: false);
                    return equity - penalty >= gamma * mmAfter;
                }

                var expected = size;
                for (var n = 1m; n * market.LotSize <= size; n++)
                {
                    if (Reaches(n * market.LotSize))
                    {
                        expected = n * market.LotSize;
                        break;
                    }
                }

                Assert.Equal(expected, q);
            });

    /// <summary>Each penalty is min(φ·q·M, max(0, E)) with E the equity just before that close, so never above max(0, E).</summary>
    [Property(MaxTest = 300)]
    public Property PenaltyNeverExceedsTheEquityBeforeTheClose() =>
        Prop.ForAll(Arb.From(Liquidatable), c =>
        {
            var (before, result, marks) = Run(c);
            var sim = before.Clone();
            foreach (var close in result.Closes)
            {
                var equity = MarginCalculator.Evaluate(sim, marks, c.Config).Equity;
                var phi = c.Config.Market(close.Market).LiquidationPenalty;
                Assert.True(close.Penalty >= 0m && close.Penalty <= Math.Max(0m, equity), $"penalty {close.Penalty} with E={equity}");
                Assert.Equal(Math.Min(phi * close.Quantity * close.Price, Math.Max(0m, equity)), close.Penalty);
                sim.ClosePosition(close.Market, close.Quantity, close.Price);
                sim.PayUsd(close.Penalty);
            }
        });

    /// <summary>
    /// Collateral is sold only when no position remains and USD &lt; 0, by weight ascending (then name), at P(1−δ),
    /// the least quantity (to decimal precision) or all; a deficit leaves USD = 0 and no collateral; afterwards an
    /// account without positions never holds a USD debt. Replays the sales on a clone and compares the end state.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property CollateralSalesAndBankruptcyFollowTheRules() =>
        Prop.ForAll(Arb.From(Gen.OneOf(Liquidatable, Liquidatable.Where(a => a.Config.Collateral.Count > 0))), c =>
        {
            var (before, result, marks) = Run(c, out var after);
            var config = c.Config;
            var sim = before.Clone();
            foreach (var close in result.Closes)
            {
                sim.ClosePosition(close.Market, close.Quantity, close.Price);
                sim.PayUsd(close.Penalty);
            }

            Assert.True(result.Sales.Count == 0 || !sim.HasPositions, "collateral sold while a position remains");
            var expectedOrder = sim.Balances
                .Where(b => b.Key != Assets.Usd && b.Value > 0m)
                .Select(b => (Asset: b.Key, Weight: config.TryGetCollateral(b.Key, out var s) ? s.Weight : 0m))
                .OrderBy(x => x.Weight)
                .ThenBy(x => x.Asset, StringComparer.Ordinal)
                .Select(x => x.Asset)
                .ToList();
            for (var i = 0; i < result.Sales.Count; i++)
            {
                var sale = result.Sales[i];
                Assert.True(sim.Usd < 0m, "a sale happened although USD ≥ 0");
                Assert.Equal(expectedOrder[i], sale.Asset);
                Assert.True(config.TryGetCollateral(sale.Asset, out var spec));
                var held = sim.Balance(sale.Asset);
                Assert.Equal(marks.All[spec.PriceMarket!], sale.Price);
                Assert.True(sale.Quantity > 0m && sale.Quantity <= held);
                // The sale quantity is a 28-digit quotient, so products agree to decimal precision, not digit for digit.
                Reference.Near(sale.Quantity * sale.Price * (1m - spec.LiquidationDiscount), sale.Proceeds, 0.0000000000000000001m);
                Reference.Near(spec.LiquidationDiscount * sale.Price * sale.Quantity, sale.Discount, 0.0000000000000000001m);
                Reference.Near(sale.Quantity * sale.Price, sale.Proceeds + sale.Discount, 0.0000000000000000001m);
                var usdBefore = sim.Usd;
                sim.SellCollateral(sale.Asset, sale.Quantity, sale.Proceeds, sale.Quantity * sale.Price);
                if (sale.Quantity < held)
                {
                    Assert.True(sim.Usd >= 0m, $"partial sale left USD {sim.Usd}");
                    Assert.True(sim.Usd <= 0.000000001m * Math.Max(1m, -usdBefore), $"sale of {sale.Quantity} is not the least: USD {usdBefore} → {sim.Usd}");
                }
            }

            if (!sim.HasPositions && sim.Usd < 0m)
            {
                Assert.DoesNotContain(sim.Balances, b => b.Key != Assets.Usd && b.Value > 0m);
                Assert.Equal(-sim.Usd, result.Deficit);
                sim.ForgiveUsdDebt();
            }
            else
            {
                Assert.Equal(0m, result.Deficit);
            }

            if (result.Deficit > 0m)
            {
                Assert.Equal(0m, after.Usd);
                Assert.False(after.HasPositions);
            }

            if (!after.HasPositions)
            {
                Assert.True(after.Usd >= 0m);
                Assert.Equal(AccountStatus.Healthy, MarginCalculator.Evaluate(after, marks, config).Status);
            }

            Assert.Equal(sim.Balances.OrderBy(b => b.Key, StringComparer.Ordinal), after.Balances.OrderBy(b => b.Key, StringComparer.Ordinal));
            Assert.Equal(sim.Positions.OrderBy(b => b.Key, StringComparer.Ordinal), after.Positions.OrderBy(b => b.Key, StringComparer.Ordinal));
        });

    /// <summary>A Bankrupt account (E ≤ 0) is closed out entirely and ends with no USD debt; with a deficit, USD = 0.</summary>
    [Property(MaxTest = 200)]
    public Property BankruptAccountEndsFlatWithUsdZeroOrBetter() =>
        Prop.ForAll(
            Arb.From(Liquidatable.Where(a => MarginCalculator.Evaluate(a.NewPortfolio(), a.NewMarks(), a.Config).Status == AccountStatus.Bankrupt)),
            c =>
            {
                var (_, result, _) = Run(c, out var after);
                Assert.False(after.HasPositions);
                Assert.True(after.Usd >= 0m);
                Assert.True(result.Deficit == 0m || after.Usd == 0m);
                Assert.All(result.Closes, x => Assert.Equal(0m, x.Penalty)); // E ≤ 0 before every close: nothing affordable
            });

    /// <summary>Property 4 (one liquidation): Σ USD + fund − socialized changes exactly by realized PnL + collateral sold value.</summary>
    [Property(MaxTest = 300)]
    public Property OneLiquidationConservesMoney() =>
        Prop.ForAll(Arb.From(from c in Liquidatable from fundCents in Gen.Choose(0, 100_000_000) select (c, fund: fundCents / 100m)), t =>
        {
            var (c, initialFund) = t;
            var marks = c.NewMarks();
            var p = c.NewPortfolio();
            var ledger = new InsuranceLedger(initialFund);
            var moneyBefore = Reference.Money([p], ledger);
            var sourcesBefore = Reference.Sources([p]);
            Assert.True(Conservation.Check([Entry(p)], initialFund, ledger.Fund, ledger.SocializedLoss).Holds);

            var result = Liquidator.Liquidate(p, marks, c.Config);
            var fundBefore = ledger.Fund + result.FundIncome;
            var cover = ledger.Apply(result);
            Assert.Equal(result.Deficit > 0m, cover is not null);
            if (cover is not null)
            {
                Assert.Equal(Math.Min(result.Deficit, fundBefore), cover.InsuranceCovered);
                Assert.Equal(result.Deficit - cover.InsuranceCovered, cover.Socialized);
            }

            Assert.True(ledger.Fund >= 0m);
            var delta = Reference.Money([p], ledger) - moneyBefore;
            var sources = Reference.Sources([p]) - sourcesBefore;
            Reference.Near(sources, delta);
            if (result.Sales.Count == 0)
            {
                Assert.Equal(sources, delta); // exact when no quotient is involved
            }

            var report = Conservation.Check([Entry(p)], initialFund, ledger.Fund, ledger.SocializedLoss);
            Assert.True(report.Holds, $"conservation off by {report.Difference}");
        });

    internal static ConservationEntry Entry(Portfolio p) => new(p.Usd, p.NetUsdTransfers, p.RealizedPnl, p.CollateralSoldValue);

    private static bool ReachesAfterClose(Portfolio state, string market, decimal quantity, MarkBook marks, RiskConfiguration config, decimal gamma)
    {
        var equity = MarginCalculator.Evaluate(state, marks, config).Equity;
        var alt = state.Clone();
        var mark = marks.All[market];
        alt.ClosePosition(market, quantity, mark);
        alt.PayUsd(Math.Min(config.Market(market).LiquidationPenalty * quantity * mark, Math.Max(0m, equity)));
        var (mm, _) = Reference.Requirements(alt, marks, config);
        return Reference.Equity(alt, marks, config) >= gamma * mm;
    }

    private static (Portfolio Before, LiquidationResult Result, MarkBook Marks) Run(AccountCase c) => Run(c, out _);

    private static (Portfolio Before, LiquidationResult Result, MarkBook Marks) Run(AccountCase c, out Portfolio after)
    {
        var marks = c.NewMarks();
        var before = c.NewPortfolio();
        after = before.Clone();
        var result = Liquidator.Liquidate(after, marks, c.Config);
        return (before, result, marks);
    }
}
