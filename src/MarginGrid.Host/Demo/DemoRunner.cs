using MarginGrid.Grains;
using System.Collections.Immutable;
using System.Diagnostics;
using MarginGrid.Simulation;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MarginGrid.Host.Demo;

/// <summary>
/// `margingrid demo`: an embedded one-silo grid, seeded simulated accounts, a price path with a crash, a live view,
/// and a summary that ends with the money-conservation check (exit 1 if it fails).
/// </summary>
public static class DemoRunner
{
    private const decimal InitialFund = 250_000m;

    public static async Task<int> RunAsync(DemoOptions options, CancellationToken cancellationToken)
    {
        if (options.Validate() is { } error)
        {
            await Console.Error.WriteLineAsync($"margingrid demo: {error}");
            return 2;
        }

        var console = AnsiConsole.Console;
        var live = !options.Plain && console.Profile.Capabilities.Interactive && !Console.IsOutputRedirected;
        var observer = new CountingObserver();
        await using var grid = await EmbeddedGrid.StartAsync(observer, GridLogging.ToolLevel(options.Verbose), cancellationToken: cancellationToken);
        var grains = grid.Grains;
        var time = TimeProvider.System;

        var config = SimulatedMarkets.Config(options.Markets);
        var rng = new Random(options.Seed);
        var startPrices = SimulatedMarkets.All.Take(options.Markets).ToDictionary(m => m.Symbol, m => m.Price, StringComparer.Ordinal);
        await grains.GetGrain<IRiskConfigGrain>(0).SetAsync(config);
        await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(InitialFund);

        var ids = Enumerable.Range(0, options.Accounts).Select(i => $"acct-{i:D7}").ToImmutableArray();
        var seeds = ids.Select(_ => PortfolioGenerator.Generate(rng, config, startPrices)).ToArray();
        var opening = Stopwatch.StartNew();
        console.MarkupLine($"[grey]Opening {options.Accounts:N0} accounts in {options.Markets} markets (seed {options.Seed})…[/]");
        foreach (var batch in Enumerable.Range(0, ids.Length).Chunk(2_000))
        {
            await Task.WhenAll(batch.Select(i => grains.GetGrain<IAccountGrain>(ids[i]).OpenAsync(seeds[i])));
        }

        foreach (var (symbol, price) in startPrices)
        {
            await grains.GetGrain<IMarketGrain>(symbol).PublishPriceAsync(new PriceUpdate(price, "demo", time.GetUtcNow()) { Evaluate = false });
        }

        await grains.GetGrain<ILiquidationCoordinatorGrain>(0).EvaluateAccountsAsync("initial", ids);
        console.MarkupLine($"[grey]Opened and evaluated in {opening.Elapsed.TotalSeconds:F1} s. Trading for {options.Duration.TotalSeconds:F0} s; the crash starts at 35 %.[/]");

        var points = (int)(options.Duration.TotalSeconds * options.TicksPerSecondPerMarket);
        var paths = PricePaths(startPrices, points, options.Seed);
        var marks = new System.Collections.Concurrent.ConcurrentDictionary<string, decimal>(startPrices, StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        var drivers = paths.Select(p => DriveMarketAsync(grains, time, p.Key, p.Value, options, clock, marks, cancellationToken)).ToArray();
        var trading = Task.WhenAll(drivers);
        var series = new List<RunSample>();
        var sampling = SampleAsync(observer, clock, trading, series, cancellationToken);

        if (live)
        {
            await console.Live(Render(observer, options, clock, marks))
                .AutoClear(false)
                .StartAsync(async ctx =>
                {
                    while (!trading.IsCompleted)
                    {
                        await Task.WhenAny(trading, Task.Delay(250, cancellationToken));
                        ctx.UpdateTarget(Render(observer, options, clock, marks));
                    }
                });
        }
        else
        {
            while (!trading.IsCompleted)
            {
                await Task.WhenAny(trading, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken));
                console.WriteLine(Line(observer, clock));
            }
        }

        await trading;
        var trade = clock.Elapsed;
        await sampling;
        series.Add(Sample(observer, clock));
        return await SummarizeAsync(console, grains, ids, observer, options, trade, series);
    }

    /// <summary>Accounts by status and the fund, four times a second while trading runs: what the chart and the plots show.</summary>
    private static async Task SampleAsync(CountingObserver observer, Stopwatch clock, Task trading, List<RunSample> series, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        series.Add(Sample(observer, clock));
        while (!trading.IsCompleted && await timer.WaitForNextTickAsync(cancellationToken))
        {
            series.Add(Sample(observer, clock));
        }
    }

    private static RunSample Sample(CountingObserver o, Stopwatch clock) => new(
        clock.Elapsed.TotalSeconds,
        [.. Enum.GetValues<RiskStatus>().Select(o.Accounts)],
        o.Fund.InsuranceFund,
        o.Fund.SocializedLoss);

    /// <summary>
    /// One seeded path per market, seeded by the run's seed and a stable hash of the symbol (string.GetHashCode changes
    /// per process): the same --seed gives the same price path in every run.
    /// </summary>
    internal static Dictionary<string, PricePath> PricePaths(IReadOnlyDictionary<string, decimal> startPrices, int points, int seed) =>
        startPrices.ToDictionary(
            p => p.Key,
            p => new PricePath(p.Value, points, new Random(seed ^ (int)MarginGrid.Grains.StableHash.Fnv1a(p.Key))),
            StringComparer.Ordinal);

    private static async Task DriveMarketAsync(
        IGrainFactory grains,
        TimeProvider time,
        string market,
        PricePath path,
        DemoOptions options,
        Stopwatch clock,
        System.Collections.Concurrent.ConcurrentDictionary<string, decimal> marks,
        CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IMarketGrain>(market);
        var interval = TimeSpan.FromSeconds(1.0 / options.TicksPerSecondPerMarket);
        using var timer = new PeriodicTimer(interval, time);
        var last = -1;
        while (clock.Elapsed < options.Duration && await timer.WaitForNextTickAsync(cancellationToken))
        {
            // Conflate: if the grid fell behind, publish the newest point of the path, not every missed one.
            var index = (int)(clock.Elapsed.TotalSeconds * options.TicksPerSecondPerMarket);
            if (index == last)
            {
                continue;
            }

            last = index;
            var price = path.At(index);
            marks[market] = price;
            await grain.PublishPriceAsync(new PriceUpdate(price, "demo", time.GetUtcNow()));
        }
    }

    private static IRenderable Render(
        CountingObserver o, DemoOptions options, Stopwatch clock,
        System.Collections.Concurrent.ConcurrentDictionary<string, decimal> marks)
    {
        var seconds = Math.Max(0.001, clock.Elapsed.TotalSeconds);
        var stats = new Table().Border(TableBorder.Rounded).Title($"[bold]MarginGrid demo[/] — {clock.Elapsed.TotalSeconds:F0}/{options.Duration.TotalSeconds:F0} s")
            .AddColumn("metric").AddColumn(new TableColumn("value").RightAligned());
        stats.AddRow("ticks/s", $"{o.Ticks / seconds:N0}");
        stats.AddRow("account evaluations/s", $"{o.Evaluations / seconds:N0}");
        stats.AddRow("tick→decision mean / max", $"{o.MeanDecision.TotalMilliseconds:F1} / {o.MaxDecision.TotalMilliseconds:F1} ms");
        stats.AddRow("[green]Healthy[/]", $"{o.Accounts(RiskStatus.Healthy):N0}");
        stats.AddRow("[yellow]MarginCall[/]", $"{o.Accounts(RiskStatus.MarginCall):N0}");
        stats.AddRow("[red]Liquidatable[/]", $"{o.Accounts(RiskStatus.Liquidatable):N0}");
        stats.AddRow("[maroon]Bankrupt[/]", $"{o.Accounts(RiskStatus.Bankrupt):N0}");
        stats.AddRow("margin calls", $"{o.MarginCalls:N0}");
        stats.AddRow("liquidations (closes)", $"{o.Liquidations:N0}");
        stats.AddRow("collateral sales", $"{o.CollateralSales:N0}");
        stats.AddRow("bankruptcies", $"{o.Bankruptcies:N0}");
        stats.AddRow("insurance fund", $"{o.Fund.InsuranceFund:N2} USD");
        stats.AddRow("socialized loss", $"{o.Fund.SocializedLoss:N2} USD");

        var prices = new Table().Border(TableBorder.Rounded).Title("marks").AddColumn("market").AddColumn(new TableColumn("price").RightAligned());
        foreach (var (market, price) in marks.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            prices.AddRow(market, price.ToString("N4", System.Globalization.CultureInfo.InvariantCulture));
        }

        return new Columns(stats, prices);
    }

    private static string Line(CountingObserver o, Stopwatch clock) =>
        $"[{clock.Elapsed.TotalSeconds,5:F1}s] ticks={o.Ticks} evaluations={o.Evaluations} marginCalls={o.MarginCalls} " +
        $"liquidations={o.Liquidations} bankruptcies={o.Bankruptcies} fund={o.Fund.InsuranceFund:F2} socialized={o.Fund.SocializedLoss:F2}";

    private static async Task<int> SummarizeAsync(
        IAnsiConsole console, IGrainFactory grains, ImmutableArray<string> ids, CountingObserver o, DemoOptions options, TimeSpan trade,
        IReadOnlyList<RunSample> series)
    {
        var (views, fund, conservation) = await GridAudit.ReadAsync(grains, ids, InitialFund);
        var byStatus = views.GroupBy(v => v.Status).ToDictionary(g => g.Key, g => g.Count());
        var rows = new List<(string Name, string Value)>
        {
            ("accounts / markets / seed", $"{options.Accounts:N0} / {options.Markets} / {options.Seed}"),
            ("trading time", $"{trade.TotalSeconds:F1} s"),
            ("ticks settled", $"{o.Ticks:N0} ({o.Ticks / trade.TotalSeconds:N0}/s)"),
            ("account evaluations", $"{o.Evaluations:N0} ({o.Evaluations / trade.TotalSeconds:N0}/s)"),
            ("tick→decision mean / max", $"{o.MeanDecision.TotalMilliseconds:F1} / {o.MaxDecision.TotalMilliseconds:F1} ms"),
        };
        rows.AddRange(Enum.GetValues<RiskStatus>().Select(status => ($"accounts {status} at the end", $"{byStatus.GetValueOrDefault(status):N0}")));
        rows.Add(("margin calls", $"{o.MarginCalls:N0}"));
        rows.Add(("liquidations (closes)", $"{o.Liquidations:N0}"));
        rows.Add(("collateral sales", $"{o.CollateralSales:N0}"));
        rows.Add(("bankruptcies", $"{o.Bankruptcies:N0}"));
        rows.Add(("insurance fund", $"{InitialFund:N2} → {fund.InsuranceFund:N2} USD"));
        rows.Add(("socialized loss", $"{fund.SocializedLoss:N2} USD"));
        var conservationText = conservation.Holds
            ? $"holds ({conservation.Actual:N6} = {conservation.Expected:N6})"
            : $"FAILS (actual {conservation.Actual}, expected {conservation.Expected}, diff {conservation.Difference})";

        var summary = new Table().Border(TableBorder.Rounded).Title("[bold]summary[/]").HideHeaders()
            .AddColumn("what").AddColumn(new TableColumn("value").RightAligned());
        foreach (var (name, value) in rows)
        {
            summary.AddRow(Markup.Escape(name), Markup.Escape(value));
        }

        summary.AddRow(
            "conservation (Σ USD + fund − socialized)",
            $"[{(conservation.Holds ? "green" : "red")}]{Markup.Escape(conservationText)}[/]");
        console.Write(summary);
        console.Write(DemoReport.Chart(series, InitialFund));

        rows.Add(("conservation (Σ USD + fund − socialized)", conservationText));
        var written = DemoReport.Write(options, rows, series);
        console.MarkupLine($"[grey]Report: {Markup.Escape(written)} (with {RunPlots.AccountsByStatusFile} and {RunPlots.InsuranceFundFile})[/]");
        return conservation.Holds ? 0 : 1;
    }
}
