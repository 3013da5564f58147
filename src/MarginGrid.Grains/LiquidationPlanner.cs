using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>A step's liquidations as the domain decided them, with the marks they were decided at.</summary>
public sealed record PlannedStep(StepLiquidationResult Result, IReadOnlyList<long> Versions, MarkBook Marks)
{
    /// <summary>v3: where auto-deleveraging found its counterparties (none when the step needed none).</summary>
    public AdlSearch AdlSearch { get; init; }

    /// <summary>v3: how many accounts auto-deleveraging fetched (the last attempt's), and how many hold the markets concerned.</summary>
    public (int Fetched, int Holders) AdlCost { get; init; }
}

/// <summary>v3: how a step's auto-deleveraging found its counterparties.</summary>
public enum AdlSearch
{
    /// <summary>The step needed no counterparties.</summary>
    None,

    /// <summary>The shards' ranked index: only the first counterparties were fetched.</summary>
    Index,

    /// <summary>Every holder of the markets was fetched (the index could not vouch for its answer).</summary>
    Scan,
}

/// <summary>
/// Gathers what <see cref="StepLiquidation.Run"/> decides on and calls it: the current marks, margin multipliers and
/// staleness of the markets (from the market grains), the insurance fund's balance, and — only when auto-deleveraging
/// has an uncovered deficit to place — the holdings of the counterparties (the holders of the markets concerned).
/// I/O only: every rule is the domain's. Used by the coordinator for a price step and by an account for its own step.
/// </summary>
public sealed class LiquidationPlanner(IGrainFactory grains, GridOptions options)
{
    /// <summary>
    /// Decides the liquidation of <paramref name="candidates"/>, given in liquidation order, as one step, with
    /// <paramref name="config"/> (of version <paramref name="configVersion"/>: the shards rank counterparties at it).
    /// </summary>
    public async Task<PlannedStep> PlanAsync(IReadOnlyList<AccountSnapshot> candidates, RiskConfiguration config, long configVersion, MarkBook? marks = null)
    {
        marks ??= await MarksAsync(config);
        var domain = candidates
            .Select(c => c.ToPortfolio() is var p ? new LiquidationCandidate(c.Account, p, StepLiquidation.HoldsStale(p, marks.Stale.Contains, config)) : null!)
            .ToList();
        var fund = await grains.GetGrain<IInsuranceFundGrain>(0).GetAsync();
        var result = StepLiquidation.Run(domain, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund.InsuranceFund, fund.SocializedLoss));
        var search = AdlSearch.None;
        (int, int) cost = default;
        if (config.Risk.AutoDeleveraging && result.Accounts.Any(a => a.Cover is { Socialized: > 0m } && a.Result.Closes.Count > 0))
        {
            (result, search, cost) = await DeleverageAsync(domain, result, marks, config, configVersion, fund);
        }

        return new PlannedStep(result, [.. candidates.Select(c => c.Version)], marks) { AdlSearch = search, AdlCost = cost };
    }

    /// <summary>How many times the ranked index is asked, for larger prefixes, before the scan of every holder.</summary>
    private const int IndexAttempts = 3;

    /// <summary>
    /// Runs the step again with the counterparties auto-deleveraging needs. They come from the shards' ranked index
    /// (<see cref="AdlBook"/>): for each market and side the step's closes draw on, each shard's first counterparties
    /// covering everything the step closes there; those are fetched (fresh snapshots: any not at the version the index
    /// ranked is a reason to scan instead) with the holders the index has no standing of. The domain then says how
    /// it walked each queue, and the result stands only if no walk went past a shard's last given counterparty
    /// (<see cref="AutoDeleveraging.Covers"/>) — then it is exactly the decision over every holder. Otherwise larger
    /// prefixes are asked for, and in the end every holder is scanned as before.
    /// </summary>
    private async Task<(StepLiquidationResult Result, AdlSearch Search, (int Fetched, int Holders) Cost)> DeleverageAsync(
        IReadOnlyList<LiquidationCandidate> domain, StepLiquidationResult first, MarkBook marks, RiskConfiguration config, long version, FundView fund)
    {
        // What the step closes, per market and the side its counterparties are on (a sale by a long draws on the shorts).
        var needs = first.Plans.SelectMany(p => p.Closes)
            .GroupBy(c => (c.Market, Shorts: !c.Buys))
            .ToDictionary(g => g.Key, g => g.Sum(c => c.Quantity));
        var excluded = domain.Select(c => c.Account).ToImmutableArray();
        var wireMarks = marks.All.ToImmutableDictionary(StringComparer.Ordinal);
        for (var attempt = 0; attempt < IndexAttempts; attempt++)
        {
            var scale = 1m;
            for (var i = 0; i < attempt; i++)
            {
                scale *= 4m;
            }

            var answers = await Task.WhenAll(needs.SelectMany(n => Enumerable.Range(0, options.ShardsPerMarket).Select(async k =>
                (n.Key, Shard: k, Answer: await grains.Ref<IMarketShardGrain>(StableHash.ShardKey(n.Key.Market, k))
                    .AdlTopAsync(new AdlQuery(n.Key.Market, n.Key.Shorts, n.Value * scale, wireMarks, version, excluded))))));
            var ranked = answers.SelectMany(a => a.Answer.Ranked.Select(r => (a.Key.Market, Candidate: r))).ToList();
            var wanted = ranked.Select(r => r.Candidate.Account).Concat(answers.SelectMany(a => a.Answer.Unranked))
                .Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var snapshots = (await Task.WhenAll(wanted.Select(h => grains.Ref<IAccountRiskGrain>(h).SnapshotAsync())))
                .OfType<AccountSnapshot>()
                .ToDictionary(s => s.Account, StringComparer.Ordinal);
            await RestoreStandingsAsync(answers.SelectMany(a => a.Answer.Unranked.Select(u => (a.Key.Market, a.Shard, Account: u))), snapshots);
            if (ranked.Any(r => !snapshots.TryGetValue(r.Candidate.Account, out var s) || s.Version != r.Candidate.Version || s.InAuction
                || AutoDeleveraging.Score(s.ToPortfolio(), r.Market, marks, config) != r.Candidate.Score))
            {
                break; // the index ranked holdings (or a configuration) other than the account's now (a change in flight): scan
            }

            var counterparties = snapshots.Values.Where(s => !s.InAuction).Select(s => KeyValuePair.Create(s.Account, s.ToPortfolio())).ToList();
            var walks = new List<AdlWalk>();
            var result = StepLiquidation.Run(
                domain, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund.InsuranceFund, fund.SocializedLoss), counterparties, walks: walks);
            var boundaries = answers.GroupBy(a => a.Key).ToDictionary(
                g => g.Key,
                g => (IReadOnlyList<AdlKey>)[.. g.Where(a => !a.Answer.Exhausted).Select(a => a.Answer.Ranked.Length > 0
                    ? new AdlKey(a.Answer.Ranked[^1].Score, a.Answer.Ranked[^1].Account)
                    : new AdlKey(decimal.MaxValue, string.Empty))]); // (not given: nothing may be walked past it)
            if (AutoDeleveraging.Covers(walks, boundaries))
            {
                var holders = answers.DistinctBy(a => (a.Key.Market, a.Shard)).Sum(a => a.Answer.Holders);
                return (result, AdlSearch.Index, (wanted.Count, holders));
            }
        }

        var all = await CounterpartiesAsync(needs.Keys.Select(k => k.Market).ToHashSet(StringComparer.Ordinal));
        return (StepLiquidation.Run(
            domain, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund.InsuranceFund, fund.SocializedLoss), all), AdlSearch.Scan, (all.Count, all.Count));
    }

    /// <summary>
    /// Hands the shards that had no standing of a holder (a shard reactivated since the holder last re-banded) the one
    /// just fetched, so that the next query finds it ranked.
    /// </summary>
    private Task RestoreStandingsAsync(IEnumerable<(string Market, int Shard, string Account)> unranked, IReadOnlyDictionary<string, AccountSnapshot> snapshots) =>
        Task.WhenAll(unranked.Distinct()
            .Where(u => snapshots.ContainsKey(u.Account))
            .Select(u => snapshots[u.Account] is var s
                ? grains.Ref<IMarketShardGrain>(StableHash.ShardKey(u.Market, u.Shard)).SetStandingAsync(u.Account, new AdlStandingView(s.Holdings, s.Version, s.InAuction))
                : Task.CompletedTask));

    /// <summary>The current mark, multiplier and staleness of every configured market.</summary>
    public async Task<MarkBook> MarksAsync(RiskConfiguration config)
    {
        var marks = new MarkBook();
        var prices = await Task.WhenAll(config.Markets.Select(m => grains.Ref<IMarketGrain>(m.Symbol).GetMarkAsync()));
        foreach (var mark in prices.OfType<MarkPrice>())
        {
            marks.Set(mark.Market, mark.Price);
            marks.SetMultiplier(mark.Market, mark.Multiplier);
            if (mark.Stale)
            {
                marks.MarkStale(mark.Market);
            }
        }

        return marks;
    }

    /// <summary>Every holder of the markets, not in auction: the scan the ranked index saves, kept as its fallback.</summary>
    private async Task<List<KeyValuePair<string, Portfolio>>> CounterpartiesAsync(IReadOnlyCollection<string> markets)
    {
        var shards = markets.SelectMany(m => Enumerable.Range(0, options.ShardsPerMarket).Select(k => StableHash.ShardKey(m, k)));
        var holders = (await Task.WhenAll(shards.Select(s => grains.Ref<IMarketShardGrain>(s).HoldersAsync())))
            .SelectMany(h => h)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var snapshots = await Task.WhenAll(holders.Select(h => grains.Ref<IAccountRiskGrain>(h).SnapshotAsync()));
        return [.. snapshots.OfType<AccountSnapshot>().Where(s => !s.InAuction).Select(s => KeyValuePair.Create(s.Account, s.ToPortfolio()))];
    }
}
