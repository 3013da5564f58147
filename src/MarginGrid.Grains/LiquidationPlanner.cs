using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>A step's liquidations as the domain decided them, with the marks they were decided at.</summary>
public sealed record PlannedStep(StepLiquidationResult Result, IReadOnlyList<long> Versions, MarkBook Marks);

/// <summary>
/// Gathers what <see cref="StepLiquidation.Run"/> decides on and calls it: the current marks, margin multipliers and
/// staleness of the markets (from the market grains), the insurance fund's balance, and — only when auto-deleveraging
/// has an uncovered deficit to place — the holdings of the counterparties (the holders of the markets concerned).
/// I/O only: every rule is the domain's. Used by the coordinator for a price step and by an account for its own step.
/// </summary>
public sealed class LiquidationPlanner(IGrainFactory grains, GridOptions options)
{
    /// <summary>Decides the liquidation of <paramref name="candidates"/>, given in liquidation order, as one step.</summary>
    public async Task<PlannedStep> PlanAsync(IReadOnlyList<AccountSnapshot> candidates, RiskConfiguration config, MarkBook? marks = null)
    {
        marks ??= await MarksAsync(config);
        var domain = candidates
            .Select(c => c.ToPortfolio() is var p ? new LiquidationCandidate(c.Account, p, StepLiquidation.HoldsStale(p, marks.Stale.Contains, config)) : null!)
            .ToList();
        var fund = await grains.GetGrain<IInsuranceFundGrain>(0).GetAsync();
        var result = StepLiquidation.Run(domain, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund.InsuranceFund, fund.SocializedLoss));
        if (config.Risk.AutoDeleveraging && result.Accounts.Any(a => a.Cover is { Socialized: > 0m } && a.Result.Closes.Count > 0))
        {
            // Auto-deleveraging needs the counterparties: every holder of the markets closed, not in auction.
            var markets = result.Accounts.SelectMany(a => a.Result.Closes.Select(c => c.Market)).ToHashSet(StringComparer.Ordinal);
            var counterparties = await CounterpartiesAsync(markets);
            result = StepLiquidation.Run(
                domain, marks, config, new LiquidationBudget(config), new InsuranceLedger(fund.InsuranceFund, fund.SocializedLoss), counterparties);
        }

        return new PlannedStep(result, [.. candidates.Select(c => c.Version)], marks);
    }

    /// <summary>The current mark, multiplier and staleness of every configured market.</summary>
    public async Task<MarkBook> MarksAsync(RiskConfiguration config)
    {
        var marks = new MarkBook();
        var prices = await Task.WhenAll(config.Markets.Select(m => grains.GetGrain<IMarketGrain>(m.Symbol).GetMarkAsync()));
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

    private async Task<List<KeyValuePair<string, Portfolio>>> CounterpartiesAsync(IReadOnlyCollection<string> markets)
    {
        var shards = markets.SelectMany(m => Enumerable.Range(0, options.ShardsPerMarket).Select(k => StableHash.ShardKey(m, k)));
        var holders = (await Task.WhenAll(shards.Select(s => grains.GetGrain<IMarketShardGrain>(s).HoldersAsync())))
            .SelectMany(h => h)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var snapshots = await Task.WhenAll(holders.Select(h => grains.GetGrain<IAccountRiskGrain>(h).SnapshotAsync()));
        return [.. snapshots.OfType<AccountSnapshot>().Where(s => !s.InAuction).Select(s => KeyValuePair.Create(s.Account, s.ToPortfolio()))];
    }
}
