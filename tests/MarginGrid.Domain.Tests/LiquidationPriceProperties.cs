using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>
/// Property 6, LiquidationPrice.For. With every other mark fixed, f(M) = E(M) − MM(M) is continuous and piecewise
/// linear in the market's mark M. What is asserted:
/// <list type="bullet">
/// <item>a returned price p is positive and f(p) = 0 to 1e-9 relative (of max(1, MM(p)));</item>
/// <item>no root is nearer the current mark than p: f does not change sign strictly between any two scan points inside
/// (mark − 0.999·|p − mark|, mark + 0.999·|p − mark|);</item>
/// <item>when null is returned, f does not change sign strictly between any two consecutive points of a scan of
/// positive prices from mark/10⁴ to mark·10⁴ (geometric, 600 points, plus every bracket floor's price ± 1e-6 relative).</item>
/// </list>
/// </summary>
public sealed class LiquidationPriceProperties
{
    private const int ScanPoints = 600;

    [Property(MaxTest = 200)]
    public Property LiquidationPriceIsARootOfEquityMinusMaintenance() =>
        Prop.ForAll(Arb.From(Generators.AccountWithPositions), c =>
        {
            var config = c.Config;
            var portfolio = c.NewPortfolio();
            foreach (var (symbol, position) in portfolio.Positions)
            {
                var marks = c.NewMarks();
                var current = marks.All[symbol];
                var price = LiquidationPrice.For(portfolio, symbol, marks, config);
                decimal F(decimal m) => Gap(portfolio, marks, config, symbol, m);
                var scan = ScanPrices(config.Market(symbol), Math.Abs(position.Size), current);
                if (price is { } p)
                {
                    Assert.True(p > 0m, $"{symbol}: non-positive liquidation price {p}");
                    var mm = Reference.Requirements(portfolio, With(marks, symbol, p), config).Mm;
                    var gap = F(p);
                    Assert.True(Math.Abs(gap) <= 0.000000001m * Math.Max(1m, mm), $"{symbol}: at {p}, E − MM = {gap} (MM {mm})");

                    var reach = 0.999m * Math.Abs(p - current);
                    var inside = scan.Where(m => Math.Abs(m - current) < reach).Append(current).Order().ToList();
                    AssertNoSignChange(inside, F, $"{symbol}: a root nearer {current} than {p}");
                }
                else
                {
                    AssertNoSignChange(scan, F, $"{symbol}: null, but E − MM changes sign");
                }
            }
        });

    private static void AssertNoSignChange(List<decimal> prices, Func<decimal, decimal> f, string what)
    {
        var previous = 0;
        var previousPrice = 0m;
        foreach (var m in prices)
        {
            var sign = Math.Sign(f(m));
            if (sign != 0 && previous != 0 && sign != previous)
            {
                Assert.Fail($"{what}: between {previousPrice} and {m}");
            }

            if (sign != 0)
            {
                previous = sign;
                previousPrice = m;
            }
        }
    }

    private static decimal Gap(Portfolio p, MarkBook marks, RiskConfiguration config, string symbol, decimal mark)
    {
        var h = MarginCalculator.Evaluate(p, With(marks, symbol, mark), config);
        return h.Equity - h.MaintenanceMargin;
    }

    private static MarkBook With(MarkBook marks, string symbol, decimal price)
    {
        var copy = new MarkBook(marks.All);
        copy.Set(symbol, price);
        return copy;
    }

    private static List<decimal> ScanPrices(MarketSpec market, decimal size, decimal current)
    {
        var prices = new List<decimal>();
        for (var i = 0; i <= ScanPoints; i++)
        {
            var factor = (decimal)Math.Pow(10, -4 + (8.0 * i / ScanPoints));
            prices.Add(decimal.Round(current * factor, 10));
        }

        foreach (var b in market.Brackets.Skip(1))
        {
            var atFloor = b.Floor / size;
            prices.AddRange([atFloor, atFloor * 0.999999m, atFloor * 1.000001m]);
        }

        return prices.Where(x => x > 0m).Distinct().Order().ToList();
    }
}
