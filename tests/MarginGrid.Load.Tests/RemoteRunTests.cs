using System.Security.Cryptography;
using System.Text;
using Spectre.Console;
using Xunit;

namespace MarginGrid.Load.Tests;

/// <summary>
/// The load generator against a running silo through its HTTP API (what compose's load profile does): a real
/// `margingrid silo` process with API keys, accounts opened and prices published over HTTP, money conserved.
/// </summary>
public sealed class RemoteRunTests
{
    private static readonly string[] Roles = ["admin", "feed", "trader", "reader"];

    [Fact]
    public async Task The_load_drives_a_running_silo_through_its_http_api_and_money_is_conserved()
    {
        var keys = Roles.ToDictionary(r => r, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        var environment = new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
            ["MarginGrid__RateLimit__PermitsPerSecond"] = "10000",
            ["MarginGrid__ApiKeys__trader__Accounts"] = "remote-*",
        };
        foreach (var (role, key) in keys)
        {
            environment[$"MarginGrid__ApiKeys__{role}__Hash"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
            environment[$"MarginGrid__ApiKeys__{role}__Role"] = role;
        }

        await using var silo = await SiloProcess.StartAsync("load-tests", null, environment);
        var target = silo.BaseAddress;
        var options = new LoadOptions
        {
            Scenario = LoadScenario.Wick,
            Accounts = 200,
            Markets = 2,
            Duration = TimeSpan.FromSeconds(2),
            Rate = 100,
            Baseline = false,
            Plain = true,
            Targets = [target],
            Keys = new LoadKeys(keys["admin"], keys["feed"], keys["trader"], keys["reader"]),
            RunId = "remote",
        };
        Assert.Null(options.Validate());
        using var console = new StringWriter();
        LoadReport report;
        try
        {
            report = await RemoteRun.RunAsync(options, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console) }), CancellationToken.None);
        }
        catch (HttpRequestException e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\nsilo output:\n{silo.Output}");
        }

        Assert.Equal(target.ToString(), report.Target);
        Assert.Equal(report.Updates, report.TickDecision.Count);
        Assert.Equal(1_000_000m, report.InsuranceFundStart);
        Assert.True(report.MarginCalls + report.Liquidations > 0, "the wick made no margin call and no liquidation: the run proved nothing");
        Assert.True(report.ConservationHolds, $"conservation failed by {report.ConservationDifference}");
        Assert.Empty(report.Checked(new Dictionary<string, double>()).Failures);
    }

    [Fact]
    public async Task The_load_drives_a_running_silo_through_the_native_client_at_its_gateway_and_money_is_conserved()
    {
        await using var silo = await SiloProcess.StartAsync("load-client-tests", null, new Dictionary<string, string>
        {
            ["Logging__LogLevel__Default"] = "Warning",
        });
        var options = new LoadOptions
        {
            Scenario = LoadScenario.Wick,
            Accounts = 200,
            Markets = 2,
            Duration = TimeSpan.FromSeconds(2),
            Rate = 100,
            Baseline = false,
            Plain = true,
            Orleans = MarginGrid.Client.MarginGridClientOptions.Parse($"orleans://127.0.0.1:{silo.GatewayPort}?cluster-id=load-client-tests"),
            RunId = "native",
        };
        Assert.Null(options.Validate());
        using var console = new StringWriter();
        var report = await RemoteRun.RunAsync(options, AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console) }), CancellationToken.None);

        Assert.Equal($"orleans://127.0.0.1:{silo.GatewayPort}?cluster-id=load-client-tests&service-id=margingrid", report.Target);
        Assert.Equal(report.Updates, report.TickDecision.Count);
        Assert.Equal(1_000_000m, report.InsuranceFundStart);
        Assert.True(report.MarginCalls + report.Liquidations > 0, "the wick made no margin call and no liquidation: the run proved nothing");
        Assert.True(report.ConservationHolds, $"conservation failed by {report.ConservationDifference}");
        Assert.Empty(report.Checked(new Dictionary<string, double>()).Failures);
    }

    [Fact]
    public void A_target_needs_no_baseline_and_an_http_address()
    {
        Assert.NotNull(new LoadOptions { Targets = [new Uri("http://127.0.0.1:1/")] }.Validate());
        Assert.Null(new LoadOptions { Targets = [new Uri("http://127.0.0.1:1/")], Baseline = false }.Validate());
    }

    [Fact]
    public void An_orleans_target_needs_no_baseline_and_excludes_http_addresses()
    {
        var orleans = MarginGrid.Client.MarginGridClientOptions.Parse("orleans://127.0.0.1:30000,127.0.0.1:30001");
        Assert.NotNull(new LoadOptions { Orleans = orleans }.Validate());
        Assert.Null(new LoadOptions { Orleans = orleans, Baseline = false }.Validate());
        Assert.True(new LoadOptions { Orleans = orleans }.IsRemote);
        Assert.NotNull(new LoadOptions { Orleans = orleans, Targets = [new Uri("http://127.0.0.1:1/")], Baseline = false }.Validate());
    }

    [Fact]
    public void A_quiet_market_is_for_a_running_cluster_and_bounded()
    {
        var remote = new LoadOptions { Targets = [new Uri("http://127.0.0.1:1/")], Baseline = false };
        Assert.Null((remote with { Quiet = TimeSpan.FromSeconds(90) }).Validate());
        Assert.Contains("--quiet", (remote with { Quiet = TimeSpan.FromSeconds(-1) }).Validate(), StringComparison.Ordinal);
        Assert.Contains("--quiet", (remote with { Quiet = TimeSpan.FromHours(2) }).Validate(), StringComparison.Ordinal);
        Assert.Contains("--quiet", new LoadOptions { Baseline = false, Quiet = TimeSpan.FromSeconds(5) }.Validate(), StringComparison.Ordinal);
    }
}
