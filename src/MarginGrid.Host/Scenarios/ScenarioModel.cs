using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;

namespace MarginGrid.Host.Scenarios;

/// <summary>A read scenario as the pure <see cref="ModelEngine"/> runs it.</summary>
public static class ScenarioModel
{
    public static ModelScenario ToModel(this Scenario scenario) =>
        new(
            scenario.Config.ToDomain(),
            scenario.InsuranceFund,
            [.. scenario.Accounts.Select(a => new ModelAccountSeed(
                a.Id,
                a.Seed.Collateral,
                a.Seed.Positions.ToImmutableDictionary(p => p.Market, p => new Position(p.Size, p.EntryPrice), StringComparer.Ordinal)))],
            scenario.InitialPrices,
            [.. scenario.Steps.Select(ToModel)])
        {
            StartTime = scenario.StartTime,
        };

    private static ModelStep ToModel(ScenarioStep step) => step switch
    {
        PriceStep p => new ModelPriceStep(p.Market, p.Price) { Time = p.Time, Source = p.Source },
        FillStep f => new ModelFillStep(f.Account, f.Market, f.Size, f.Price),
        DepositStep d => new ModelDepositStep(d.Account, d.Asset, d.Quantity),
        WithdrawStep w => new ModelWithdrawStep(w.Account, w.Asset, w.Quantity),
        BidStep b => new ModelBidStep(b.Account, b.Target, b.Asset, b.Quantity, b.MaxPrice),
        _ => throw new ArgumentException($"unknown step {step}", nameof(step)),
    };
}
