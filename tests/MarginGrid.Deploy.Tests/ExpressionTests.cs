using System.Text;

namespace MarginGrid.Deploy.Tests;

/// <summary>Every PromQL expression of the dashboards and rules parses (promtool) and selects only known metrics.</summary>
public sealed class ExpressionTests
{
    [Fact]
    public void Catalog_finds_the_rules_and_the_dashboard_expressions()
    {
        var all = PromQlExpressionCatalog.All();
        Assert.Contains(all, e => e.Source == ExpressionSource.AlertRule);
        Assert.Contains(all, e => e.Source == ExpressionSource.RecordingRule);
        Assert.Contains(all, e => e.Source == ExpressionSource.DashboardVariable);
        Assert.True(all.Count(e => e.Source == ExpressionSource.DashboardPanel) >= 25);
        Assert.All(all, e => Assert.DoesNotContain("$", e.Expr, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_dashboard_and_rule_expression_parses_with_promtool()
    {
        var expressions = PromQlExpressionCatalog.All();
        var yaml = new StringBuilder("groups:\n");
        for (var i = 0; i < expressions.Count; i++)
        {
            // One group per expression, named after where it comes from, so promtool's error names it.
            yaml.Append("  - name: ").Append(Quote($"#{i} {expressions[i].Origin}")).Append('\n')
                .Append("    rules:\n")
                .Append("      - record: deploy_check:expression:").Append(i).Append('\n')
                .Append("        expr: ").Append(Quote(expressions[i].Expr)).Append('\n');
        }

        var file = Path.Combine(Path.GetTempPath(), $"margingrid-expressions-{Guid.NewGuid():N}.yml");
        File.WriteAllText(file, yaml.ToString());
        try
        {
            var result = Tools.RunOk(Tools.Promtool, ["check", "rules", file]);
            Assert.Contains($"SUCCESS: {expressions.Count} rules found", result.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Promtool_parse_check_rejects_a_broken_expression()
    {
        // Guards the check above: a typo in PromQL must fail it.
        var file = Path.Combine(Path.GetTempPath(), $"margingrid-broken-{Guid.NewGuid():N}.yml");
        File.WriteAllText(file, "groups:\n  - name: broken\n    rules:\n      - record: deploy_check:broken\n        expr: 'sum by (market (rate(margingrid_ticks_total[5m]))'\n");
        try
        {
            var result = Tools.Run(Tools.Promtool, ["check", "rules", file]);
            Assert.NotEqual(0, result.ExitCode);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Every_expression_selects_only_exported_metrics_or_recording_rules()
    {
        var recorded = PromQlExpressionCatalog.RuleExpressions()
            .Where(e => e.Source == ExpressionSource.RecordingRule)
            .Select(e => e.Origin.Split(": ")[1]);
        var known = new HashSet<string>(KnownMetrics.MarginGrid.Concat(KnownMetrics.Prometheus).Concat(recorded)
            .Concat(KnownMetrics.OrleansDashboardVariables.Values), StringComparer.Ordinal);
        var unknown = PromQlExpressionCatalog.All()
            .SelectMany(e => PromQlExpressionCatalog.MetricNames(e.Expr).Where(n => !known.Contains(n)).Select(n => $"{n} in {e}"))
            .ToList();
        Assert.Empty(unknown);
    }

    [Fact]
    public void Metric_name_extraction_ignores_functions_labels_and_keywords()
    {
        var names = PromQlExpressionCatalog.MetricNames(
            "histogram_quantile(0.99, sum by (market, le) (rate(margingrid_tick_decision_seconds_bucket{job=\"margingrid\", market=~\"a|b\"}[5m]))) " +
            "> 5 * cluster:margingrid_margin_calls:rate1h offset 5m and on (market) up");
        Assert.Equal(["cluster:margingrid_margin_calls:rate1h", "margingrid_tick_decision_seconds_bucket", "up"], names);
    }

    private static string Quote(string s) => "'" + s.Replace("'", "''", StringComparison.Ordinal) + "'";
}
