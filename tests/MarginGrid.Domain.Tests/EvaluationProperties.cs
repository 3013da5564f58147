using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>MarginCalculator.Evaluate agrees with the oracle's E, MM, IM and the status rule list.</summary>
public sealed class EvaluationProperties
{
    [Property(MaxTest = 300)]
    public Property EvaluateMatchesTheModel() =>
        Prop.ForAll(Arb.From(Generators.Account), c =>
        {
            var marks = c.NewMarks();
            var p = c.NewPortfolio();
            var h = MarginCalculator.Evaluate(p, marks, c.Config);
            var e = Reference.Equity(p, marks, c.Config);
            var (mm, im) = Reference.Requirements(p, marks, c.Config);
            Assert.Equal(e, h.Equity);
            Assert.Equal(mm, h.MaintenanceMargin);
            Assert.Equal(im, h.InitialMargin);

            var belowMm = e < mm;
            var belowCall = e < c.Config.Risk.MarginCallRatio * mm;
            var rules = new (bool Applies, AccountStatus Status)[]
            {
                (!p.HasPositions && p.Usd >= 0m, AccountStatus.Healthy),
                (e <= 0m, AccountStatus.Bankrupt),
                (!p.HasPositions, AccountStatus.Healthy),
                (belowMm, AccountStatus.Liquidatable),
                (belowCall, AccountStatus.MarginCall),
                (true, AccountStatus.Healthy),
            };
            Assert.Equal(rules.First(r => r.Applies).Status, h.Status);
            Assert.Equal(p.HasPositions ? e / mm : null, h.Health);
        });
}
