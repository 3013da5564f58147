using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>Property 5: an accepted withdrawal never leaves E &lt; IM; a rejected one changes nothing and says why.</summary>
public sealed class WithdrawalProperties
{
    private static Gen<(AccountCase Case, string Asset, decimal Quantity)> Withdrawals =>
        from c in Generators.Account
        from asset in Gen.Elements(c.Balances.Keys.Concat([Assets.Usd, "UNLISTED"]).Concat(c.Config.Collateral.Select(x => x.Asset)).ToArray())
        from kind in Gen.Choose(0, 9)
        from permille in Gen.Choose(1, 1200)
        from cents in Gen.Choose(-100, 10_000_000)
        select (c, asset, kind == 0
            ? cents / 100m
            : Math.Max(0.001m, decimal.Round(Math.Abs(c.Balances.GetValueOrDefault(asset)) * permille / 1000m, 3)));

    [Property(MaxTest = 500)]
    public Property AcceptedWithdrawalNeverLeavesEquityBelowInitialMargin() =>
        Prop.ForAll(Arb.From(Withdrawals), t =>
        {
            var (c, asset, quantity) = t;
            var marks = c.NewMarks();
            var p = c.NewPortfolio();
            var snapshot = Snapshot(p);
            var check = AccountRules.CheckWithdrawal(p, asset, quantity, marks, c.Config);
            Assert.Equal(snapshot, Snapshot(p)); // the check itself never mutates

            Assert.Equal(ExpectedReason(c, p, asset, quantity, marks), check.RejectReason);
            if (check.Accepted)
            {
                p.Withdraw(asset, quantity);
                var h = MarginCalculator.Evaluate(p, marks, c.Config);
                Assert.True(h.Equity >= h.InitialMargin, $"accepted withdrawal left E={h.Equity} < IM={h.InitialMargin}");
                var (_, im) = Reference.Requirements(p, marks, c.Config);
                Assert.True(Reference.Equity(p, marks, c.Config) >= im);
            }
        });

    /// <summary>The rule of the model, restated: quantity, asset, balance, then E ≥ IM after (oracle arithmetic).</summary>
    private static string? ExpectedReason(AccountCase c, Portfolio p, string asset, decimal quantity, MarkBook marks)
    {
        if (quantity <= 0m)
        {
            return RejectReasons.InvalidQuantity;
        }

        if (asset != Assets.Usd && c.Config.Collateral.All(x => x.Asset != asset))
        {
            return RejectReasons.AssetNotConfigured;
        }

        if (quantity > p.Balance(asset))
        {
            return RejectReasons.InsufficientBalance;
        }

        var after = p.Clone();
        after.Withdraw(asset, quantity);
        var (_, im) = Reference.Requirements(after, marks, c.Config);
        return Reference.Equity(after, marks, c.Config) < im ? RejectReasons.InitialMargin : null;
    }

    internal static string Snapshot(Portfolio p) =>
        string.Join(";", p.Balances.Select(b => $"{b.Key}={b.Value}"))
        + "|" + string.Join(";", p.Positions.Select(x => $"{x.Key}={x.Value}"))
        + $"|{p.RealizedPnl}|{p.CollateralSoldValue}|{p.NetUsdTransfers}";
}
