using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>
/// The gated fan-out's guarantee: while every market an account depends on stays strictly inside its safe band, the
/// account is still Healthy — so a tick inside the band needs no evaluation. Checked at random points inside the bands,
/// all markets moved at once, including points a hair inside the bounds.
/// </summary>
public sealed class SafeBandProperties
{
    [Property(MaxTest = 300)]
    public Property InsideEveryBandTheAccountIsStillHealthy() =>
        Prop.ForAll(
            Arb.From(Generators.Account),
            Arb.From(Gen.ListOf(Gen.Choose(0, 10_000), 8).Select(l => l.ToArray())),
            (c, fractions) =>
            {
                var portfolio = c.NewPortfolio();
                var marks = c.NewMarks();
                var health = MarginCalculator.Evaluate(portfolio, marks, c.Config);
                var bands = SafeBands.For(portfolio, marks, c.Config);
                if (bands is null)
                {
                    Assert.True(
                        health.Status != AccountStatus.Healthy || health.Equity - (c.Config.Risk.MarginCallRatio * health.MaintenanceMargin) <= 0m,
                        $"no bands for a Healthy account with headroom: {c}");
                    return;
                }

                Assert.Equal(AccountStatus.Healthy, health.Status);
                var moved = new MarkBook(marks.All);
                var i = 0;
                foreach (var (market, band) in bands)
                {
                    var mark = marks.All[market];
                    Assert.True(band.Contains(mark), $"{market}: the current mark {mark} is outside its own band {band}");
                    var r = fractions[i++ % fractions.Length];
                    var f = 1m - ((r / 10_000m) * (r / 10_000m) * (r / 10_000m)); // 0 … 1, mostly near the bound
                    var toward = r % 2 == 0 ? band.Low : Math.Min(band.High, mark * 10m);
                    var price = mark + ((toward - mark) * f * 0.999999m);
                    if (price > 0m && band.Contains(price))
                    {
                        moved.Set(market, price);
                    }
                }

                var after = MarginCalculator.Evaluate(portfolio, moved, c.Config);
                Assert.True(after.Status == AccountStatus.Healthy, $"left Healthy inside its bands: {after} at {string.Join(", ", moved.All)}; bands {string.Join(", ", bands)}; {c}");
            });

    [Property(MaxTest = 200)]
    public Property EachBandIsTightOnlyWhereThePositionCanLose() =>
        Prop.ForAll(Arb.From(Generators.Account), c =>
        {
            var portfolio = c.NewPortfolio();
            var bands = SafeBands.For(portfolio, c.NewMarks(), c.Config);
            if (bands is null)
            {
                return;
            }

            foreach (var (market, band) in bands)
            {
                // A short with no collateral priced by its market cannot lose when the price falls; a long cannot lose when
                // it rises, as long as c·mmr stays below 1 (then PnL outgrows the requirement).
                var spec = c.Config.Market(market);
                if (portfolio.PositionIn(market) is { } p && !c.Config.Collateral.Any(a => a.PriceMarket == market && portfolio.Balance(a.Asset) > 0m))
                {
                    if (p.Size < 0m)
                    {
                        Assert.True(band.Low == 0m && band.High < decimal.MaxValue, $"{market} short {p.Size}: {band}");
                    }
                    else if (c.Config.Risk.MarginCallRatio * spec.Brackets[^1].Mmr < 1m)
                    {
                        Assert.True(band.High == decimal.MaxValue, $"{market} long {p.Size}: {band}");
                    }
                }
            }
        });
}
