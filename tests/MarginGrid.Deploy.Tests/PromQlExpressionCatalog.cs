using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MarginGrid.Deploy.Tests;

internal enum ExpressionSource
{
    RecordingRule,
    AlertRule,
    DashboardPanel,
    DashboardVariable,
}

/// <summary>One PromQL expression of deploy/: <paramref name="Expr"/> is ready to evaluate (dashboard variables expanded).</summary>
/// <param name="Source">Where it comes from.</param>
/// <param name="Origin">A human-readable place: file and rule, or dashboard panel and target.</param>
/// <param name="Raw">The text as written.</param>
/// <param name="Expr">The text with Grafana variables replaced by the values given to the catalog.</param>
internal sealed record PromQlExpression(ExpressionSource Source, string Origin, string Raw, string Expr)
{
    public override string ToString() => $"{Origin}: {Expr}";
}

/// <summary>
/// Every PromQL expression in deploy/prometheus/rules and deploy/grafana/dashboards, for checks that parse them
/// (promtool, here) and for a live check that evaluates them against a Prometheus scraping a running silo.
/// </summary>
internal static partial class PromQlExpressionCatalog
{
    /// <summary>Values of Grafana's built-in variables for evaluating an expression outside Grafana.</summary>
    public static readonly IReadOnlyDictionary<string, string> BuiltInVariables = new Dictionary<string, string>
    {
        ["__rate_interval"] = "1m",
        ["__interval"] = "15s",
        ["__range"] = "1h",
    };

    public static IReadOnlyList<string> RuleFiles() =>
        Directory.GetFiles(Repo.PathOf("deploy", "prometheus", "rules"), "*.yml").Order(StringComparer.Ordinal).ToList();

    public static IReadOnlyList<string> DashboardFiles() =>
        Directory.GetFiles(Repo.PathOf("deploy", "grafana", "dashboards"), "*.json").Order(StringComparer.Ordinal).ToList();

    /// <summary>All expressions: rules first, then dashboards.</summary>
    public static IReadOnlyList<PromQlExpression> All(IReadOnlyDictionary<string, string>? variableOverrides = null) =>
        [.. RuleExpressions(), .. DashboardExpressions(variableOverrides)];

    public static IReadOnlyList<PromQlExpression> RuleExpressions()
    {
        var result = new List<PromQlExpression>();
        foreach (var file in RuleFiles())
        {
            var name = Path.GetFileName(file);
            foreach (var group in Yaml.Parse(File.ReadAllText(file))["groups"]!.AsArray())
            {
                foreach (var rule in group!["rules"]!.AsArray())
                {
                    var expr = rule!["expr"]!.GetValue<string>();
                    var alert = rule["alert"]?.GetValue<string>();
                    var source = alert is null ? ExpressionSource.RecordingRule : ExpressionSource.AlertRule;
                    var id = alert ?? rule["record"]!.GetValue<string>();
                    result.Add(new PromQlExpression(source, $"{name}: {id}", expr, expr));
                }
            }
        }

        return result;
    }

    /// <summary>
    /// Panel targets and query variables of every dashboard. Variables expand to <paramref name="variableOverrides"/>,
    /// else to the dashboard's own constant values, else to the "All" value (".*"), and Grafana's built-ins to
    /// <see cref="BuiltInVariables"/>.
    /// </summary>
    public static IReadOnlyList<PromQlExpression> DashboardExpressions(IReadOnlyDictionary<string, string>? variableOverrides = null)
    {
        var result = new List<PromQlExpression>();
        foreach (var file in DashboardFiles())
        {
            var dashboard = JsonNode.Parse(File.ReadAllText(file))!;
            var values = DashboardVariableValues(dashboard, variableOverrides);
            var name = Path.GetFileName(file);
            foreach (var variable in dashboard["templating"]?["list"]?.AsArray() ?? [])
            {
                if (variable!["type"]?.GetValue<string>() != "query")
                {
                    continue;
                }

                var query = variable["query"] is JsonObject q ? q["query"]!.GetValue<string>() : variable["query"]!.GetValue<string>();
                var selector = LabelValuesRegex().Match(query);
                var raw = selector.Success ? selector.Groups["selector"].Value : query;
                result.Add(new PromQlExpression(ExpressionSource.DashboardVariable,
                    $"{name}: variable {variable["name"]}", raw, Expand(raw, values)));
            }

            foreach (var panel in Panels(dashboard))
            {
                foreach (var target in panel["targets"]?.AsArray() ?? [])
                {
                    var raw = target!["expr"]?.GetValue<string>();
                    if (raw is null)
                    {
                        continue;
                    }

                    result.Add(new PromQlExpression(ExpressionSource.DashboardPanel,
                        $"{name}: panel \"{panel["title"]}\" target {target["refId"]}", raw, Expand(raw, values)));
                }
            }
        }

        return result;
    }

    /// <summary>All panels, rows' nested panels included.</summary>
    public static IEnumerable<JsonNode> Panels(JsonNode dashboard)
    {
        foreach (var panel in dashboard["panels"]?.AsArray() ?? [])
        {
            yield return panel!;
            foreach (var nested in panel!["panels"]?.AsArray() ?? [])
            {
                yield return nested!;
            }
        }
    }

    public static Dictionary<string, string> DashboardVariableValues(JsonNode dashboard, IReadOnlyDictionary<string, string>? overrides)
    {
        var values = new Dictionary<string, string>(BuiltInVariables);
        foreach (var variable in dashboard["templating"]?["list"]?.AsArray() ?? [])
        {
            var name = variable!["name"]!.GetValue<string>();
            values[name] = variable["type"]!.GetValue<string>() switch
            {
                "constant" => variable["query"]!.GetValue<string>(),
                "datasource" => variable["current"]?["value"]?.GetValue<string>() ?? string.Empty,
                _ => variable["allValue"]?.GetValue<string>() ?? ".*",
            };
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string>())
        {
            values[key] = value;
        }

        return values;
    }

    /// <summary>Replaces $name, ${name} and ${name:format} by their values; an unknown variable is an error.</summary>
    public static string Expand(string expr, IReadOnlyDictionary<string, string> values) =>
        VariableRegex().Replace(expr, m =>
        {
            var name = m.Groups["braced"].Success ? m.Groups["braced"].Value : m.Groups["plain"].Value;
            return values.TryGetValue(name, out var value)
                ? value
                : throw new InvalidOperationException($"unknown dashboard variable ${name} in {expr}");
        });

    /// <summary>The metric names (and recording rule names) an expression selects; label names and functions excluded.</summary>
    public static IReadOnlySet<string> MetricNames(string expr)
    {
        var text = StringLiteralRegex().Replace(expr, "\"\"");
        text = LabelMatchersRegex().Replace(text, " ");
        text = RangeRegex().Replace(text, " ");
        text = GroupingRegex().Replace(text, " ");
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match m in IdentifierRegex().Matches(text))
        {
            var id = m.Groups["id"].Value;
            if (!Keywords.Contains(id))
            {
                names.Add(id);
            }
        }

        return names;
    }

    private static readonly HashSet<string> Keywords = new(StringComparer.Ordinal)
    {
        "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan", "atan2",
    };

    [GeneratedRegex(@"^\s*label_values\(\s*(?<selector>.+)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$")]
    private static partial Regex LabelValuesRegex();

    [GeneratedRegex(@"\$(?:\{(?<braced>[A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|(?<plain>[A-Za-z_][A-Za-z0-9_]*))")]
    private static partial Regex VariableRegex();

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex StringLiteralRegex();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex LabelMatchersRegex();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex RangeRegex();

    [GeneratedRegex(@"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex GroupingRegex();

    [GeneratedRegex(@"(?<![A-Za-z0-9_:.])(?<id>[A-Za-z_:][A-Za-z0-9_:]*)(?!\s*\()(?![A-Za-z0-9_:])")]
    private static partial Regex IdentifierRegex();
}
