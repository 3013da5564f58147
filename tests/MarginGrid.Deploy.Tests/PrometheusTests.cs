using System.Text.Json.Nodes;

namespace MarginGrid.Deploy.Tests;

/// <summary>deploy/prometheus, checked by promtool (Debian package prometheus: /usr/bin/promtool).</summary>
public sealed class PrometheusTests
{
    [Fact]
    public void Scrape_config_passes_promtool_check_config()
    {
        var result = Tools.RunOk(Tools.Promtool, ["check", "config", "deploy/prometheus/prometheus.yml"]);
        Assert.Contains("SUCCESS", result.StdOut + result.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public void Rule_files_pass_promtool_check_rules()
    {
        var files = PromQlExpressionCatalog.RuleFiles();
        Assert.NotEmpty(files);
        Tools.RunOk(Tools.Promtool, ["check", "rules", .. files]);
    }

    [Fact]
    public void Alert_unit_tests_pass_promtool_test_rules()
    {
        var tests = Directory.GetFiles(Repo.PathOf("deploy", "prometheus", "tests"), "*.yml").Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(tests);
        var result = Tools.RunOk(Tools.Promtool, ["test", "rules", .. tests]);
        Assert.Contains("SUCCESS", result.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_where_it_fires_and_one_where_it_does_not()
    {
        var alerts = PromQlExpressionCatalog.RuleExpressions()
            .Where(e => e.Source == ExpressionSource.AlertRule)
            .Select(e => e.Origin.Split(": ")[1])
            .ToList();
        var fires = new HashSet<string>(StringComparer.Ordinal);
        var silent = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.GetFiles(Repo.PathOf("deploy", "prometheus", "tests"), "*.yml"))
        {
            foreach (var test in Yaml.Parse(File.ReadAllText(file))["tests"]!.AsArray())
            {
                foreach (var check in test!["alert_rule_test"]?.AsArray() ?? [])
                {
                    var name = check!["alertname"]!.GetValue<string>();
                    var expected = check["exp_alerts"]?.AsArray();
                    (expected is { Count: > 0 } ? fires : silent).Add(name);
                }
            }
        }

        var neverFires = string.Join(", ", alerts.Where(a => !fires.Contains(a)));
        var neverSilent = string.Join(", ", alerts.Where(a => !silent.Contains(a)));
        Assert.True(neverFires.Length == 0, $"alerts with no test where they fire: {neverFires}");
        Assert.True(neverSilent.Length == 0, $"alerts with no test where they stay silent: {neverSilent}");
    }

    [Fact]
    public void Every_alert_has_severity_annotations_and_a_runbook_section_in_operations_md()
    {
        var operations = Repo.ReadText("docs", "operations.md");
        var headings = operations.Split('\n').Where(l => l.StartsWith('#')).ToList();
        foreach (var file in PromQlExpressionCatalog.RuleFiles())
        {
            foreach (var group in Yaml.Parse(File.ReadAllText(file))["groups"]!.AsArray())
            {
                foreach (var rule in group!["rules"]!.AsArray().Where(r => r!["alert"] is not null))
                {
                    var alert = rule!["alert"]!.GetValue<string>();
                    Assert.Contains(rule["labels"]!["severity"]!.GetValue<string>(), new[] { "page", "ticket" });
                    Assert.False(string.IsNullOrWhiteSpace(rule["annotations"]?["summary"]?.GetValue<string>()), alert);
                    Assert.False(string.IsNullOrWhiteSpace(rule["annotations"]?["description"]?.GetValue<string>()), alert);
                    Assert.Equal($"docs/operations.md#{alert.ToLowerInvariant()}", rule["annotations"]!["runbook_url"]!.GetValue<string>());
                    Assert.True(headings.Any(h => h.TrimStart('#').Trim() == alert), $"docs/operations.md has no heading \"{alert}\"");
                }
            }
        }
    }

    [Fact]
    public void Kubernetes_PrometheusRule_holds_exactly_the_rule_files_groups()
    {
        var fromFiles = new JsonArray(PromQlExpressionCatalog.RuleFiles()
            .SelectMany(f => Yaml.Parse(File.ReadAllText(f))["groups"]!.AsArray().Select(g => g!.DeepClone()))
            .ToArray());
        var prometheusRule = Yaml.Load("deploy", "k8s", "prometheusrule.yaml");
        Assert.Equal("PrometheusRule", prometheusRule["kind"]!.GetValue<string>());
        var inCluster = prometheusRule["spec"]!["groups"]!;
        Assert.True(JsonNode.DeepEquals(fromFiles, inCluster),
            "deploy/k8s/prometheusrule.yaml differs from deploy/prometheus/rules: run `node deploy/k8s/validate/gen-prometheusrule.mjs`");
    }

    [Fact]
    public void Scrape_config_scrapes_the_three_compose_silos_on_8080_metrics_as_job_margingrid()
    {
        var config = Yaml.Load("deploy", "prometheus", "prometheus.yml");
        var job = config["scrape_configs"]!.AsArray().Single(j => j!["job_name"]!.GetValue<string>() == "margingrid")!;
        Assert.Equal("/metrics", job["metrics_path"]!.GetValue<string>());
        var targets = job["static_configs"]!.AsArray().SelectMany(s => s!["targets"]!.AsArray().Select(t => t!.GetValue<string>())).ToList();
        Assert.Equal(["silo1:8080", "silo2:8080", "silo3:8080"], targets);
    }
}
