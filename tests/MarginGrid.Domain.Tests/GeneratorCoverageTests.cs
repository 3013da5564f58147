using FsCheck.Fluent;

namespace MarginGrid.Domain.Tests;

/// <summary>
/// The properties can only fail if the generators reach the interesting cases. This samples the account generator and
/// checks that it produces every status, multi-bracket notionals, odd (non-lot) sizes, partial closes, collateral sales
/// and bankruptcies in reasonable proportions.
/// </summary>
public sealed class GeneratorCoverageTests
{
    [Fact]
    public void AccountGeneratorReachesEveryInterestingCase()
    {
        var cases = Gen.Sample(Generators.Account, 600);
        var statuses = new Dictionary<AccountStatus, int>();
        int partial = 0, sales = 0, deficits = 0, upperBracket = 0, odd = 0, multiBracket = 0, withPositions = 0;
        foreach (var c in cases)
        {
            var marks = c.NewMarks();
            var p = c.NewPortfolio();
            var h = MarginCalculator.Evaluate(p, marks, c.Config);
            statuses[h.Status] = statuses.GetValueOrDefault(h.Status) + 1;
            withPositions += p.HasPositions ? 1 : 0;
            multiBracket += c.Config.Markets.Any(m => m.Brackets.Count > 1) ? 1 : 0;
            upperBracket += p.Positions.Any(x => c.Config.Market(x.Key).BracketIndex(Math.Abs(x.Value.Size) * marks.All[x.Key]) > 0) ? 1 : 0;
            odd += p.Positions.Any(x => Math.Abs(x.Value.Size) % c.Config.Market(x.Key).LotSize != 0m) ? 1 : 0;
            if (h.NeedsLiquidation)
            {
                var r = Liquidator.Liquidate(p, marks, c.Config);
                partial += p.HasPositions ? 1 : 0;
                sales += r.Sales.Count > 0 ? 1 : 0;
                deficits += r.Deficit > 0m ? 1 : 0;
            }
        }

        var summary = $"statuses {string.Join(", ", statuses.Select(s => $"{s.Key}={s.Value}"))}; with positions {withPositions}; " +
            $"multi-bracket {multiBracket}; upper bracket {upperBracket}; odd sizes {odd}; partial {partial}; sales {sales}; deficits {deficits}";
        foreach (var status in Enum.GetValues<AccountStatus>())
        {
            Assert.True(statuses.GetValueOrDefault(status) >= 20, summary);
        }

        Assert.True(withPositions >= 400, summary);
        Assert.True(upperBracket >= 30, summary);
        Assert.True(odd >= 30, summary);
        Assert.True(partial >= 20, summary);
        Assert.True(sales >= 10, summary);
        Assert.True(deficits >= 10, summary);
    }
}
