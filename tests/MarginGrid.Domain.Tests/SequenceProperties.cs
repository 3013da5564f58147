using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>One command of a random session; indices are reduced modulo what the configuration has.</summary>
public sealed record Op(int Kind, int Account, int Target, int Amount, int Percent)
{
    public override string ToString() => Kind switch
    {
        0 => $"price(m{Target}, {Percent:+0;-0}%)",
        1 => $"fill(a{Account}, m{Target}, {Amount} lots, {Percent:+0;-0}%)",
        2 => $"deposit(a{Account}, asset{Target}, {Amount})",
        _ => $"withdraw(a{Account}, asset{Target}, {Amount})",
    };
}

/// <summary>
/// Property 4 over sessions: random fills, deposits, withdrawals and price steps on three accounts, each step followed
/// by the liquidations the model prescribes (health ascending), with the insurance ledger applied. After every step
/// <c>Σ USD + fund − socialized</c> equals the initial fund plus realized PnL, collateral sold and net USD transfers
/// (<see cref="Conservation.Check"/>), accepted withdrawals leave E ≥ IM, and liquidated accounts end at target or flat.
/// </summary>
public sealed class SequenceProperties
{
    private const int AccountCount = 3;

    private static Gen<Op> OpGen =>
        from kind in Gen.Frequency((4, Gen.Constant(0)), (4, Gen.Constant(1)), (1, Gen.Constant(2)), (2, Gen.Constant(3)))
        from account in Gen.Choose(0, AccountCount - 1)
        from target in Gen.Choose(0, 3)
        from amount in Gen.Choose(-400, 400)
        from percent in Gen.Choose(-15, 15)
        select new Op(kind, account, target, amount, percent);

    private static Gen<(ConfigCase Setup, decimal Fund, int[] Seed, Dictionary<string, decimal> Marks, Op[] Ops)> Sessions =>
        from setup in Generators.Config
        from fundCents in Gen.Choose(0, 10_000_000)
        from seed in Gen.ArrayOf(Gen.Choose(1_000, 5_000_000), AccountCount)
        from marks in Gen.CollectToList(setup.Config.Markets, m => Generators.Price.Select(p => (m.Symbol, p)))
        from length in Gen.Choose(5, 40)
        from ops in Gen.ArrayOf(OpGen, length)
        select (setup, fundCents / 100m, seed, marks.ToDictionary(x => x.Symbol, x => x.p), ops);

    [Property(MaxTest = 200)]
    public Property MoneyIsConservedOverRandomSessions() =>
        Prop.ForAll(Arb.From(Sessions), s =>
        {
            var config = s.Setup.Config;
            var marks = new MarkBook(s.Marks);
            var ledger = new InsuranceLedger(s.Fund);
            var accounts = new Portfolio[AccountCount];
            var assets = new[] { Assets.Usd }.Concat(config.Collateral.Select(c => c.Asset)).ToArray();
            for (var i = 0; i < AccountCount; i++)
            {
                accounts[i] = new Portfolio();
                accounts[i].Deposit(Assets.Usd, s.Seed[i] / 100m);
            }

            AssertConserved();
            foreach (var op in s.Ops)
            {
                var who = accounts[op.Account];
                switch (op.Kind)
                {
                    case 0:
                        {
                            var symbol = config.Markets[op.Target % config.Markets.Count].Symbol;
                            marks.Set(symbol, Math.Max(0.01m, decimal.Round(marks.All[symbol] * (100 + op.Percent) / 100m, 2)));
                            LiquidateStep(Enumerable.Range(0, AccountCount));
                            break;
                        }

                    case 1 when op.Amount != 0:
                        {
                            var market = config.Markets[op.Target % config.Markets.Count];
                            var price = Math.Max(0.01m, decimal.Round(marks.All[market.Symbol] * (100 + op.Percent) / 100m, 2));
                            var quantity = op.Amount * market.LotSize;
                            Assert.True(AccountRules.CheckFill(market.Symbol, quantity, price, marks, config).Accepted);
                            var realizedBefore = who.RealizedPnl;
                            var usdBefore = who.Usd;
                            var realized = who.ApplyFill(market.Symbol, quantity, price);
                            Reference.Near(realizedBefore + realized, who.RealizedPnl, 0.0000000000000000001m);
                            Reference.Near(usdBefore + realized, who.Usd, 0.0000000000000000001m); // entries may be 28-digit averages
                            LiquidateStep([op.Account]);
                            break;
                        }

                    case 2 when op.Amount != 0:
                        {
                            var asset = assets[op.Target % assets.Length];
                            var quantity = Math.Abs(op.Amount) * (asset == Assets.Usd ? 10m : 0.1m);
                            Assert.True(AccountRules.CheckDeposit(asset, quantity, config).Accepted);
                            who.Deposit(asset, quantity);
                            LiquidateStep([op.Account]);
                            break;
                        }

                    case 3:
                        {
                            var asset = assets[op.Target % assets.Length];
                            var quantity = op.Amount > 0
                                ? Math.Max(0.01m, decimal.Round(who.Balance(asset) * op.Amount / 400m, 2))
                                : Math.Abs(op.Amount) * 5m;
                            var before = WithdrawalProperties.Snapshot(who);
                            var check = AccountRules.CheckWithdrawal(who, asset, quantity, marks, config);
                            if (check.Accepted)
                            {
                                who.Withdraw(asset, quantity);
                                var h = MarginCalculator.Evaluate(who, marks, config);
                                Assert.True(h.Equity >= h.InitialMargin);
                                LiquidateStep([op.Account]);
                            }
                            else
                            {
                                Assert.Equal(before, WithdrawalProperties.Snapshot(who));
                            }

                            break;
                        }
                }

                AssertConserved();
            }

            void LiquidateStep(IEnumerable<int> which)
            {
                var due = which
                    .Select(i => (Id: $"a{i}", Account: accounts[i], Health: MarginCalculator.Evaluate(accounts[i], marks, config)))
                    .Where(x => x.Health.NeedsLiquidation)
                    .ToList();
                due.Sort((a, b) => MarginCalculator.CompareForLiquidation(a.Id, a.Health, b.Id, b.Health));
                foreach (var (_, account, _) in due)
                {
                    var result = Liquidator.Liquidate(account, marks, config);
                    ledger.Apply(result);
                    var h = MarginCalculator.Evaluate(account, marks, config);
                    Assert.True(!account.HasPositions || h.Equity >= config.Risk.LiquidationTargetRatio * h.MaintenanceMargin);
                    Assert.True(account.HasPositions || account.Usd >= 0m);
                    Assert.True(ledger.Fund >= 0m);
                }
            }

            void AssertConserved()
            {
                var report = Conservation.Check(accounts.Select(LiquidationProperties.Entry), s.Fund, ledger.Fund, ledger.SocializedLoss);
                Assert.True(report.Holds, $"conservation off by {report.Difference} (actual {report.Actual}, expected {report.Expected})");
                Reference.Near(s.Fund + Reference.Sources(accounts), Reference.Money(accounts, ledger));
            }
        });
}
