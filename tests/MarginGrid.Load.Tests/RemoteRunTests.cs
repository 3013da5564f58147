using System.Diagnostics;
using System.Net.Sockets;
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
        var httpPort = FreePort();
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var arg in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "margingrid.dll"), "silo", "--http-port", $"{httpPort}", "--silo-port", $"{FreePort()}",
            "--gateway-port", $"{FreePort()}", "--advertised-ip", "127.0.0.1", "--cluster-id", "load-tests",
        })
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["Logging__LogLevel__Default"] = "Warning";
        start.Environment["MarginGrid__RateLimit__PermitsPerSecond"] = "10000";
        foreach (var (role, key) in keys)
        {
            start.Environment[$"MarginGrid__ApiKeys__{role}__Hash"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
            start.Environment[$"MarginGrid__ApiKeys__{role}__Role"] = role;
        }

        start.Environment["MarginGrid__ApiKeys__trader__Accounts"] = "remote-*";
        var output = new StringBuilder();
        using var silo = new Process { StartInfo = start };
        silo.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        silo.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        silo.Start();
        silo.BeginOutputReadLine();
        silo.BeginErrorReadLine();
        try
        {
            var target = new Uri($"http://127.0.0.1:{httpPort}/");
            await WaitUntilReadyAsync(target, () => { lock (output) { return output.ToString(); } });
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
                string log;
                lock (output)
                {
                    log = output.ToString();
                }

                throw new Xunit.Sdk.XunitException($"{e.Message}\nsilo output:\n{log}");
            }

            Assert.Equal(target.ToString(), report.Target);
            Assert.Equal(report.Updates, report.TickDecision.Count);
            Assert.Equal(1_000_000m, report.InsuranceFundStart);
            Assert.True(report.MarginCalls + report.Liquidations > 0, "the wick made no margin call and no liquidation: the run proved nothing");
            Assert.True(report.ConservationHolds, $"conservation failed by {report.ConservationDifference}");
            Assert.Empty(report.Checked(new Dictionary<string, double>()).Failures);
        }
        finally
        {
            silo.Kill(entireProcessTree: true);
            await silo.WaitForExitAsync();
        }
    }

    [Fact]
    public void A_target_needs_no_baseline_and_an_http_address()
    {
        Assert.NotNull(new LoadOptions { Targets = [new Uri("http://127.0.0.1:1/")] }.Validate());
        Assert.Null(new LoadOptions { Targets = [new Uri("http://127.0.0.1:1/")], Baseline = false }.Validate());
    }

    private static async Task WaitUntilReadyAsync(Uri target, Func<string> output)
    {
        using var http = new HttpClient { BaseAddress = target, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(90))
        {
            try
            {
                if ((await http.GetAsync("health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // not answering yet
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval of a condition with a deadline
        }

        Assert.Fail($"margingrid silo was not ready within 90 s:\n{output()}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
