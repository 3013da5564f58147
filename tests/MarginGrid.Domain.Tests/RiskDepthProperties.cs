using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using MarginGrid.Domain.Model;

namespace MarginGrid.Domain.Tests;

/// <summary>One step of a random session; indices are reduced modulo what the configuration has.</summary>
public sealed record SessionOp(int Kind, int Account, int Target, int Amount, int Percent, int Source, int Seconds)
{
    public override string ToString() => Kind switch
    {
        0 => $"price(m{Target}, {Percent:+0;-0}%, src{Source}, +{Seconds}s)",
        1 => $"fill(a{Account}, m{Target}, {Amount} lots, {Percent:+0;-0}%)",
        2 => $"deposit(a{Account}, asset{Target}, {Amount})",
        _ => $"withdraw(a{Account}, asset{Target}, {Amount})",
    };
}

/// <summary>v2 knobs of one market: each null or zero means off.</summary>
public sealed record Knobs(OracleSpec? Oracle, VolatilitySpec? Volatility, decimal? Cap, decimal Impact, decimal MaxImpact)
{
    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"oracle={Oracle}, vol={Volatility}, cap={Cap}, κ={Impact}, maxImpact={MaxImpact}");
}

/// <summary>A random session: a configuration, three seeded accounts, a fund and the ops.</summary>
public sealed record Session(ConfigCase Setup, IReadOnlyList<AccountCase> Accounts, decimal Fund, IReadOnlyList<Knobs> Knobs, IReadOnlyList<SessionOp> Ops)
{
    public override string ToString() =>
        $"{Setup} || fund={Fund} || knobs[{string.Join("; ", Knobs)}] || accounts[{string.Join(" ## ", Accounts.Select(a => $"{string.Join(",", a.Positions.Select(p => $"{p.Key}:{p.Value.Size}@{p.Value.Entry}"))} / {string.Join(",", a.Balances.Select(b => $"{b.Key}={b.Value}"))}"))}] || ops[{string.Join(", ", Ops)}]";
}

/// <summary>
/// Properties of the v2 mechanisms (MARGIN-MODEL.md "Risk depth (v2)"), each over freshly generated accounts and
/// sessions: neutral knobs are exactly v1, caps bound the closed notional per step, netting never worsens an execution
/// price, and money is conserved with slippage.
/// </summary>
public sealed class RiskDepthProperties
{
    private static readonly string[] Sources = [MarketPriceState.DefaultSource, "a", "b"];

    private static Gen<SessionOp> OpGen =>
        from kind in Gen.Frequency((5, Gen.Constant(0)), (3, Gen.Constant(1)), (1, Gen.Constant(2)), (1, Gen.Constant(3)))
        from account in Gen.Choose(0, 2)
        from target in Gen.Choose(0, 3)
        from amount in Gen.Choose(-400, 400)
        from percent in Gen.Frequency((3, Gen.Choose(-8, 8)), (1, Gen.Choose(-30, 30)))
        from source in Gen.Choose(0, 2)
        from seconds in Gen.Frequency((3, Gen.Choose(0, 10)), (1, Gen.Choose(0, 90)))
        select new SessionOp(kind, account, target, amount, percent, source, seconds);

    /// <summary>Knobs that switch every mechanism on with values that make them bite.</summary>
    private static Gen<Knobs> ActiveKnobs =>
        from hasOracle in Gen.Choose(0, 2)
        from maxAge in Gen.Choose(5, 60)
        from devPct in Gen.Choose(2, 50)
        from minSources in Gen.Choose(1, 2)
        from movePct in Gen.Choose(3, 30)
        from hasVol in Gen.Choose(0, 2)
        from window in Gen.Choose(1, 4)
        from refBp in Gen.Choose(5, 300)
        from maxK in Gen.Choose(10, 40)
        from hasCap in Gen.Choose(0, 3)
        from capScale in Gen.Choose(0, 5)
        from capMantissa in Gen.Choose(1, 99)
        from hasImpact in Gen.Choose(0, 3)
        from impactMantissa in Gen.Choose(1, 1000)
        from impactScale in Gen.Choose(5, 10)
        from maxImpactPct in Gen.Choose(1, 99)
        select new Knobs(
            hasOracle == 0 ? null : new OracleSpec(
                hasOracle == 1 ? maxAge : null, hasOracle == 1 ? devPct / 100m : null, minSources, movePct / 100m),
            hasVol == 0 ? null : new VolatilitySpec(window, refBp / 10000m, maxK / 10m),
            hasCap == 0 ? null : capMantissa * Pow10(capScale),
            hasImpact == 0 ? 0m : impactMantissa / Pow10(impactScale),
            maxImpactPct / 100m);

    /// <summary>Knobs that are configured but can never act: the result must be exactly v1's.</summary>
    private static Knobs Neutral { get; } = new(
        new OracleSpec(MaxAge: 1_000_000_000m, MaxDeviation: null, MinSources: 1m, MaxMove: 1_000_000m),
        new VolatilitySpec(1m, 1_000_000_000_000m, 1m),
        1_000_000_000_000_000m,
        0m,
        0.3m);

    private static Gen<Session> SessionsWith(Gen<Knobs> knobs) =>
        from setup in Generators.Config
        from accounts in Gen.CollectToList(Enumerable.Range(0, 3), _ => Generators.AccountIn(setup))
        from fundCents in Gen.Frequency((1, Gen.Constant(0)), (3, Gen.Choose(0, 10_000_000)))
        from k in Gen.CollectToList(setup.Config.Markets, _ => knobs)
        from length in Gen.Choose(3, 30)
        from ops in Gen.ArrayOf(OpGen, length)
        select new Session(setup, accounts, fundCents / 100m, k, ops);

    public static RiskConfiguration WithKnobs(RiskConfiguration config, IReadOnlyList<Knobs> knobs) =>
        RiskConfiguration.Create(
            [.. config.Markets.Select((m, i) => new MarketSpec(m.Symbol, m.LotSize, m.LiquidationPenalty, m.Brackets)
            {
                Oracle = knobs[i].Oracle,
                Volatility = knobs[i].Volatility,
                LiquidationCap = knobs[i].Cap,
                Impact = knobs[i].Impact,
                MaxImpact = knobs[i].MaxImpact,
            })],
            config.Collateral,
            config.Risk);

    /// <summary>Neutral v2 knobs (impact 0, a huge cap, an oracle and a volatility that never act) give exactly v1.</summary>
    [Property(MaxTest = 150)]
    public Property NeutralKnobsGiveExactlyTheV1Result() =>
        Prop.ForAll(Arb.From(SessionsWith(Gen.Constant(Neutral))), s =>
        {
            var v1 = Start(s, s.Setup.Config);
            var v2 = Start(s, WithKnobs(s.Setup.Config, s.Knobs));
            Assert.Equal(v1.Events, v2.Events);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                var step = StepFor(op, v1, s.Setup.Config, ref time);
                Assert.Equal(v1.Apply(step), v2.Apply(step));
            }

            var a = v1.Result();
            var b = v2.Result();
            Assert.Equal(a.InsuranceFund, b.InsuranceFund);
            Assert.Equal(a.SocializedLoss, b.SocializedLoss);
            Assert.Equal(a.Events, b.Events);
            for (var i = 0; i < a.Accounts.Count; i++)
            {
                Assert.Equal(a.Accounts[i] with { Collateral = null!, Positions = null! }, b.Accounts[i] with { Collateral = null!, Positions = null! });
                Assert.Equal(a.Accounts[i].Collateral.OrderBy(x => x.Key, StringComparer.Ordinal), b.Accounts[i].Collateral.OrderBy(x => x.Key, StringComparer.Ordinal));
                Assert.Equal(a.Accounts[i].Positions.OrderBy(x => x.Key, StringComparer.Ordinal), b.Accounts[i].Positions.OrderBy(x => x.Key, StringComparer.Ordinal));
            }
        });

    /// <summary>
    /// Over sessions with every v2 mechanism switched on: in every step, the notional closed per capped market (at the
    /// step's mark) is at most its cap; money is conserved after every step, slippage included; the fund never goes
    /// negative; a queued account is one whose last liquidation was deferred.
    /// </summary>
    [Property(MaxTest = 200)]
    public Property CapsBindPerStepAndMoneyIsConservedWithSlippage() =>
        Prop.ForAll(Arb.From(SessionsWith(ActiveKnobs)), s =>
        {
            var config = WithKnobs(s.Setup.Config, s.Knobs);
            var engine = Start(s, config);
            AssertStep(engine, engine.Events, config);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                var events = engine.Apply(StepFor(op, engine, config, ref time));
                AssertStep(engine, events, config);
            }
        });

    /// <summary>With κ = 0 and no cap, one account's step liquidation is exactly the v1 liquidation (and so is Liquidator).</summary>
    [Property(MaxTest = 300)]
    public Property ABatchOfOneWithTheKnobsOffIsExactlyV1() =>
        Prop.ForAll(Arb.From(LiquidationProperties.Liquidatable), c =>
        {
            var marks = c.NewMarks();
            var expected = c.NewPortfolio();
            var v1 = V1Liquidator.Liquidate(expected, marks, c.Config);

            var viaLiquidator = c.NewPortfolio();
            var r1 = Liquidator.Liquidate(viaLiquidator, marks, c.Config);

            var viaStep = c.NewPortfolio();
            var ledger = new InsuranceLedger(100m);
            var step = StepLiquidation.Run([new LiquidationCandidate("x", viaStep, false)], marks, c.Config, new LiquidationBudget(c.Config), ledger);
            var r2 = Assert.Single(step.Accounts);
            r2.ApplyTo(viaStep);

            foreach (var (r, p) in new[] { (r1, viaLiquidator), (r2.Result, viaStep) })
            {
                Assert.Equal(v1.Closes, r.Closes);
                Assert.Equal(v1.Sales, r.Sales);
                Assert.Equal(v1.Deficit, r.Deficit);
                Assert.Equal(LiquidationProperties.Entry(expected), LiquidationProperties.Entry(p));
                Assert.Equal(expected.Balances.OrderBy(x => x.Key, StringComparer.Ordinal), p.Balances.OrderBy(x => x.Key, StringComparer.Ordinal));
                Assert.Equal(expected.Positions.OrderBy(x => x.Key, StringComparer.Ordinal), p.Positions.OrderBy(x => x.Key, StringComparer.Ordinal));
            }

            Assert.Empty(step.Batches);
            Assert.Null(r2.DeferReason);
            Assert.Equal(100m + v1.FundIncome - (r2.Cover?.InsuranceCovered ?? 0m), ledger.Fund);
        });

    /// <summary>
    /// Several accounts at the same marks with caps and impact: closed notional per capped market ≤ cap; with netting no
    /// close executes worse than its side would without netting at the same impact (the whole side's volume moving the
    /// price: <c>M(1 ± min(κ·side·M, maxImpact))</c>); closes on the smaller side, and where B = S, execute at the mark;
    /// the candidates' portfolios are untouched until applied, and applying reproduces the settled closes.
    /// </summary>
    [Property(MaxTest = 300)]
    public Property NettingNeverWorsensAnExecutionPriceAndCapsBind() =>
        Prop.ForAll(
            Arb.From(
                from setup in Generators.Config
                from accounts in Gen.CollectToList(Enumerable.Range(0, 5), _ => Generators.AccountIn(setup))
                from knobs in Gen.CollectToList(setup.Config.Markets, _ => ActiveKnobs.Select(k => k with { Oracle = null, Volatility = null, Impact = k.Impact == 0m ? 0.000001m : k.Impact }))
                select (setup, accounts, knobs)),
            t =>
            {
                var (setup, accounts, knobs) = t;
                var config = WithKnobs(setup.Config, knobs);
                var marks = accounts[0].NewMarks();
                var portfolios = accounts.Select(a => a.NewPortfolio()).ToList();
                var due = portfolios
                    .Select((p, i) => (Id: $"a{i}", Portfolio: p, Health: MarginCalculator.Evaluate(p, marks, config)))
                    .Where(x => x.Health.NeedsLiquidation)
                    .ToList();
                due.Sort((a, b) => MarginCalculator.CompareForLiquidation(a.Id, a.Health, b.Id, b.Health));
                var before = portfolios.Select(LiquidationProperties.Entry).ToList();
                var ledger = new InsuranceLedger(0m);

                var result = StepLiquidation.Run([.. due.Select(d => new LiquidationCandidate(d.Id, d.Portfolio))], marks, config, new LiquidationBudget(config), ledger);

                Assert.Equal(before, portfolios.Select(LiquidationProperties.Entry).ToList());
                foreach (var market in config.Markets)
                {
                    var mark = marks.All[market.Symbol];
                    var closes = result.Accounts.SelectMany(a => a.Result.Closes).Where(c => c.Market == market.Symbol).ToList();
                    if (market.LiquidationCap is { } cap)
                    {
                        Assert.True(closes.Sum(c => c.Quantity * mark) <= cap, $"{market.Symbol}: closed {closes.Sum(c => c.Quantity * mark)} > cap {cap}");
                    }

                    var batch = result.Batches.SingleOrDefault(b => b.Market == market.Symbol);
                    Assert.Equal(closes.Count > 0, batch is not null);
                    if (batch is null)
                    {
                        continue;
                    }

                    var planned = result.Plans.SelectMany(p => p.Closes).Where(c => c.Market == market.Symbol).ToList();
                    Assert.Equal(planned.Where(c => c.Buys).Sum(c => c.Quantity), batch.Buys);
                    Assert.Equal(planned.Where(c => !c.Buys).Sum(c => c.Quantity), batch.Sells);
                    var buyLimit = mark * (1m + Math.Min(market.Impact * batch.Buys * mark, market.MaxImpact));
                    var sellLimit = mark * (1m - Math.Min(market.Impact * batch.Sells * mark, market.MaxImpact));
                    foreach (var c in planned)
                    {
                        var price = batch.ExecutionPrice(c.Buys);
                        if (c.Buys)
                        {
                            Assert.True(price >= mark && price <= buyLimit, $"buy at {price}: mark {mark}, unnetted {buyLimit}");
                        }
                        else
                        {
                            Assert.True(price <= mark && price >= sellLimit, $"sell at {price}: mark {mark}, unnetted {sellLimit}");
                        }

                        if ((c.Buys ? batch.Buys : batch.Sells) <= (c.Buys ? batch.Sells : batch.Buys))
                        {
                            Assert.Equal(mark, price);
                        }
                    }
                }

                foreach (var (outcome, d) in result.Accounts.Zip(due))
                {
                    var sim = d.Portfolio.Clone();
                    outcome.ApplyTo(sim);
                    var p = d.Portfolio.Clone();
                    foreach (var close in outcome.Result.Closes)
                    {
                        Assert.Equal(close.RealizedPnl, p.ClosePosition(close.Market, close.Quantity, close.Price));
                        p.PayUsd(close.Penalty);
                    }

                    Assert.True(outcome.Deferred || !sim.HasPositions || outcome.Result.Sales.Count == 0);
                }
            });

    /// <summary>The active sessions reach every v2 event (else the properties above could pass vacuously).</summary>
    [Fact]
    public void ActiveSessionsReachEveryV2Event()
    {
        var counts = new Dictionary<ModelEventType, int>();
        var stale = 0;
        foreach (var s in Gen.Sample(SessionsWith(ActiveKnobs), 400))
        {
            var config = WithKnobs(s.Setup.Config, s.Knobs);
            var engine = Start(s, config);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                engine.Apply(StepFor(op, engine, config, ref time));
            }

            foreach (var e in engine.Events)
            {
                counts[e.Type] = counts.GetValueOrDefault(e.Type) + 1;
                stale += e.Reason == DeferReasons.Stale ? 1 : 0;
            }
        }

        var reached = string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}={c.Value}"));
        foreach (var type in new[]
        {
            ModelEventType.MarginCall, ModelEventType.Liquidation, ModelEventType.Bankruptcy, ModelEventType.Rejected,
            ModelEventType.PriceStale, ModelEventType.PriceHeld, ModelEventType.LiquidationDeferred, ModelEventType.LiquidationBatch,
        })
        {
            Assert.True(counts.GetValueOrDefault(type) >= 5, $"{type} reached {counts.GetValueOrDefault(type)} times: {reached}");
        }

        Assert.True(stale >= 1, $"no stale deferral: {reached}");
    }

    /// <summary>
    /// v3 over sessions with every v2 mechanism, auto-deleveraging and auctions of every collateral asset, and bids on
    /// running auctions: money is conserved after every step (ADL payments and auction purchases only move money), the
    /// fund and the socialized loss never go negative, and no account in auction is liquidated.
    /// </summary>
    [Property(MaxTest = 150)]
    public Property V3SessionsConserveMoney() =>
        Prop.ForAll(Arb.From(SessionsWith(ActiveKnobs)), s =>
        {
            var config = WithV3(WithKnobs(s.Setup.Config, s.Knobs));
            var engine = Start(s, config);
            AssertStep(engine, engine.Events, config);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                var events = engine.Apply(V3StepFor(op, engine, config, ref time));
                AssertStep(engine, events, config);
                Assert.True(engine.Ledger.SocializedLoss >= 0m);
            }

            var running = new HashSet<string>(StringComparer.Ordinal);
            foreach (var e in engine.Events)
            {
                Assert.False(e.Type == ModelEventType.Liquidation && running.Contains(e.Account!), $"{e.Account} liquidated while in auction");
                if (e.Type == ModelEventType.AuctionStart)
                {
                    Assert.True(running.Add(e.Account!));
                }
                else if (e.Type == ModelEventType.AuctionEnd)
                {
                    Assert.True(running.Remove(e.Account!));
                }
            }
        });

    /// <summary>
    /// v3 bounds over the same sessions: an auction take never pays more than the tab still owed (a take sells what the
    /// debt needs and no more; only the fallback at the end sells a whole lot), and auto-deleveraging never closes more of
    /// a counterparty's position in a market than it held at the start of the step.
    /// </summary>
    [Property(MaxTest = 150)]
    public Property V3TakesStayWithinTheTabAndAdlWithinPositions() =>
        Prop.ForAll(Arb.From(SessionsWith(ActiveKnobs)), s =>
        {
            var config = WithV3(WithKnobs(s.Setup.Config, s.Knobs));
            var engine = Start(s, config);
            var tabs = engine.Events.Where(e => e.Type == ModelEventType.AuctionStart)
                .GroupBy(e => e.Account!, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Last().Tab!.Value, StringComparer.Ordinal);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                var before = engine.Result().Accounts.ToDictionary(a => a.Id, a => a.Positions, StringComparer.Ordinal);
                var closed = new Dictionary<(string Account, string Market), decimal>();
                foreach (var e in engine.Apply(V3StepFor(op, engine, config, ref time)))
                {
                    switch (e.Type)
                    {
                        case ModelEventType.AuctionStart:
                            tabs[e.Account!] = e.Tab!.Value;
                            break;
                        case ModelEventType.AuctionTake:
                            var paid = e.Quantity!.Value * e.Price!.Value;
                            var owed = tabs[e.Account!];
                            Assert.True(paid <= owed + 0.000000000001m, $"{e.Account}: a take paid {paid} of a tab of {owed}");
                            tabs[e.Account!] = owed - paid;
                            break;
                        case ModelEventType.Adl:
                            var key = (e.Account!, e.Market!);
                            closed[key] = closed.GetValueOrDefault(key) + Math.Abs(e.Quantity!.Value);
                            var held = before.TryGetValue(e.Account!, out var positions) && positions.TryGetValue(e.Market!, out var p) ? Math.Abs(p.Size) : 0m;
                            Assert.True(closed[key] <= held, $"ADL closed {closed[key]} of {e.Account}'s {held} {e.Market}");
                            break;
                    }
                }
            }
        });

    /// <summary>The v3 sessions reach auto-deleveraging and every auction event.</summary>
    [Fact]
    public void V3SessionsReachAdlAndAuctions()
    {
        var counts = new Dictionary<ModelEventType, int>();
        foreach (var s in Gen.Sample(SessionsWith(ActiveKnobs), 400))
        {
            var config = WithV3(WithKnobs(s.Setup.Config, s.Knobs));
            var engine = Start(s, config);
            var time = 0m;
            foreach (var op in s.Ops)
            {
                engine.Apply(V3StepFor(op, engine, config, ref time));
            }

            foreach (var e in engine.Events)
            {
                counts[e.Type] = counts.GetValueOrDefault(e.Type) + 1;
            }
        }

        var reached = string.Join(", ", counts.OrderBy(c => c.Key).Select(c => $"{c.Key}={c.Value}"));
        foreach (var type in new[] { ModelEventType.Adl, ModelEventType.AuctionStart, ModelEventType.AuctionTake, ModelEventType.AuctionEnd })
        {
            Assert.True(counts.GetValueOrDefault(type) >= 3, $"{type} reached {counts.GetValueOrDefault(type)} times: {reached}");
        }
    }

    private static RiskConfiguration WithV3(RiskConfiguration config) =>
        RiskConfiguration.Create(
            config.Markets,
            [.. config.Collateral.Select((c, i) => c with { Auction = new AuctionSpec(1m + (i / 10m), 5m + i, 0.9m - (i / 20m), 60m, 0.5m) })],
            config.Risk with { BankruptcyResolution = BankruptcyResolutions.Adl });

    /// <summary>Like <see cref="StepFor"/>, but an op with an even percent bids on a running auction when there is one.</summary>
    private static ModelStep V3StepFor(SessionOp op, ModelEngine engine, RiskConfiguration config, ref decimal time)
    {
        var auctions = engine.Auctions.ToList();
        if (auctions.Count > 0 && op.Percent % 2 == 0)
        {
            var (target, auction) = auctions[op.Target % auctions.Count];
            return new ModelBidStep($"a{op.Account}", target, auction.Asset, Math.Max(1, Math.Abs(op.Amount)) / 100m, auction.Top * (100 + op.Percent) / 100m);
        }

        return StepFor(op, engine, config, ref time);
    }

    private static ModelEngine Start(Session s, RiskConfiguration config)
    {
        var engine = new ModelEngine(
            config,
            s.Fund,
            s.Accounts.Select((a, i) => new ModelAccountSeed($"a{i}", a.Balances, a.Positions)));
        engine.Initialize(s.Accounts[0].Marks.OrderBy(m => m.Key, StringComparer.Ordinal));
        return engine;
    }

    private static ModelStep StepFor(SessionOp op, ModelEngine engine, RiskConfiguration config, ref decimal time)
    {
        var account = $"a{op.Account}";
        var assets = new[] { Assets.Usd }.Concat(config.Collateral.Select(c => c.Asset)).ToArray();
        var market = config.Markets[op.Target % config.Markets.Count];
        engine.Marks.TryGetMark(market.Symbol, out var mark);
        var price = Math.Max(0.01m, decimal.Round(mark * (100 + op.Percent) / 100m, 2));
        switch (op.Kind)
        {
            case 0:
                time += op.Seconds;
                return new ModelPriceStep(market.Symbol, price) { Time = time, Source = Sources[op.Source % Sources.Length] };
            case 1:
                return new ModelFillStep(account, market.Symbol, op.Amount * market.LotSize, price);
            case 2:
                {
                    var asset = assets[op.Target % assets.Length];
                    return new ModelDepositStep(account, asset, Math.Abs(op.Amount) * (asset == Assets.Usd ? 10m : 0.1m));
                }

            default:
                {
                    var asset = assets[op.Target % assets.Length];
                    return new ModelWithdrawStep(account, asset, Math.Abs(op.Amount) * (asset == Assets.Usd ? 5m : 0.05m));
                }
        }
    }

    private static void AssertStep(ModelEngine engine, IReadOnlyList<ModelEvent> events, RiskConfiguration config)
    {
        var report = engine.Conservation();
        Assert.True(report.Holds, $"conservation off by {report.Difference} (actual {report.Actual}, expected {report.Expected})");
        Assert.True(engine.Ledger.Fund >= 0m);
        foreach (var market in config.Markets)
        {
            if (market.LiquidationCap is { } cap && engine.Marks.TryGetMark(market.Symbol, out var mark))
            {
                var closed = events.Where(e => e.Type == ModelEventType.Liquidation && e.Market == market.Symbol).Sum(e => e.Quantity!.Value * mark);
                Assert.True(closed <= cap, $"{market.Symbol}: closed {closed} > cap {cap} in one step");
            }
        }

        foreach (var id in engine.Queue)
        {
            Assert.Contains(engine.Events, e => e.Type == ModelEventType.LiquidationDeferred && e.Account == id && e.Reason == DeferReasons.Cap);
        }
    }

    private static decimal Pow10(int e)
    {
        var r = 1m;
        for (var i = 0; i < e; i++)
        {
            r *= 10m;
        }

        return r;
    }
}
