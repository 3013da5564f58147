using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>Property 1: the tiered requirement is continuous at every floor, non-decreasing, and is the spec's formula.</summary>
public sealed class TieredRequirementProperties
{
    private static Gen<MarketSpec> AnyMarket => Generators.Risk.SelectMany(r => Generators.Market("X", r));

    [Property(MaxTest = 300)]
    public Property RequirementIsContinuousAtEveryBracketFloor() =>
        Prop.ForAll(Arb.From(AnyMarket), market =>
        {
            var b = market.Brackets;
            Assert.Equal(0m, market.MaintenanceRequirement(0m));
            Assert.Equal(0m, market.InitialRequirement(0m));
            for (var k = 1; k < b.Count; k++)
            {
                var floor = b[k].Floor;

                // At floor_k the bracket index is k, and the value equals bracket k−1's formula exactly.
                Assert.Equal(k, market.BracketIndex(floor));
                Assert.Equal(k - 1, market.BracketIndex(floor - 0.01m));
                Assert.Equal(Reference.Formula(b, k - 1, floor, initial: false), market.MaintenanceRequirement(floor));
                Assert.Equal(Reference.Formula(b, k - 1, floor, initial: true), market.InitialRequirement(floor));
                Assert.Equal(Reference.Formula(b, k, floor, initial: false), market.MaintenanceRequirement(floor));
                Assert.Equal(Reference.Formula(b, k, floor, initial: true), market.InitialRequirement(floor));

                // And the cumulative amount is the recurrence of the spec.
                Assert.Equal(
                    (floor * b[k].Mmr) - Reference.Formula(b, k, floor, initial: false),
                    market.MaintenanceCumulative(k));

                // Just below the floor the previous bracket applies and the step to the floor is tiny.
                var below = floor - 0.000001m;
                Assert.Equal(Reference.Formula(b, k - 1, below, initial: false), market.MaintenanceRequirement(below));
                Assert.True(market.MaintenanceRequirement(floor) - market.MaintenanceRequirement(below) <= 0.000001m * b[k - 1].Mmr);
            }
        });

    [Property(MaxTest = 300)]
    public Property RequirementIsNonDecreasingAndMatchesTheMarginalRateIntegral() =>
        Prop.ForAll(
            Arb.From(
                from market in AnyMarket
                from points in Gen.ArrayOf(Gen.Choose(0, 2_000_000_000), 20)
                from scale in Gen.Elements(0.01m, 0.1m, 1m, 10m)
                select (Market: market, Notionals: points.Select(p => p / 100m * scale)
                    .Concat(market.Brackets.SelectMany(x => new[] { x.Floor, x.Floor - 0.01m, x.Floor + 0.01m }))
                    .Where(n => n >= 0m)
                    .Order()
                    .ToArray())),
            c =>
            {
                decimal prevMm = 0m, prevIm = 0m;
                foreach (var n in c.Notionals)
                {
                    var mm = c.Market.MaintenanceRequirement(n);
                    var im = c.Market.InitialRequirement(n);
                    Assert.Equal(Reference.Requirement(c.Market.Brackets, n, initial: false), mm);
                    Assert.Equal(Reference.Requirement(c.Market.Brackets, n, initial: true), im);
                    Assert.True(mm >= prevMm, $"MM decreased at N={n}: {prevMm} → {mm}");
                    Assert.True(im >= prevIm, $"IM decreased at N={n}: {prevIm} → {im}");
                    Assert.True(im > mm || n == 0m, $"IM {im} ≤ MM {mm} at N={n}");
                    prevMm = mm;
                    prevIm = im;
                }
            });
}
