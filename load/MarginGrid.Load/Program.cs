using System.CommandLine;
using System.Globalization;
using MarginGrid.Client;
using MarginGrid.Grains;
using Spectre.Console;

namespace MarginGrid.Load;

public static class Program
{
    public static Task<int> Main(string[] args) => Command().Parse(args).InvokeAsync();

    public static RootCommand Command()
    {
        var d = new LoadOptions();
        var scenario = new Option<string>("--scenario") { Description = "calm | crash-2020-03-12 | wick | oracle-attack | cascade", DefaultValueFactory = _ => TickPlan.Name(d.Scenario) };
        var accounts = new Option<int>("--accounts") { Description = "Simulated accounts (1k … 1M).", DefaultValueFactory = _ => d.Accounts };
        var markets = new Option<int>("--markets") { Description = "Markets.", DefaultValueFactory = _ => d.Markets };
        var duration = new Option<double>("--duration") { Description = "Seconds of price updates.", DefaultValueFactory = _ => d.Duration.TotalSeconds };
        var rate = new Option<double>("--rate") { Description = "Price updates per second, all markets together.", DefaultValueFactory = _ => d.Rate };
        var seed = new Option<int>("--seed") { Description = "Seed of portfolios and prices.", DefaultValueFactory = _ => d.Seed };
        var fanOut = new Option<string>("--fanout") { Description = "gated | naive", DefaultValueFactory = _ => d.FanOut.ToString().ToLowerInvariant() };
        var shards = new Option<int>("--shards") { Description = "Holder shards per market.", DefaultValueFactory = _ => d.Shards };
        var warmup = new Option<double?>("--warmup") { Description = "Seconds left out of the steady-state tick→decision and tick→margin-call figures (default: min(5, 25 % of --duration))." };
        var quiet = new Option<double>("--quiet") { Description = "With --target: seconds with nothing sent between opening the accounts and the scenario (a quiet market before the crash; 0)." };
        var feed = new Option<string>("--feed") { Description = "sequential (each update settled before the next; needed for the zero-miss check) | per-market (every market on its own schedule; the grid conflates)", DefaultValueFactory = _ => "sequential" };
        var target = new Option<string?>("--target") { Description = "A running cluster: comma-separated HTTP API base addresses (keys from MarginGrid__Load__{Admin,Feed,Trader,Reader}Key), or orleans://host:port,host:port[?cluster-id=ID&service-id=ID] for its gateways through the native client (MarginGrid.Client); default: an embedded grid in this process." };
        var runId = new Option<string?>("--run-id") { Description = "Prefix of the account ids on a running cluster (default: load-<UTC time>)." };
        var noBaseline = new Option<bool>("--no-baseline") { Description = "Skip the exhaustive baseline and the zero-miss check." };
        var output = new Option<string>("--out") { Description = "Folder for report.json, report.md and the plots.", DefaultValueFactory = _ => d.Output };
        var plain = new Option<bool>("--plain") { Description = "No progress bars." };
        var verbose = new Option<bool>("--verbose") { Description = "The embedded grid logs at information level too (default: warnings and errors only)." };
        var compare = new Option<string?>("--compare") { Description = "v2: the oracle guard, netting with impact and caps with and without, side by side (compare-v2.md/.json); v3: a crash with fixed-discount sales, auctions with keepers, ADL (compare-v3.md/.json) — instead of a load run." };
        var compareOn = new Option<string>("--compare-on") { Description = "model (ModelEngine, sequential) | grid (the embedded grid, each variant checked against ModelEngine)", DefaultValueFactory = _ => d.CompareEngine };
        var keepers = new Option<int>("--keepers") { Description = "--compare v3: simulated keepers bidding in the auctions, each with its own reaction time and required discount (seeded)", DefaultValueFactory = _ => d.Keepers };
        var failOn = new Option<string[]>("--fail-on") { Description = "name=value thresholds, e.g. margin-call-p99-ms=10 coverage-ratio=2", AllowMultipleArgumentsPerToken = true };
        var root = new RootCommand("MarginGrid load generator: simulated accounts through a price scenario, measured against an exhaustive baseline.")
        {
            scenario, accounts, markets, duration, rate, seed, fanOut, shards, warmup, quiet, feed, target, runId, noBaseline, output, plain, verbose, compare, compareOn, keepers, failOn,
        };
        root.SetAction(async (parse, ct) =>
        {
            LoadOptions options;
            try
            {
                options = new LoadOptions
                {
                    Scenario = TickPlan.Parse(parse.GetValue(scenario)!),
                    Accounts = parse.GetValue(accounts),
                    Markets = parse.GetValue(markets),
                    Duration = TimeSpan.FromSeconds(parse.GetValue(duration)),
                    Rate = parse.GetValue(rate),
                    Seed = parse.GetValue(seed),
                    FanOut = parse.GetValue(fanOut) switch
                    {
                        "gated" => FanOutMode.Gated,
                        "naive" => FanOutMode.Naive,
                        var other => throw new ArgumentException($"--fanout must be gated or naive, got '{other}'"),
                    },
                    Shards = parse.GetValue(shards),
                    Warmup = parse.GetValue(warmup) is { } w ? TimeSpan.FromSeconds(w) : null,
                    Baseline = !parse.GetValue(noBaseline),
                    Quiet = parse.GetValue(quiet) is var q && q is >= 0 and <= 3600
                        ? TimeSpan.FromSeconds(q)
                        : throw new ArgumentException($"--quiet must be between 0 and 3600 seconds, got {q}"),
                    Targets = ParseTargets(parse.GetValue(target)),
                    Orleans = ParseOrleansTarget(parse.GetValue(target)),
                    Feed = parse.GetValue(feed) switch
                    {
                        "sequential" => FeedMode.Sequential,
                        "per-market" => FeedMode.PerMarket,
                        var other => throw new ArgumentException($"--feed must be sequential or per-market, got '{other}'"),
                    },
                    Output = parse.GetValue(output)!,
                    Plain = parse.GetValue(plain),
                    Verbose = parse.GetValue(verbose),
                    FailOn = ParseThresholds(parse.GetValue(failOn) ?? []),
                    Compare = parse.GetValue(compare),
                    CompareEngine = parse.GetValue(compareOn)!,
                    Keepers = parse.GetValue(keepers),
                };
            }
            catch (ArgumentException e)
            {
                await Console.Error.WriteLineAsync($"margingrid-load: {e.Message}");
                return 2;
            }

            if (options.Validate() is { } error)
            {
                await Console.Error.WriteLineAsync($"margingrid-load: {error}");
                return 2;
            }

            var console = AnsiConsole.Console;
            if (parse.GetValue(runId) is { Length: > 0 } id)
            {
                options = options with { RunId = id };
            }

            if (options.Compare is not null)
            {
                var comparison = await CompareRun.RunAsync(options, console, ct);
                Directory.CreateDirectory(options.Output);
                var name = $"compare-{comparison.Set}";
                await File.WriteAllTextAsync(Path.Combine(options.Output, name + ".json"), comparison.ToJson(), ct);
                var table = comparison.ToMarkdown();
                await File.WriteAllTextAsync(Path.Combine(options.Output, name + ".md"), table, ct);
                console.WriteLine(table);
                console.WriteLine($"Wrote {Path.Combine(options.Output, name + ".md")} and {name}.json.");
                return comparison.Variants.All(v => v.ConservationHolds) ? 0 : 1;
            }

            var run = options.IsRemote ? RemoteRun.RunAsync(options, console, ct) : LoadRun.RunAsync(options, console, ct);
            var report = (await run).Checked(options.FailOn);
            Directory.CreateDirectory(options.Output);
            await File.WriteAllTextAsync(Path.Combine(options.Output, "report.json"), report.ToJson(), ct);
            var markdown = report.ToMarkdown();
            await File.WriteAllTextAsync(Path.Combine(options.Output, "report.md"), markdown, ct);
            var plots = Plots.Write(report, options.Output);
            console.WriteLine(markdown);
            console.WriteLine($"Wrote {Path.Combine(options.Output, "report.json")}, report.md and {plots.Count} plots.");
            return report.Failures.Count == 0 ? 0 : 1;
        });
        return root;
    }

    private static bool IsOrleansTarget(string? text) =>
        text?.TrimStart().StartsWith(MarginGridClientOptions.Scheme + "://", StringComparison.OrdinalIgnoreCase) == true;

    private static MarginGridClientOptions? ParseOrleansTarget(string? text)
    {
        if (!IsOrleansTarget(text))
        {
            return null;
        }

        try
        {
            return MarginGridClientOptions.Parse(text!.Trim());
        }
        catch (FormatException e)
        {
            throw new ArgumentException($"--target: {e.Message}", e);
        }
    }

    private static Uri[] ParseTargets(string? text) => IsOrleansTarget(text) ? [] :
        [.. (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(t =>
            Uri.TryCreate(t.EndsWith('/') ? t : t + "/", UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                ? uri
                : throw new ArgumentException($"--target expects http(s) base addresses or one orleans://host:port,… target, got '{t}'"))];

    private static Dictionary<string, double> ParseThresholds(string[] items)
    {
        var thresholds = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var item in items.SelectMany(i => i.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var parts = item.Split('=', 2);
            if (parts.Length != 2 || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                throw new ArgumentException($"--fail-on expects name=value, got '{item}'");
            }

            thresholds[parts[0]] = value;
        }

        return thresholds;
    }
}
