using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;

namespace MarginGrid.Deploy.Tests.Live;

/// <summary>
/// The metrics of a running silo under load, checked by the real tools: <c>promtool check metrics</c> on a scrape, and
/// a real Prometheus (Debian's <c>prometheus</c>) scraping the silo and evaluating every dashboard and rule
/// expression through its HTTP API. The tools are required: their absence fails these tests.
/// </summary>
public sealed class LiveSiloTests(LiveSilo live) : IClassFixture<LiveSilo>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public void The_load_caused_margin_calls_liquidations_a_collateral_sale_and_a_bankruptcy()
    {
        foreach (var type in new[] { "margin_call", "liquidation", "collateral_liquidation", "bankruptcy" })
        {
            Assert.True(live.EventCounts.GetValueOrDefault(type) > 0, $"no {type} event: {string.Join(", ", live.EventCounts)}");
        }
    }

    [Fact]
    public async Task Promtool_check_metrics_passes_on_a_live_scrape()
    {
        var promtool = Tools.Promtool;
        var scrape = await live.Http.GetStringAsync("metrics");
        Assert.Contains("margingrid_liquidations_total{market=\"ETH-USD\"}", scrape, StringComparison.Ordinal);
        Assert.Contains("microsoft_orleans_orleans_catalog_activations", scrape, StringComparison.Ordinal);
        var result = Tools.Run(promtool, ["check", "metrics"], stdin: scrape);
        Assert.True(result.ExitCode == 0, result.Describe());
    }

    [Fact]
    public async Task Orleans_meter_is_exported_without_other_meters_and_with_the_dashboard_names()
    {
        var scrape = await live.Http.GetStringAsync("metrics");
        var families = scrape.Split('\n').Where(l => l.StartsWith("# TYPE ", StringComparison.Ordinal))
            .Select(l => l.Split(' ')[2]).ToHashSet(StringComparer.Ordinal);
        Assert.DoesNotContain(families, f => f.StartsWith("private_internaldiagnostics_", StringComparison.Ordinal));
        Assert.DoesNotContain(families, f => f.StartsWith("system_", StringComparison.Ordinal));
        var missing = KnownMetrics.OrleansDashboardVariables.Values
            .Select(n => n.EndsWith("_bucket", StringComparison.Ordinal) ? n[..^"_bucket".Length] : n)
            .Where(n => !families.Contains(n))
            .ToList();
        Assert.True(missing.Count == 0, $"not in the scrape: {string.Join(", ", missing)}");
    }

    [Fact]
    public async Task Prometheus_evaluates_every_dashboard_and_rule_expression_with_series()
    {
        var binary = Tools.Require("prometheus", "apt-get install -y --no-install-recommends prometheus (Debian; ships /usr/bin/prometheus)");
        await using var prometheus = await PrometheusProcess.StartAsync(binary, live.Silo.BaseAddress);
        using var api = new HttpClient { BaseAddress = prometheus.BaseAddress, Timeout = TimeSpan.FromSeconds(10) };

        var expressions = PromQlExpressionCatalog.All();
        var clock = Stopwatch.StartNew();
        List<string> failures;
        while (true)
        {
            failures = [];
            foreach (var expression in expressions)
            {
                if (expression.Source == ExpressionSource.AlertRule)
                {
                    // Alerts are empty on a healthy cluster: the expression must evaluate, and each series it reads must exist.
                    if (await QueryAsync(api, expression.Expr) is { Error: { } error })
                    {
                        failures.Add($"{expression}: {error}");
                    }

                    foreach (var metric in PromQlExpressionCatalog.MetricNames(expression.Expr))
                    {
                        if (await QueryAsync(api, metric) is { Series: 0 } or { Error: not null })
                        {
                            failures.Add($"{expression}: no series of {metric}");
                        }
                    }
                }
                else if (await QueryAsync(api, expression.Expr) is var answer && (answer.Error is not null || answer.Series == 0))
                {
                    failures.Add($"{expression}: {answer.Error ?? "no series"}");
                }
            }

            failures.AddRange(await RuleHealthProblemsAsync(api));
            if (failures.Count == 0 || clock.Elapsed > Deadline || prometheus.HasExited)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromSeconds(1)); // polling interval of a condition with a deadline
        }

        Assert.True(failures.Count == 0,
            $"{failures.Count} of {expressions.Count} expressions failed after {clock.Elapsed:g}:\n{string.Join('\n', failures)}\n--- prometheus ---\n{prometheus.Output}");
    }

    private static async Task<(string? Error, int Series)> QueryAsync(HttpClient api, string expr)
    {
        using var response = await api.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(expr));
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = body.RootElement;
        if (root.GetProperty("status").GetString() != "success")
        {
            return ($"{root.GetProperty("errorType").GetString()}: {root.GetProperty("error").GetString()}", 0);
        }

        var data = root.GetProperty("data");
        return data.GetProperty("resultType").GetString() is "scalar" or "string"
            ? (null, 1)
            : (null, data.GetProperty("result").GetArrayLength());
    }

    private static async Task<List<string>> RuleHealthProblemsAsync(HttpClient api)
    {
        using var body = JsonDocument.Parse(await api.GetStringAsync("api/v1/rules"));
        var problems = new List<string>();
        var rules = 0;
        foreach (var group in body.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray())
        {
            foreach (var rule in group.GetProperty("rules").EnumerateArray())
            {
                rules++;
                var health = rule.GetProperty("health").GetString();
                if (health == "err")
                {
                    problems.Add($"rule {rule.GetProperty("name").GetString()}: {rule.GetProperty("lastError").GetString()}");
                }
                else if (health != "ok")
                {
                    problems.Add($"rule {rule.GetProperty("name").GetString()}: not evaluated yet ({health})");
                }
            }
        }

        var expected = PromQlExpressionCatalog.RuleExpressions().Count;
        if (rules != expected)
        {
            problems.Add($"Prometheus loaded {rules} rules, the rule files hold {expected}");
        }

        return problems;
    }
}

/// <summary>
/// A real Prometheus on a free loopback port with a temporary storage directory, scraping one silo every second as job
/// <c>margingrid</c> and evaluating deploy/prometheus/rules every second. Killed, and its directory removed, on dispose.
/// </summary>
internal sealed class PrometheusProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _directory;
    private readonly StringBuilder _output = new();

    private PrometheusProcess(Process process, string directory, int port)
    {
        _process = process;
        _directory = directory;
        BaseAddress = new Uri($"http://127.0.0.1:{port}/");
    }

    public Uri BaseAddress { get; }

    public bool HasExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static async Task<PrometheusProcess> StartAsync(string binary, Uri silo)
    {
        var directory = Directory.CreateTempSubdirectory("margingrid-prometheus-").FullName;
        var rules = string.Join('\n', PromQlExpressionCatalog.RuleFiles().Select(f => $"  - '{f}'"));
        var config = $"""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            rule_files:
            {rules}
            scrape_configs:
              - job_name: margingrid
                metrics_path: /metrics
                static_configs:
                  - targets: ['{silo.Authority}']
            """;
        File.WriteAllText(Path.Combine(directory, "prometheus.yml"), config);
        var port = Ports.Free();
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        foreach (var arg in new[]
                 {
                     "--config.file=" + Path.Combine(directory, "prometheus.yml"),
                     "--storage.tsdb.path=" + Path.Combine(directory, "data"),
                     "--web.listen-address=127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                 })
        {
            start.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = start };
        var prometheus = new PrometheusProcess(process, directory, port);
        process.OutputDataReceived += (_, e) => prometheus.Append(e.Data);
        process.ErrorDataReceived += (_, e) => prometheus.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await prometheus.WaitUntilScrapedAsync();
        }
        catch
        {
            await prometheus.DisposeAsync();
            throw;
        }

        return prometheus;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // best effort: a temp directory
        }
    }

    /// <summary>Ready, and the silo's target is up.</summary>
    private async Task WaitUntilScrapedAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"prometheus exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                using var response = await http.GetAsync("api/v1/query?query=" + Uri.EscapeDataString("up{job=\"margingrid\"} == 1"));
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                    if (body.RootElement.GetProperty("data").GetProperty("result").GetArrayLength() == 1)
                    {
                        return;
                    }
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // starting
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200)); // polling interval of a condition with a deadline
        }

        throw new TimeoutException($"prometheus did not scrape the silo within 60 s:\n{Output}");
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
