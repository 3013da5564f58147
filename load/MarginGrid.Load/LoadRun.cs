using System.Collections.Immutable;
using System.Diagnostics;
using HdrHistogram;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Simulation;
using Spectre.Console;

namespace MarginGrid.Load;

/// <summary>
/// One load run: opens the simulated accounts in an embedded grid, publishes the scenario's updates one step at a time
/// (each settled before the next, paced to the rate; latency is measured from the update's scheduled time, so a grid
/// that falls behind is charged for it), then runs the exhaustive baseline on the same accounts and updates and compares.
/// </summary>
public static class LoadRun
{
    internal const decimal InitialFund = 1_000_000m;

    /// <summary>The source and time of the markets' initial prices, in the grid and in the baseline.</summary>
    internal const string InitialSource = "feed-a";

    internal static readonly DateTimeOffset InitialPriceTime = TickPlan.Epoch - TimeSpan.FromMilliseconds(1);

    public static async Task<LoadReport> RunAsync(LoadOptions options, IAnsiConsole console, CancellationToken cancellationToken)
    {
        var (config, startPrices, ids, seeds, plan) = LoadSetup.Build(options, "acct", options.OracleSources, options.Lie);
        config = options.Configure?.Invoke(config) ?? config;
        var domainConfig = config.ToDomain();

        var observer = new CountingObserver();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        await using var grid = await EmbeddedGrid.StartAsync(observer, GridLogging.ToolLevel(options.Verbose), configure: o =>
        {
            o.FanOut = options.FanOut;
            o.ShardsPerMarket = options.Shards;
        }, cancellationToken: cancellationToken);
        var grains = grid.Grains;
        await grains.GetGrain<IRiskConfigGrain>(0).SetAsync(config);
        await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(InitialFund);

        var gridEvents = new List<string>[plan.Length];
        var outcomes = new GridEvent[plan.Length][];
        var initialGridEvents = new List<string>();
        var latencies = new LatencyRecorder(options.EffectiveWarmup);
        var series = new List<SeriesPoint>(plan.Length);
        TimeSpan gridTime = default;
        TimeSpan cpu = default;
        long memoryAfterOpen = 0;
        long decided = 0;
        long stepEvents = 0;

        await Progress(console, options.Plain, async progress =>
        {
            var opening = progress("open accounts", ids.Length);
            foreach (var batch in Enumerable.Range(0, ids.Length).Chunk(2_000))
            {
                await Task.WhenAll(batch.Select(i => grains.GetGrain<IAccountGrain>(ids[i]).OpenAsync(seeds[i])));
                opening(batch.Length);
            }

            foreach (var (symbol, price) in startPrices)
            {
                await grains.GetGrain<IMarketGrain>(symbol).PublishPriceAsync(
                    new PriceUpdate(price, InitialSource, InitialPriceTime) { Evaluate = false });
            }

            var initial = await grains.GetGrain<ILiquidationCoordinatorGrain>(0).EvaluateAccountsAsync("initial", ids);
            initialGridEvents.AddRange(initial.Events.Select(EventKeys.Of));
            memoryAfterOpen = GC.GetTotalMemory(forceFullCollection: true);

            var ticking = progress($"{TickPlan.Name(options.Scenario)}: {plan.Length:N0} updates", plan.Length);
            var process = Process.GetCurrentProcess();
            var cpuStart = process.TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var gate = new Lock();
            var steps = new HashSet<string>(StringComparer.Ordinal);
            void Record(PlannedTick tick, StepOutcome outcome)
            {
                lock (gate)
                {
                    var latency = clock.Elapsed - tick.At;
                    latencies.Record(
                        tick.At,
                        latency,
                        outcome.Events.Any(e => e.Type == GridEventType.MarginCall),
                        outcome.Events.Any(e => e.Type is GridEventType.Liquidation or GridEventType.CollateralLiquidation or GridEventType.Bankruptcy));

                    gridEvents[tick.Index] = [.. outcome.Events.Select(EventKeys.Of)];
                    outcomes[tick.Index] = outcome.Events.ToArray();
                    if (steps.Add(outcome.Step))
                    {
                        decided += outcome.Evaluated; // conflated updates share their step's outcome: count it once
                        stepEvents += outcome.Events.Length;
                    }
                    series.Add(new SeriesPoint(
                        clock.Elapsed.TotalSeconds,
                        latency.TotalMilliseconds,
                        [.. Enum.GetValues<RiskStatus>().Select(observer.Accounts)],
                        observer.Fund.InsuranceFund,
                        observer.Fund.SocializedLoss));
                    ticking(1);
                }
            }

            async Task PublishAsync(PlannedTick tick) =>
                Record(tick, await grains.GetGrain<IMarketGrain>(tick.Market).PublishPriceAsync(new PriceUpdate(tick.Price, tick.Source, tick.Timestamp)));

            await FeedAsync(plan, options.Feed, clock, PublishAsync, cancellationToken);
            gridTime = clock.Elapsed;
            cpu = process.TotalProcessorTime - cpuStart;
        });

        var (_, fund, conservation) = await GridAudit.ReadAsync(grains, ids, InitialFund);

        BaselineResult? baseline = null;
        var marks = new IReadOnlyDictionary<string, decimal>[plan.Length];
        if (options.Baseline)
        {
            baseline = await Progress(console, options.Plain, progress =>
                Task.FromResult(RunBaseline(domainConfig, ids, seeds, startPrices, plan, initialGridEvents, gridEvents, marks, progress)));
        }

        var gridEventCount = initialGridEvents.Count + stepEvents;
        return latencies.Into(new LoadReport
        {
            Scenario = TickPlan.Name(options.Scenario),
            FanOut = options.FanOut.ToString().ToLowerInvariant(),
            Accounts = options.Accounts,
            Markets = options.Markets,
            Shards = options.Shards,
            Seed = options.Seed,
            RequestedRate = options.Rate,
            Updates = plan.Length,
            GridSeconds = gridTime.TotalSeconds,
            UpdatesPerSecond = plan.Length / gridTime.TotalSeconds,
            AccountTicksDecided = (long)options.Accounts * plan.Length,
            HolderTicksDecided = decided,
            AccountEvaluations = observer.Evaluations,
            EvaluationsPerSecond = observer.Evaluations / gridTime.TotalSeconds,
            CoveragePerSecond = (double)options.Accounts * plan.Length / gridTime.TotalSeconds,
            CpuCoresUsed = cpu.TotalSeconds / gridTime.TotalSeconds,
            MemoryPerAccountBytes = (memoryAfterOpen - memoryBefore) / (double)options.Accounts,
            MarginCalls = observer.MarginCalls,
            Liquidations = observer.Liquidations,
            CollateralSales = observer.CollateralSales,
            Bankruptcies = observer.Bankruptcies,
            InsuranceFundStart = InitialFund,
            InsuranceFund = fund.InsuranceFund,
            BadDebt = fund.SocializedLoss,
            ConservationHolds = conservation.Holds,
            ConservationDifference = conservation.Difference,
            GridEvents = gridEventCount,
            EvaluationFailures = observer.EvaluationFailures,
            Baseline = baseline,
            Mechanics = baseline is null ? null : Mechanics.Of(outcomes, marks, series),
            Series = series,
        });
    }

    private static BaselineResult RunBaseline(
        RiskConfiguration config,
        ImmutableArray<string> ids,
        AccountSeed[] seeds,
        IReadOnlyDictionary<string, decimal> startPrices,
        ImmutableArray<PlannedTick> plan,
        List<string> initialGridEvents,
        List<string>[] gridEvents,
        IReadOnlyDictionary<string, decimal>[] marks,
        Func<string, int, Action<int>> progress)
    {
        var engine = new ReferenceEngine(config, [.. ids.Select((id, i) => ReferenceEngine.Seed(id, seeds[i]))], InitialFund, InitialPriceTime);
        var misses = 0L;
        var extras = 0L;
        var examples = new List<string>();
        Compare(engine.Initialize(startPrices, InitialSource), initialGridEvents, "initial");
        var evaluationsBefore = engine.Evaluations;
        var step = progress("sequential baseline: the domain's step code, every holder (1 thread)", plan.Length);
        var clock = Stopwatch.StartNew();
        var expected = new List<string>[plan.Length];
        foreach (var tick in plan)
        {
            expected[tick.Index] = engine.Step(tick);
            marks[tick.Index] = engine.LastEvents.Any(e => e.Type == Domain.ModelEventType.Liquidation)
                ? new Dictionary<string, decimal>(((MarkBook)engine.Engine.Marks).All, StringComparer.Ordinal)
                : ImmutableDictionary<string, decimal>.Empty;
            step(1);
        }

        var elapsed = clock.Elapsed;
        for (var k = 0; k < plan.Length; k++)
        {
            Compare(expected[k], gridEvents[k], $"update {k} ({plan[k].Market} {plan[k].Price})");
        }

        var evaluations = engine.Evaluations - evaluationsBefore;
        return new BaselineResult(
            elapsed.TotalSeconds,
            evaluations,
            evaluations / elapsed.TotalSeconds,
            misses,
            extras,
            examples,
            engine.Ledger.Fund,
            engine.Ledger.SocializedLoss)
        {
            LiquidationCloses = engine.Engine.LiquidationCloses,
            LiquidationSeconds = engine.Engine.LiquidationTime.TotalSeconds,
        };

        void Compare(List<string> want, List<string> got, string where)
        {
            var (missed, extra) = EventKeys.Differences(want, got);
            if (missed + extra == 0)
            {
                return;
            }

            misses += missed;
            extras += extra;
            var missing = want.Except(got).ToList();
            if (missing.Count == 0 && extra == 0)
            {
                missing.Add("(order differs)");
            }

            if (examples.Count < 10)
            {
                examples.Add($"{where}: missing [{string.Join("; ", missing.Take(3))}] extra [{string.Join("; ", got.Except(want).Take(3))}]");
            }
        }
    }

    /// <summary>
    /// Publishes the plan on schedule: one update at a time, each settled before the next (<see cref="FeedMode.Sequential"/>),
    /// or per market without waiting for the previous update (<see cref="FeedMode.PerMarket"/>: the grid conflates).
    /// </summary>
    internal static async Task FeedAsync(
        ImmutableArray<PlannedTick> plan, FeedMode feed, Stopwatch clock, Func<PlannedTick, Task> publish, CancellationToken cancellationToken)
    {
        async Task WaitUntilAsync(TimeSpan at)
        {
            var wait = at - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellationToken);
            }
        }

        if (feed == FeedMode.Sequential)
        {
            foreach (var tick in plan)
            {
                await WaitUntilAsync(tick.At);
                await publish(tick);
            }

            return;
        }

        await Task.WhenAll(plan.GroupBy(t => t.Market).Select(async market =>
        {
            var published = new List<Task>();
            foreach (var tick in market)
            {
                await WaitUntilAsync(tick.At);
                published.Add(publish(tick)); // not awaited: the next price goes out on time, the grid conflates
            }

            await Task.WhenAll(published);
        }));
    }

    internal static async Task<T> Progress<T>(IAnsiConsole console, bool plain, Func<Func<string, int, Action<int>>, Task<T>> body)
    {
        if (plain || !console.Profile.Capabilities.Interactive)
        {
            return await body((name, total) =>
            {
                console.WriteLine($"{name} …");
                return _ => { };
            });
        }

        return await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(ctx => body((name, total) =>
            {
                var task = ctx.AddTask(name, maxValue: total);
                return n => task.Increment(n);
            }));
    }

    internal static Task Progress(IAnsiConsole console, bool plain, Func<Func<string, int, Action<int>>, Task> body) =>
        Progress<bool>(console, plain, async p =>
        {
            await body(p);
            return true;
        });
}

/// <summary>
/// What the v2 mechanisms did in a grid run (the <c>--compare</c> figures): closes per step, slippage against the marks
/// (the baseline's, which the zero-miss check proves are the grid's), deferrals, guarded price steps, the fund's low.
/// </summary>
public sealed record Mechanics(
    long PeakClosesPerStep,
    decimal PeakClosedNotionalPerStep,
    decimal ClosedNotional,
    decimal Slippage,
    long Deferred,
    long PriceStale,
    long PriceHeld,
    decimal InsuranceFundLow)
{
    internal static Mechanics Of(GridEvent[][] steps, IReadOnlyDictionary<string, decimal>[] marks, IReadOnlyList<SeriesPoint> series)
    {
        long peak = 0, deferred = 0, stale = 0, held = 0;
        decimal peakNotional = 0m, notional = 0m, slippage = 0m;
        var seen = new HashSet<GridEvent[]>(ReferenceEqualityComparer.Instance);
        for (var k = 0; k < steps.Length; k++)
        {
            if (steps[k] is not { } events || !seen.Add(events))
            {
                continue;
            }

            long closes = 0;
            var stepNotional = 0m;
            foreach (var e in events)
            {
                switch (e.Type)
                {
                    case GridEventType.Liquidation:
                        closes++;
                        if (marks[k].TryGetValue(e.Market!, out var mark))
                        {
                            stepNotional += e.Quantity!.Value * mark;
                            slippage += e.Quantity!.Value * Math.Abs(e.Price!.Value - mark);
                        }

                        break;
                    case GridEventType.LiquidationDeferred:
                        deferred++;
                        break;
                    case GridEventType.PriceStale:
                        stale++;
                        break;
                    case GridEventType.PriceHeld:
                        held++;
                        break;
                }
            }

            peak = Math.Max(peak, closes);
            peakNotional = Math.Max(peakNotional, stepNotional);
            notional += stepNotional;
        }

        var low = series.Count == 0 ? 0m : series.Min(p => p.InsuranceFund);
        return new Mechanics(peak, decimal.Round(peakNotional, 2), decimal.Round(notional, 2), decimal.Round(slippage, 2), deferred, stale, held, low);
    }
}
