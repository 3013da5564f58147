using MarginGrid.Domain;

namespace MarginGrid.Simulation;

/// <summary>The end state of a simulated run, read through the grains: every account's view, the fund, conservation.</summary>
public sealed record GridAudit(IReadOnlyList<AccountView> Views, FundView Fund, ConservationReport Conservation)
{
    public static async Task<GridAudit> ReadAsync(IGrainFactory grains, IReadOnlyList<string> accounts, decimal initialFund)
    {
        var views = new List<AccountView>(accounts.Count);
        foreach (var batch in accounts.Chunk(2_000))
        {
            views.AddRange((await Task.WhenAll(batch.Select(id => grains.GetGrain<IAccountGrain>(id).GetViewAsync()))).OfType<AccountView>());
        }

        var fund = await grains.GetGrain<IInsuranceFundGrain>(0).GetAsync();
        var conservation = MarginGrid.Domain.Conservation.Check(
            views.Select(v => new ConservationEntry(v.Collateral.GetValueOrDefault(Assets.Usd), v.NetUsdTransfers, v.RealizedPnl, v.CollateralSoldValue)),
            initialFund,
            fund.InsuranceFund,
            fund.SocializedLoss);
        return new GridAudit(views, fund, conservation);
    }
}
