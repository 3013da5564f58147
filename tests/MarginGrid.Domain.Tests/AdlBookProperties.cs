using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>
/// A population of ADL counterparties spread over several <see cref="AdlBook"/>s (the grid's shards), built by a sequence
/// of updates: every account is first set at an older standing, then at its current one; some are removed again.
/// </summary>
public sealed record AdlPopulation(
    ConfigCase Setup,
    IReadOnlyDictionary<string, decimal> Marks,
    IReadOnlyList<(string Id, Portfolio Holdings, bool InAuction, bool Removed)> Accounts,
    int Shards,
    IReadOnlySet<string> Excluded,
    decimal Quantity)
{
    public MarkBook NewMarks() => new(Marks);

    /// <summary>The books, by shard (account i goes to shard i mod <see cref="Shards"/>), after the updates.</summary>
    public IReadOnlyList<AdlBook> Books(Func<int, Portfolio> older)
    {
        var books = Enumerable.Range(0, Shards).Select(_ => new AdlBook()).ToList();
        for (var i = 0; i < Accounts.Count; i++)
        {
            var (id, holdings, inAuction, removed) = Accounts[i];
            var book = books[i % Shards];
            book.Set(id, new AdlStanding(older(i), 1, !inAuction));
            book.Set(id, new AdlStanding(holdings.Clone(), 2, inAuction));
            if (removed)
            {
                book.Remove(id);
            }
        }

        return books;
    }

    /// <summary>The domain's input for the same accounts: the present ones, not in auction, not excluded.</summary>
    public IEnumerable<KeyValuePair<string, Portfolio>> Present =>
        Accounts.Where(a => !a.Removed && !a.InAuction && !Excluded.Contains(a.Id)).Select(a => KeyValuePair.Create(a.Id, a.Holdings.Clone()));

    public override string ToString() =>
        $"{Setup} || marks[{string.Join(", ", Marks.Select(m => string.Create(CultureInfo.InvariantCulture, $"{m.Key}={m.Value}")))}] || shards={Shards} q={Quantity} excluded[{string.Join(",", Excluded)}] || "
        + string.Join(" ## ", Accounts.Select(a => $"{a.Id}{(a.InAuction ? "(auction)" : "")}{(a.Removed ? "(removed)" : "")}: "
            + string.Join(",", a.Holdings.Positions.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Key}:{p.Value.Size}@{p.Value.Entry}")))
            + " / " + string.Join(",", a.Holdings.Balances.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Key}={b.Value}")))));
}

/// <summary>
/// The grid's ranked index of ADL counterparties (<see cref="AdlBook"/>, one per market shard, updated incrementally)
/// gives exactly the domain's ranking (<see cref="AutoDeleveraging.Rank"/>) of the same accounts: the merged queues, the
/// merged top-k prefixes, and each account's place in its queue (the API's quantile).
/// </summary>
public sealed class AdlBookProperties
{
    private static Gen<AdlPopulation> Population =>
        from setup in Generators.Config
        from seed in Gen.Choose(0, int.MaxValue - 1)
        from count in Gen.Choose(0, 40)
        from shards in Gen.Choose(1, 4)
        from quantityLots in Gen.Choose(1, 300)
        select Build(setup, seed, count, shards, quantityLots);

    private static AdlPopulation Build(ConfigCase setup, int seed, int count, int shards, int quantityLots)
    {
        var random = new Random(seed);
        var config = setup.Config;
        var marks = config.Markets.ToDictionary(m => m.Symbol, _ => random.Next(100, 10_000_000) / 100m, StringComparer.Ordinal);

        // A few templates, shared by several accounts, so that equal scores (ties by id) happen.
        var templates = Enumerable.Range(0, Math.Max(1, count / 3)).Select(_ => Holdings()).ToList();
        var accounts = Enumerable.Range(0, count)
            .Select(i => (Id: $"a{random.Next(0, 1000):D3}-{i}", Holdings: random.Next(3) == 0 ? templates[random.Next(templates.Count)] : Holdings(),
                InAuction: random.Next(10) == 0, Removed: random.Next(8) == 0))
            .ToList();
        var excluded = accounts.Where(_ => random.Next(10) == 0).Select(a => a.Id).ToHashSet(StringComparer.Ordinal);
        return new AdlPopulation(setup, marks, accounts, shards, excluded, quantityLots * config.Markets[0].LotSize);

        Portfolio Holdings()
        {
            var positions = new Dictionary<string, Position>(StringComparer.Ordinal);
            foreach (var m in config.Markets)
            {
                var side = random.Next(3);
                if (side == 0)
                {
                    continue;
                }

                var size = random.Next(1, 80) * m.LotSize * (side == 1 ? 1m : -1m);
                var entry = Math.Max(0.01m, decimal.Round(marks[m.Symbol] * random.Next(60, 141) / 100m, 2));
                positions[m.Symbol] = new Position(size, entry);
            }

            var balances = new Dictionary<string, decimal>(StringComparer.Ordinal)
            {
                [Assets.Usd] = random.Next(-200_000, 2_000_000) / 100m,
            };
            foreach (var c in config.Collateral)
            {
                if (random.Next(2) == 0)
                {
                    balances[c.Asset] = random.Next(1, 10_000) / 1000m;
                }
            }

            return Portfolio.Restore(balances, positions);
        }
    }

    private static IEnumerable<(string Market, bool Shorts)> Queues(RiskConfiguration config) =>
        config.Markets.SelectMany(m => new[] { (m.Symbol, true), (m.Symbol, false) });

    private static List<AdlRanked> Merge(IEnumerable<AdlRanked> parts)
    {
        var merged = parts.ToList();
        merged.Sort((a, b) => AutoDeleveraging.Compare(a.Key, b.Key));
        return merged;
    }

    private static List<AdlRanked> Covering(IEnumerable<AdlRanked> ranked, decimal quantity)
    {
        var prefix = new List<AdlRanked>();
        var covered = 0m;
        foreach (var r in ranked)
        {
            if (covered >= quantity)
            {
                break;
            }

            prefix.Add(r);
            covered += Math.Abs(r.Position.Size);
        }

        return prefix;
    }

    private static string Show(IEnumerable<AdlRanked> ranked) =>
        string.Join(", ", ranked.Select(r => string.Create(CultureInfo.InvariantCulture, $"{r.Account}:{r.Score}")));

    private static IReadOnlyList<AdlBook> Books(AdlPopulation p) =>
        p.Books(i => Portfolio.Restore(
            [KeyValuePair.Create(Assets.Usd, 1m)],
            p.Accounts[i].Holdings.Positions.Select(x => KeyValuePair.Create(x.Key, new Position(-x.Value.Size, x.Value.Entry * 2m)))));

    [Property(MaxTest = 300)]
    public Property The_merged_queues_of_the_books_are_the_domain_ranking_of_the_same_accounts() =>
        Prop.ForAll(Arb.From(Population), p =>
        {
            var books = Books(p);
            var marks = p.NewMarks();
            foreach (var (market, shorts) in Queues(p.Setup.Config))
            {
                var expected = AutoDeleveraging.Rank(market, shorts, p.Present, marks, p.Setup.Config);
                var actual = Merge(books.SelectMany(b => b.Ranked(market, shorts, marks, p.Setup.Config, p.Excluded)));
                Assert.True(Show(expected) == Show(actual), $"{market} shorts={shorts}: expected [{Show(expected)}] got [{Show(actual)}]");
            }
        });

    [Property(MaxTest = 300)]
    public Property The_merged_top_k_prefixes_hold_the_first_counterparties_of_the_whole_queue() =>
        Prop.ForAll(Arb.From(Population), p =>
        {
            var books = Books(p);
            var marks = p.NewMarks();
            foreach (var (market, shorts) in Queues(p.Setup.Config))
            {
                var expected = Covering(AutoDeleveraging.Rank(market, shorts, p.Present, marks, p.Setup.Config), p.Quantity);
                var prefixes = books.Select(b => b.Top(market, shorts, p.Quantity, marks, p.Setup.Config, p.Excluded)).ToList();
                var actual = Covering(Merge(prefixes.SelectMany(x => x.Ranked)), p.Quantity);
                Assert.True(Show(expected) == Show(actual), $"{market} shorts={shorts}: expected [{Show(expected)}] got [{Show(actual)}]");

                // Whatever a book left out ranks after the last it gave.
                for (var i = 0; i < books.Count; i++)
                {
                    var all = books[i].Ranked(market, shorts, marks, p.Setup.Config, p.Excluded);
                    Assert.Equal(prefixes[i].Exhausted, prefixes[i].Ranked.Count == all.Count);
                    Assert.Equal(Show(all.Take(prefixes[i].Ranked.Count)), Show(prefixes[i].Ranked));
                }
            }
        });

    [Property(MaxTest = 300)]
    public Property Each_account_s_place_summed_over_the_books_is_its_index_in_the_domain_ranking() =>
        Prop.ForAll(Arb.From(Population), p =>
        {
            var books = Books(p);
            var marks = p.NewMarks();
            foreach (var (market, shorts) in Queues(p.Setup.Config))
            {
                var expected = AutoDeleveraging.Rank(market, shorts, p.Accounts.Where(a => !a.Removed && !a.InAuction)
                    .Select(a => KeyValuePair.Create(a.Id, a.Holdings.Clone())), marks, p.Setup.Config);
                for (var i = 0; i < expected.Count; i++)
                {
                    var places = books.Select(b => b.Place(market, shorts, expected[i].Key, marks, p.Setup.Config, except: expected[i].Account)).ToList();
                    Assert.Equal(i, places.Sum(x => x.Ahead));
                    Assert.Equal(expected.Count - 1, places.Sum(x => x.Total));
                }
            }
        });

    /// <summary>
    /// The planner's argument: a step run on the counterparties of the books' top-k prefixes (covering what the step
    /// closes per market and side, times a scale), whose walks <see cref="AutoDeleveraging.Covers"/> accepts, decides
    /// exactly what the step run on every account decides; and with prefixes as large as the books, it always accepts.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property A_step_on_the_top_k_prefixes_that_Covers_accepts_is_the_step_on_every_account() =>
        Prop.ForAll(Arb.From(Population), Arb.From(Gen.Choose(0, int.MaxValue - 1)), (p, seed) =>
        {
            var random = new Random(seed);
            var config = RiskConfiguration.Create(p.Setup.Config.Markets, p.Setup.Config.Collateral, p.Setup.Config.Risk with { BankruptcyResolution = BankruptcyResolutions.Adl });
            var marks = p.NewMarks();

            // One to three bankrupt accounts: positions far under water, a little USD.
            var bankrupt = Enumerable.Range(0, random.Next(1, 4)).Select(i =>
            {
                var positions = config.Markets.Where(_ => random.Next(2) == 0).DefaultIfEmpty(config.Markets[0]).ToDictionary(
                    m => m.Symbol,
                    m =>
                    {
                        var size = random.Next(1, 120) * m.LotSize * (random.Next(2) == 0 ? 1m : -1m);
                        var entry = decimal.Round(p.Marks[m.Symbol] * (size > 0m ? random.Next(125, 200) : random.Next(10, 75)) / 100m, 2);
                        return new Position(size, Math.Max(0.01m, entry));
                    },
                    StringComparer.Ordinal);
                return (Id: $"bust{i}", Holdings: Portfolio.Restore([KeyValuePair.Create(Assets.Usd, random.Next(0, 1000) / 100m)], positions));
            }).ToList();
            var candidates = bankrupt
                .Select(b => (b.Id, b.Holdings, Health: MarginCalculator.Evaluate(b.Holdings, marks, config)))
                .Where(b => b.Health.NeedsLiquidation)
                .OrderBy(b => b, Comparer<(string Id, Portfolio Holdings, AccountHealth Health)>.Create((a, b) => MarginCalculator.CompareForLiquidation(a.Id, a.Health, b.Id, b.Health)))
                .Select(b => new LiquidationCandidate(b.Id, b.Holdings))
                .ToList();
            var fund = random.Next(0, 3) * 50m;
            var everyone = p.Accounts.Where(a => !a.Removed && !a.InAuction).Select(a => KeyValuePair.Create(a.Id, a.Holdings.Clone())).ToList();
            var full = StepLiquidation.Run(candidates, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund), everyone);
            var needs = full.Plans.SelectMany(x => x.Closes).GroupBy(c => (c.Market, Shorts: !c.Buys)).ToDictionary(g => g.Key, g => g.Sum(c => c.Quantity));
            var books = Books(p);
            var exclude = candidates.Select(c => c.Account).ToHashSet(StringComparer.Ordinal);

            foreach (var scale in new[] { 1m, 1_000_000m })
            {
                var prefixes = needs.SelectMany(n => books.Select(b => (n.Key, Prefix: b.Top(n.Key.Market, n.Key.Shorts, n.Value * scale, marks, config, exclude)))).ToList();
                var given = prefixes.SelectMany(x => x.Prefix.Ranked.Select(r => r.Account)).ToHashSet(StringComparer.Ordinal);
                var some = everyone.Where(a => given.Contains(a.Key)).Select(a => KeyValuePair.Create(a.Key, a.Value.Clone())).ToList();
                var walks = new List<AdlWalk>();
                var partial = StepLiquidation.Run(candidates, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund), some, walks: walks);
                var boundaries = prefixes.GroupBy(x => x.Key).ToDictionary(
                    g => g.Key,
                    g => (IReadOnlyList<AdlKey>)[.. g.Where(x => !x.Prefix.Exhausted).Select(x => x.Prefix.Ranked.Count > 0 ? x.Prefix.Ranked[^1].Key : new AdlKey(decimal.MaxValue, string.Empty))]);
                var covers = AutoDeleveraging.Covers(walks, boundaries);
                if (covers)
                {
                    Assert.Equal(Describe(full), Describe(partial));
                }

                Assert.True(covers || scale == 1m, "prefixes of everything must always cover");
            }
        });

    private static string Describe(StepLiquidationResult r) =>
        string.Join("; ", r.Events.Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Type} {e.Account} {e.Market} {e.Quantity} {e.Price} {e.Counterparty} {e.Deficit} {e.Socialized} {e.AdlRecovered}")));

    [Fact]
    public void Only_positions_in_profit_are_in_a_queue_and_the_score_is_the_model_s()
    {
        var config = RiskConfiguration.Create(
            [new MarketSpec("BTC", 0.001m, 0.005m, [new Bracket(0m, 0.01m, 0.02m)])], [], new RiskParameters(1.25m, 1.1m));
        var marks = new MarkBook([KeyValuePair.Create("BTC", 100m)]);
        var book = new AdlBook();
        Portfolio Short(decimal size, decimal entry, decimal usd) =>
            Portfolio.Restore([KeyValuePair.Create(Assets.Usd, usd)], [KeyValuePair.Create("BTC", new Position(-size, entry))]);
        book.Set("gain", new AdlStanding(Short(1m, 120m, 100m), 1, false));      // u = 20, E = 120, G = 100: (20/120)·(100/120)
        book.Set("more", new AdlStanding(Short(1m, 150m, 100m), 1, false));      // u = 50, E = 150, G = 100: (50/150)·(100/150)
        book.Set("flat", new AdlStanding(Short(1m, 100m, 100m), 1, false));      // u = 0: not a counterparty
        book.Set("loss", new AdlStanding(Short(1m, 90m, 100m), 1, false));       // u < 0
        book.Set("broke", new AdlStanding(Short(1m, 110m, -20m), 1, false));     // E = −10
        book.Set("auction", new AdlStanding(Short(1m, 200m, 100m), 1, true));

        var ranked = book.Ranked("BTC", shorts: true, marks, config);

        Assert.Equal(["more", "gain"], ranked.Select(r => r.Account));
        Assert.Equal(50m / 150m * (100m / 150m), ranked[0].Score);
        Assert.Equal(20m / 120m * (100m / 120m), ranked[1].Score);
        Assert.Empty(book.Ranked("BTC", shorts: false, marks, config));
        book.Set("more", new AdlStanding(Short(1m, 101m, 100m), 2, false)); // an update moves it in the entry order
        Assert.Equal(["gain", "more"], book.Ranked("BTC", shorts: true, marks, config).Select(r => r.Account));
        book.Remove("gain");
        Assert.Equal(["more"], book.Ranked("BTC", shorts: true, marks, config).Select(r => r.Account));
    }
}
