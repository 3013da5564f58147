using System.Collections.Immutable;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using MarginGrid.Host.Scenarios;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>A generated scenario; prints as a short list of its steps (the JSON goes with a failure).</summary>
public sealed record DiffCase(Scenario Scenario)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        var s = Scenario;
        sb.Append($"{s.Config.Markets.Length} markets, {s.Config.Collateral.Length} assets, {s.Accounts.Length} accounts, fund {s.InsuranceFund}, {s.Steps.Length} steps:");
        foreach (var a in s.Accounts)
        {
            sb.Append($" [{a.Id}: {string.Join(' ', a.Seed.Collateral.Select(c => $"{c.Value} {c.Key}"))}"
                + $"{string.Concat(a.Seed.Positions.Select(p => $", {p.Size} {p.Market}@{p.EntryPrice}"))}]");
        }

        foreach (var step in s.Steps)
        {
            sb.Append("; ").Append(ScenarioJson.Describe(step));
        }

        return sb.ToString();
    }
}

/// <summary>One raw command of a session; the builder reads it against the state the session has reached.</summary>
internal sealed record Op(int Kind, int Account, int Market, int Amount, int Percent, int Variant);

/// <summary>
/// Random v1 scenarios: 2–4 markets with valid brackets, 0–2 collateral assets priced by them (and sometimes one priced
/// by a market that is not configured), 2–6 accounts seeded around the margin-call line (some liquidatable at once),
/// an insurance fund, then 5–40 steps: small moves (inside the safe bands), crashes of 10–40 %, gaps up, fills that
/// open, add to, reduce, close, flip and re-open positions — in markets the account holds, held before, or never held —
/// deposits, withdrawals (some beyond the balance, some breaching IM), unknown account ids, zero sizes and non-positive
/// prices. Every number has few digits. The shrinker removes steps, accounts, seeded holdings, markets, assets and
/// brackets, keeping the scenario valid.
/// </summary>
public static class ScenarioGenerator
{
    private static readonly string[] Names = ["alice", "bob", "carol", "dave", "erin", "frank"];
    private const string Stranger = "mallory";

    /// <summary>Symbol, price range in cents, lot size.</summary>
    private static readonly (string Symbol, int MinCents, int MaxCents, decimal Lot)[] MarketPool =
    [
        ("BTC-PERP", 2_000_000, 7_000_000, 0.001m),
        ("ETH-PERP", 100_000, 400_000, 0.01m),
        ("SOL-PERP", 2_000, 30_000, 0.1m),
        ("XRP-PERP", 30, 300, 10m),
    ];

    public static Arbitrary<DiffCase> Arbitrary => Arb.From(Cases, c => Shrink(c.Scenario).Select(s => new DiffCase(s)));

    public static Gen<DiffCase> Cases =>
        from risk in Risk
        from nMarkets in Gen.Choose(2, 4)
        from pool in Gen.Shuffle(MarketPool)
        from markets in Gen.CollectToList(pool.Take(nMarkets), m => MarketGen(m, risk.Gamma))
        from nAssets in Gen.Choose(0, 2)
        from assets in Gen.CollectToList(markets.Take(nAssets), AssetGen)
        from unpriced in Gen.Frequency((4, Gen.Constant(false)), (1, Gen.Constant(true)))
        from nAccounts in Gen.Choose(2, 6)
        from accounts in Gen.CollectToList(Names.Take(nAccounts), id => AccountGen(id, markets, assets))
        from fundCents in Gen.Frequency((1, Gen.Constant(0)), (3, Gen.Choose(0, 500_000)))
        from length in Gen.Choose(5, 40)
        from ops in Gen.ArrayOf(OpGen, length)
        select new DiffCase(Build(risk, markets, assets, unpriced, accounts, fundCents / 100m, ops));

    private sealed record GenMarket(string Symbol, decimal Lot, decimal Price, MarketConfig Config);

    private sealed record GenAccount(string Id, ImmutableDictionary<string, decimal> Collateral, ImmutableArray<PositionSnapshot> Positions);

    private static Gen<(decimal C, decimal Gamma)> Risk =>
        from c in Gen.Frequency((1, Gen.Constant(125)), (1, Gen.Choose(110, 150)))
        from g in Gen.Frequency((1, Gen.Constant(110)), (1, Gen.Choose(100, 130)))
        select (c / 100m, g / 100m);

    private static Gen<GenMarket> MarketGen((string Symbol, int MinCents, int MaxCents, decimal Lot) m, decimal gamma) =>
        from cents in Gen.Choose(m.MinCents, m.MaxCents)
        from count in Gen.Frequency((2, Gen.Constant(1)), (2, Gen.Constant(2)), (1, Gen.Constant(3)))
        from mmr1 in Gen.Choose(5, 50)
        from gap1 in Gen.Choose(5, 50)
        from floor2 in Gen.Elements(2_000, 5_000, 10_000, 25_000, 50_000)
        from floor3 in Gen.Elements(4, 10)
        from steps in Gen.ArrayOf(from up in Gen.Choose(0, 30) from gap in Gen.Choose(0, 40) select (up, gap), 2)
        from phiPercent in Gen.Elements(0, 10, 30, 50, 80, 95)
        select Market(m.Symbol, m.Lot, cents / 100m, count, mmr1, gap1, floor2, floor3, steps, phiPercent, gamma);

    private static GenMarket Market(
        string symbol, decimal lot, decimal price, int count, int mmr1, int gap1, int floor2, int floor3, (int, int)[] steps, int phiPercent, decimal gamma)
    {
        // Rates in tenths of a percent: mmr₁ 0.5–5 %, imr₁ above it; later brackets raise both (never lower).
        var brackets = new List<BracketConfig> { new(0m, mmr1 / 1000m, (mmr1 + gap1) / 1000m) };
        for (var k = 1; k < count; k++)
        {
            var prev = brackets[^1];
            var (mmrStep, gap) = steps[k - 1];
            var mmr = prev.Mmr + (mmrStep / 1000m);
            var imr = Math.Max(prev.Imr, mmr + (Math.Max(1, gap) / 1000m));
            brackets.Add(new BracketConfig(k == 1 ? floor2 : floor2 * floor3, mmr, imr));
        }

        // φ < γ·mmr₁, rounded down to 5 decimals.
        var phi = decimal.Floor(gamma * brackets[0].Mmr * phiPercent / 100m * 100_000m) / 100_000m;
        return new GenMarket(symbol, lot, price, new MarketConfig(symbol, lot, phi, [.. brackets]));
    }

    private static Gen<CollateralConfig> AssetGen(GenMarket m) =>
        from weight in Gen.Choose(50, 100)
        from discount in Gen.Choose(0, 10)
        select new CollateralConfig(m.Symbol.Replace("-PERP", "", StringComparison.Ordinal), weight / 100m, m.Symbol, discount / 100m);

    private static Gen<GenAccount> AccountGen(string id, List<GenMarket> markets, List<CollateralConfig> assets) =>
        from positions in Gen.CollectToList(markets, m =>
            from has in Gen.Choose(0, 2)
            from lots in Gen.Frequency((3, Gen.Choose(1, 50)), (3, Gen.Choose(50, 500)), (1, Gen.Choose(500, 3000)))
            from sign in Gen.Elements(-1, 1)
            from offset in Gen.Choose(-15, 15)
            select has == 0 ? null : new PositionSnapshot(m.Symbol, sign * lots * m.Lot, Round(m.Price * (100 + offset) / 100m)))
        from holdings in Gen.CollectToList(assets, a =>
            from has in Gen.Choose(0, 2)
            from units in Gen.Choose(1, 2000)
            select (a.Asset, Quantity: has == 0 ? 0m : units * markets.First(m => m.Symbol == a.PriceMarket).Lot))
        from target in Gen.Frequency(
            (1, Gen.Choose(50, 100)),   // liquidatable (or bankrupt) at the initial prices
            (4, Gen.Choose(100, 160)),  // around the margin-call line
            (2, Gen.Choose(160, 400)),  // comfortable
            (1, Gen.Constant(-1)))      // no target: plain USD
        from usdCents in Gen.Choose(-200_000, 5_000_000)
        select Seed(id, markets, assets, [.. positions.OfType<PositionSnapshot>()], holdings, target, usdCents);

    private static GenAccount Seed(
        string id,
        List<GenMarket> markets,
        List<CollateralConfig> assets,
        ImmutableArray<PositionSnapshot> positions,
        List<(string Asset, decimal Quantity)> holdings,
        int targetPercent,
        int usdCents)
    {
        var price = markets.ToDictionary(m => m.Symbol, m => m.Price);
        var collateralValue = holdings.Sum(h => h.Quantity * price[assets.First(a => a.Asset == h.Asset).PriceMarket!]
            * assets.First(a => a.Asset == h.Asset).Weight);
        decimal usd;
        if (targetPercent > 0 && !positions.IsEmpty)
        {
            // Aim at a health of target % at the initial prices (a rough MM: the first bracket's rate).
            var mm = positions.Sum(p => Math.Abs(p.Size) * price[p.Market] * markets.First(m => m.Symbol == p.Market).Config.Brackets[0].Mmr);
            var pnl = positions.Sum(p => p.Size * (price[p.Market] - p.EntryPrice));
            usd = Round((mm * targetPercent / 100m) - pnl - collateralValue);
        }
        else
        {
            // Without positions a negative USD is a debt backed (or not) by collateral.
            usd = usdCents < 0 && collateralValue == 0m ? -usdCents / 100m : usdCents / 100m;
        }

        var collateral = ImmutableDictionary.CreateBuilder<string, decimal>(StringComparer.Ordinal);
        if (usd != 0m)
        {
            collateral[ScenarioGeneratorAssets.Usd] = usd;
        }

        foreach (var (asset, q) in holdings.Where(h => h.Quantity > 0m))
        {
            collateral[asset] = q;
        }

        return new GenAccount(id, collateral.ToImmutable(), positions);
    }

    private static Gen<Op> OpGen =>
        from kind in Gen.Frequency(
            (5, Gen.Constant(0)),  // small move
            (1, Gen.Constant(1)),  // crash
            (1, Gen.Constant(2)),  // gap up
            (6, Gen.Constant(3)),  // fill
            (2, Gen.Constant(4)),  // deposit
            (2, Gen.Constant(5)))  // withdrawal
        from account in Gen.Choose(0, 99)
        from market in Gen.Choose(0, 99)
        from amount in Gen.Choose(0, 9_999)
        from percent in Gen.Choose(-10_000, 10_000)
        from variant in Gen.Choose(0, 99)
        select new Op(kind, account, market, amount, percent, variant);

    private static Scenario Build(
        (decimal C, decimal Gamma) risk,
        List<GenMarket> markets,
        List<CollateralConfig> assets,
        bool unpriced,
        List<GenAccount> accounts,
        decimal fund,
        Op[] ops)
    {
        var collateral = assets.ToList();
        if (unpriced)
        {
            collateral.Add(new CollateralConfig("DOGE", 0.5m, "DOGE-PERP", 0.05m)); // configured, but its market is not
        }

        var config = new RiskConfigSnapshot(0, [.. markets.Select(m => m.Config)], [.. collateral], new RiskRatios(risk.C, risk.Gamma));
        var marks = markets.ToDictionary(m => m.Symbol, m => m.Price);
        var lot = markets.ToDictionary(m => m.Symbol, m => m.Lot);

        // What the builder tracks to aim its fills: positions as fills leave them (liquidations are not tracked), and
        // the markets each account has held.
        var held = accounts.ToDictionary(a => a.Id, a => a.Positions.ToDictionary(p => p.Market, p => p.Size));
        var ever = accounts.ToDictionary(a => a.Id, a => a.Positions.Select(p => p.Market).ToHashSet());
        var steps = ImmutableArray.CreateBuilder<ScenarioStep>();
        foreach (var op in ops)
        {
            var market = markets[op.Market % markets.Count].Symbol;
            var id = op.Variant % 20 == 19 ? Stranger : accounts[op.Account % accounts.Count].Id;
            switch (op.Kind)
            {
                case 0:
                case 1:
                case 2:
                    {
                        // Small moves: ±3 % (inside most safe bands); crashes −10…−40 %; gaps up +10…+40 %.
                        var move = op.Kind switch
                        {
                            0 => op.Percent / 10_000m * 0.03m,
                            1 => -(0.10m + (Math.Abs(op.Percent) / 10_000m * 0.30m)),
                            _ => 0.10m + (Math.Abs(op.Percent) / 10_000m * 0.30m),
                        };
                        var next = Round(marks[market] * (1m + move));
                        if (next == marks[market])
                        {
                            next += 0.01m;
                        }

                        marks[market] = next;
                        steps.Add(new PriceStep(market, next));
                        break;
                    }

                case 3:
                    steps.Add(Fill(op, id, markets, marks, lot, held, ever));
                    break;
                case 4:
                    steps.Add(new DepositStep(id, Asset(op, collateral), Quantity(op, collateral, lot, deposit: true)));
                    break;
                default:
                    steps.Add(new WithdrawStep(id, Asset(op, collateral), Quantity(op, collateral, lot, deposit: false)));
                    break;
            }
        }

        return new Scenario(
            config,
            fund,
            [.. accounts.Select(a => new ScenarioAccount(a.Id, new AccountSeed(a.Collateral, a.Positions)))],
            [.. markets.Select(m => KeyValuePair.Create(m.Symbol, m.Price))],
            steps.ToImmutable());
    }

    private static FillStep Fill(
        Op op,
        string id,
        List<GenMarket> markets,
        Dictionary<string, decimal> marks,
        Dictionary<string, decimal> lot,
        Dictionary<string, Dictionary<string, decimal>> held,
        Dictionary<string, HashSet<string>> ever)
    {
        var positions = held.GetValueOrDefault(id) ?? new Dictionary<string, decimal>();
        var before = ever.GetValueOrDefault(id) ?? new HashSet<string>();
        var holding = positions.Where(p => p.Value != 0m).Select(p => p.Key).Order(StringComparer.Ordinal).ToList();
        var left = before.Where(m => !holding.Contains(m)).Order(StringComparer.Ordinal).ToList();
        var market = (op.Variant % 10) switch
        {
            < 4 when holding.Count > 0 => holding[op.Market % holding.Count],     // one it holds
            < 6 when left.Count > 0 => left[op.Market % left.Count],              // one it held and left: re-open
            _ => markets[op.Market % markets.Count].Symbol,                       // any
        };
        if (op.Variant == 50)
        {
            market = "DOGE-PERP"; // not a configured market: rejected
        }

        var unit = lot.GetValueOrDefault(market, 1m);
        var s = positions.GetValueOrDefault(market);
        var lots = 1 + (op.Amount % 400);
        var sign = op.Percent >= 0 ? 1 : -1;
        var size = s == 0m
            ? sign * lots * unit
            : (op.Amount % 6) switch
            {
                0 => Math.Sign(s) * lots * unit,                                                     // add
                1 => -Math.Sign(s) * Math.Max(unit, decimal.Floor(Math.Abs(s) / 2m / unit) * unit), // reduce
                2 => -s,                                                                             // close
                3 => -s - (Math.Sign(s) * lots * unit),                                              // flip
                _ => sign * lots * unit,
            };

        // The fill price: at the mark, near it, or far from it (an immediate gain or loss).
        var mark = marks.GetValueOrDefault(market, 1m);
        var deviation = (op.Variant % 4) switch
        {
            0 or 1 => 0m,
            2 => op.Percent / 10_000m * 0.05m,
            _ => op.Percent / 10_000m * 0.20m,
        };
        var price = Math.Max(0.01m, Round(mark * (1m + deviation)));
        if (op.Variant is 7 or 77)
        {
            size = 0m; // rejected
        }

        if (op.Variant is 13 or 31)
        {
            price = op.Variant == 13 ? 0m : -price; // rejected
        }

        if (size != 0m && price > 0m && marks.ContainsKey(market) && held.TryGetValue(id, out var mine))
        {
            mine[market] = s + size;
            ever[id].Add(market);
        }

        return new FillStep(id, market, size, price);
    }

    private static string Asset(Op op, List<CollateralConfig> collateral) =>
        (op.Variant % 10) switch
        {
            < 6 => ScenarioGeneratorAssets.Usd,
            < 9 when collateral.Count > 0 => collateral[op.Market % collateral.Count].Asset,
            9 when op.Market % 2 == 0 => "XYZ", // not configured: rejected
            _ => ScenarioGeneratorAssets.Usd,
        };

    private static decimal Quantity(Op op, List<CollateralConfig> collateral, Dictionary<string, decimal> lot, bool deposit)
    {
        if (op.Percent % 23 == 0)
        {
            return op.Percent % 2 == 0 ? 0m : -100m; // rejected
        }

        var asset = Asset(op, collateral);
        if (asset != ScenarioGeneratorAssets.Usd)
        {
            var spec = collateral.FirstOrDefault(c => c.Asset == asset);
            var unit = spec?.PriceMarket is { } pm ? lot.GetValueOrDefault(pm, 1m) : 1m;
            return (1 + (op.Amount % 1000)) * unit;
        }

        // USD: small, medium, or more than anyone has.
        return (op.Amount % 10) switch
        {
            < 5 => 100m + (op.Amount % 20 * 100m),
            < 9 => 2_000m + (op.Amount * 2m),
            _ => deposit ? 50_000m : 1_000_000m,
        };
    }

    private static decimal Round(decimal price) => Math.Max(0.01m, decimal.Round(price, 2, MidpointRounding.AwayFromZero));

    // ---- shrinking --------------------------------------------------------------------------------------------

    /// <summary>Smaller valid scenarios: fewer steps, accounts, seeded holdings, markets, assets, brackets; a zero fund.</summary>
    public static IEnumerable<Scenario> Shrink(Scenario s)
    {
        for (var n = s.Steps.Length / 2; n >= 1; n /= 2)
        {
            for (var i = 0; i + n <= s.Steps.Length; i += n)
            {
                yield return s with { Steps = s.Steps.RemoveRange(i, n) };
            }
        }

        if (s.Accounts.Length > 1)
        {
            foreach (var a in s.Accounts)
            {
                yield return s with
                {
                    Accounts = s.Accounts.Remove(a),
                    Steps = [.. s.Steps.Where(step => AccountOf(step) != a.Id)],
                };
            }
        }

        foreach (var market in s.Config.Markets.Where(_ => s.Config.Markets.Length > 1))
        {
            var symbol = market.Symbol;
            var pricedAssets = s.Config.Collateral.Where(c => c.PriceMarket == symbol).Select(c => c.Asset).ToHashSet();
            if (s.Accounts.Any(a => a.Seed.Positions.Any(p => p.Market == symbol) || a.Seed.Collateral.Keys.Any(pricedAssets.Contains)))
            {
                continue;
            }

            yield return s with
            {
                Config = s.Config with { Markets = s.Config.Markets.Remove(market) },
                InitialPrices = [.. s.InitialPrices.Where(p => p.Key != symbol)],
                Steps = [.. s.Steps.Where(step => step switch
                {
                    PriceStep p => p.Market != symbol,
                    FillStep f => f.Market != symbol,
                    _ => true,
                })],
            };
        }

        for (var i = 0; i < s.Accounts.Length; i++)
        {
            var a = s.Accounts[i];
            foreach (var p in a.Seed.Positions)
            {
                yield return s with { Accounts = s.Accounts.SetItem(i, a with { Seed = a.Seed with { Positions = a.Seed.Positions.Remove(p) } }) };
            }

            foreach (var asset in a.Seed.Collateral.Keys.Order(StringComparer.Ordinal))
            {
                yield return s with { Accounts = s.Accounts.SetItem(i, a with { Seed = a.Seed with { Collateral = a.Seed.Collateral.Remove(asset) } }) };
            }
        }

        foreach (var c in s.Config.Collateral)
        {
            if (s.Accounts.Any(a => a.Seed.Collateral.ContainsKey(c.Asset)))
            {
                continue;
            }

            yield return s with
            {
                Config = s.Config with { Collateral = s.Config.Collateral.Remove(c) },
                Steps = [.. s.Steps.Where(step => step switch
                {
                    DepositStep d => d.Asset != c.Asset,
                    WithdrawStep w => w.Asset != c.Asset,
                    _ => true,
                })],
            };
        }

        for (var i = 0; i < s.Config.Markets.Length; i++)
        {
            var m = s.Config.Markets[i];
            if (m.Brackets.Length > 1)
            {
                yield return s with { Config = s.Config with { Markets = s.Config.Markets.SetItem(i, m with { Brackets = m.Brackets.RemoveAt(m.Brackets.Length - 1) }) } };
            }
        }

        if (s.InsuranceFund != 0m)
        {
            yield return s with { InsuranceFund = 0m };
        }
    }

    private static string? AccountOf(ScenarioStep step) => step switch
    {
        FillStep f => f.Account,
        DepositStep d => d.Account,
        WithdrawStep w => w.Account,
        _ => null,
    };
}

internal static class ScenarioGeneratorAssets
{
    public const string Usd = "USD";
}
