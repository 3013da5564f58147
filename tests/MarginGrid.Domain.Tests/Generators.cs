using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace MarginGrid.Domain.Tests;

/// <summary>A generated, valid risk configuration together with the raw specs it was built from.</summary>
public sealed record ConfigCase(RiskConfiguration Config)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"risk(c={Config.Risk.MarginCallRatio}, γ={Config.Risk.LiquidationTargetRatio})");
        foreach (var m in Config.Markets)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; {m.Symbol}(lot={m.LotSize}, φ={m.LiquidationPenalty}, brackets=[");
            sb.Append(string.Join(", ", m.Brackets.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Floor}:{b.Mmr}/{b.Imr}"))));
            sb.Append("])");
        }

        foreach (var c in Config.Collateral)
        {
            sb.Append(CultureInfo.InvariantCulture, $"; {c.Asset}(w={c.Weight}, δ={c.LiquidationDiscount}, by {c.PriceMarket})");
        }

        return sb.ToString();
    }
}

/// <summary>
/// One account at one set of marks. Immutable: <see cref="NewPortfolio"/> builds a fresh mutable portfolio each time.
/// USD is seeded as a deposit-equivalent (<c>NetUsdTransfers</c> = seeded USD) so the conservation check starts balanced.
/// </summary>
public sealed record AccountCase(
    ConfigCase Setup,
    IReadOnlyDictionary<string, decimal> Marks,
    IReadOnlyDictionary<string, Position> Positions,
    IReadOnlyDictionary<string, decimal> Balances)
{
    public RiskConfiguration Config => Setup.Config;

    public MarkBook NewMarks() => new(Marks);

    public Portfolio NewPortfolio() =>
        Portfolio.Restore(Balances, Positions, netUsdTransfers: Balances.GetValueOrDefault(Assets.Usd));

    public override string ToString()
    {
        var marks = string.Join(", ", Marks.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key}={m.Value}")));
        var pos = string.Join(", ", Positions.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}: {p.Value.Size}@{p.Value.Entry}")));
        var bal = string.Join(", ", Balances.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Key}={b.Value}")));
        return $"{Setup} || marks[{marks}] positions[{pos}] balances[{bal}]";
    }
}

/// <summary>
/// Generators of valid configurations, portfolios and prices. Every decimal is built from integers
/// (lots × lotSize, cents / 100, basis points / 10000) so the model's arithmetic stays exact.
/// </summary>
public static class Generators
{
    private static readonly decimal[] LotSizes = [0.001m, 0.01m, 0.1m, 1m, 0.005m];

    public static Gen<RiskParameters> Risk =>
        from c in Gen.Choose(100, 200)
        from g in Gen.Choose(100, 150)
        select new RiskParameters(c / 100m, g / 100m);

    /// <summary>1–4 brackets: floors strictly increasing from 0, mmr/imr non-decreasing, mmr &lt; imr ≤ 1.</summary>
    public static Gen<IReadOnlyList<Bracket>> Brackets =>
        from count in Gen.Choose(1, 4)
        from mmr1 in Gen.Choose(10, 500)
        from gap1 in Gen.Choose(1, 500)
        from steps in Gen.CollectToList(
            Enumerable.Range(1, count - 1),
            _ => from fm in Gen.Choose(1, 100)
                 from fe in Gen.Choose(2, 5)
                 from dm in Gen.Choose(0, 300)
                 from gap in Gen.Choose(1, 500)
                 from keepImr in Gen.Choose(0, 3)
                 select (FloorStep: fm * Pow10(fe), MmrStep: dm, Gap: gap, KeepImr: keepImr == 0))
        select Build(mmr1, gap1, steps);

    public static Gen<MarketSpec> Market(string symbol, RiskParameters risk) =>
        from lot in Gen.Elements(LotSizes)
        from brackets in Brackets
        from phiPct in Gen.Frequency((4, Gen.Choose(0, 99)), (1, Gen.Constant(99)), (1, Gen.Constant(0)))
        select new MarketSpec(symbol, lot, risk.LiquidationTargetRatio * brackets[0].Mmr * phiPct / 100m, brackets);

    public static Gen<ConfigCase> Config =>
        from risk in Risk
        from nMarkets in Gen.Choose(1, 3)
        from markets in Gen.CollectToList(Enumerable.Range(0, nMarkets), i => Market($"M{i}", risk))
        from nAssets in Gen.Choose(0, 2)
        from assets in Gen.CollectToList(
            Enumerable.Range(0, nAssets),
            i => from w in Gen.Choose(1, 100)
                 from d in Gen.Choose(0, 30)
                 from pm in Gen.Choose(0, nMarkets - 1)
                 select new CollateralSpec($"C{i}", w / 100m, $"M{pm}", d / 100m))
        select new ConfigCase(RiskConfiguration.Create(markets.ToList(), assets.ToList(), risk));

    /// <summary>Marks in cents, 1.00 to 100,000.00, spread over several magnitudes.</summary>
    public static Gen<decimal> Price =>
        from mantissa in Gen.Choose(100, 999_99)
        from scale in Gen.Choose(0, 3)
        select mantissa * Pow10(scale) / 100m;

    /// <summary>An account near the edge: positions with entries ±40% off the mark, USD a few % of the notional.</summary>
    public static Gen<AccountCase> AccountIn(ConfigCase setup)
    {
        var config = setup.Config;
        return
            from marks in Gen.CollectToList(config.Markets, m => Price.Select(p => (m.Symbol, Price: p)))
            from positions in Gen.CollectToList(config.Markets, m => PositionGen(m, marks.First(x => x.Symbol == m.Symbol).Price))
            from collateral in Gen.CollectToList(
                config.Collateral,
                c => from has in Gen.Choose(0, 2)
                     from units in Gen.Choose(1, 100_000)
                     select (c.Asset, Quantity: has == 0 ? 0m : units / 1000m))
            from usdPermille in Gen.Frequency((6, Gen.Choose(-20, 80)), (1, Gen.Choose(-300, 300)))
            from usdCents in Gen.Choose(-100_000, 1_000_000)
            from healthPct in Gen.Frequency((2, Gen.Constant<int?>(null)), (3, Gen.Choose(-60, 260).Select(x => (int?)x)))
            select Assemble(setup, marks, positions, collateral, usdPermille, usdCents, healthPct);
    }

    public static Gen<AccountCase> Account => Config.SelectMany(AccountIn);

    /// <summary>Accounts with at least one position.</summary>
    public static Gen<AccountCase> AccountWithPositions => Account.Where(a => a.Positions.Count > 0);

    private static Gen<(string Symbol, Position? Position)> PositionGen(MarketSpec market, decimal mark) =>
        from has in Gen.Choose(0, 3)
        from lots in Gen.Frequency((5, Gen.Choose(1, 3000)), (1, Gen.Choose(1, 5)))
        from odd in Gen.Frequency((5, Gen.Constant(0)), (1, Gen.Choose(1, 9)))
        from sign in Gen.Elements(-1, 1)
        from movePct in Gen.Choose(-40, 40)
        select (market.Symbol, has == 0
            ? (Position?)null
            : new Position(
                sign * ((lots * market.LotSize) + (odd * market.LotSize / 10m)),
                Math.Max(0.01m, decimal.Round(mark * (100 + movePct) / 100m, 2))));

    private static AccountCase Assemble(
        ConfigCase setup,
        List<(string Symbol, decimal Price)> marks,
        List<(string Symbol, Position? Position)> positions,
        List<(string Asset, decimal Quantity)> collateral,
        int usdPermille,
        int usdCents,
        int? healthPct)
    {
        var pos = positions.Where(p => p.Position is not null).ToDictionary(p => p.Symbol, p => p.Position!.Value);
        var notional = pos.Values.Sum(p => Math.Abs(p.Size) * p.Entry);
        var usd = decimal.Round(notional * usdPermille / 1000m, 2) + (usdCents / 100m);
        if (healthPct is { } h && pos.Count > 0)
        {
            // Aim at a health h% (E = h% of MM) so every status boundary is well populated; oracle arithmetic only.
            var price = marks.ToDictionary(m => m.Symbol, m => m.Price);
            var mm = pos.Sum(x => Reference.Requirement(setup.Config.Market(x.Key).Brackets, Math.Abs(x.Value.Size) * price[x.Key], initial: false));
            var equityWithoutUsd = pos.Sum(x => x.Value.Size * (price[x.Key] - x.Value.Entry))
                + collateral.Sum(c => setup.Config.TryGetCollateral(c.Asset, out var spec) ? spec.Weight * c.Quantity * price[spec.PriceMarket!] : 0m);
            usd = decimal.Round((mm * h / 100m) - equityWithoutUsd, 2);
        }
        var balances = new SortedDictionary<string, decimal>(StringComparer.Ordinal);
        if (usd != 0m)
        {
            balances[Assets.Usd] = usd;
        }

        foreach (var (asset, q) in collateral.Where(c => c.Quantity > 0m))
        {
            balances[asset] = q;
        }

        return new AccountCase(setup, marks.ToDictionary(m => m.Symbol, m => m.Price), pos, balances);
    }

    private static IReadOnlyList<Bracket> Build(int mmr1, int gap1, List<(int FloorStep, int MmrStep, int Gap, bool KeepImr)> steps)
    {
        var list = new List<Bracket> { new(0m, mmr1 / 10000m, (mmr1 + gap1) / 10000m) };
        foreach (var (floorStep, mmrStep, gap, keepImr) in steps)
        {
            var prev = list[^1];
            var mmr = prev.Mmr + (mmrStep / 10000m);
            var imr = Math.Max(prev.Imr, mmr + (gap / 10000m));
            if (keepImr && prev.Imr > mmr)
            {
                imr = prev.Imr;
            }

            list.Add(new Bracket(prev.Floor + floorStep, mmr, imr));
        }

        return list;
    }

    private static int Pow10(int e)
    {
        var r = 1;
        for (var i = 0; i < e; i++)
        {
            r *= 10;
        }

        return r;
    }
}
