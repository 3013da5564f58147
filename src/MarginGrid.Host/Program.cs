using System.CommandLine;
using MarginGrid.Host.Demo;
using MarginGrid.Host.Scenarios;
using MarginGrid.Host.Silo;

namespace MarginGrid.Host;

public static class Program
{
    public static Task<int> Main(string[] args) => BuildCommandLine().Parse(args).InvokeAsync();

    public static RootCommand BuildCommandLine()
    {
        var root = new RootCommand("MarginGrid: a real-time margin and liquidation engine on Orleans.");
        root.Subcommands.Add(ReplayCommand());
        root.Subcommands.Add(DemoCommand());
        root.Subcommands.Add(SiloCommand.Silo());
        root.Subcommands.Add(SiloCommand.Db());
        return root;
    }

    private static Command ReplayCommand()
    {
        var scenario = new Argument<FileInfo>("scenario") { Description = "Scenario file (MARGIN-MODEL.md replay format)." };
        var output = new Option<FileInfo?>("--out") { Description = "Write the result here instead of stdout." };
        var verbose = VerboseOption();
        var command = new Command("replay", "Replay a scenario file through the grains of an embedded silo.") { scenario, output, verbose };
        command.SetAction((parse, ct) => ReplayCli.RunAsync(parse.GetValue(scenario)!, parse.GetValue(output), ct, parse.GetValue(verbose)));
        return command;
    }

    private static Command DemoCommand()
    {
        var defaults = new DemoOptions();
        var accounts = new Option<int>("--accounts") { Description = "Simulated accounts.", DefaultValueFactory = _ => defaults.Accounts };
        var markets = new Option<int>("--markets") { Description = "Markets (1-8).", DefaultValueFactory = _ => defaults.Markets };
        var duration = new Option<double>("--duration") { Description = "Seconds of simulated trading.", DefaultValueFactory = _ => defaults.Duration.TotalSeconds };
        var seed = new Option<int>("--seed") { Description = "Random seed (portfolios and price path).", DefaultValueFactory = _ => defaults.Seed };
        var plain = new Option<bool>("--plain") { Description = "No live view: print progress lines (for logs and CI)." };
        var output = new Option<string>("--out") { Description = "Folder for the report (report.html, PNG plots).", DefaultValueFactory = _ => defaults.Output };
        var verbose = VerboseOption();
        var command = new Command("demo", "Run an embedded one-silo grid with simulated accounts through a crash.")
        {
            accounts, markets, duration, seed, plain, output, verbose,
        };
        command.SetAction((parse, ct) => DemoRunner.RunAsync(
            new DemoOptions
            {
                Accounts = parse.GetValue(accounts),
                Markets = parse.GetValue(markets),
                Duration = TimeSpan.FromSeconds(parse.GetValue(duration)),
                Seed = parse.GetValue(seed),
                Plain = parse.GetValue(plain),
                Output = parse.GetValue(output)!,
                Verbose = parse.GetValue(verbose),
            },
            ct));
        return command;
    }

    /// <summary>The tools log warnings and errors only; <c>--verbose</c> (or <c>Logging__LogLevel__*</c>) brings the rest back.</summary>
    private static Option<bool> VerboseOption() =>
        new("--verbose") { Description = "Log at information level too (default: warnings and errors only)." };
}
