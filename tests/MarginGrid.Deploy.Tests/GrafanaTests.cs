using System.Text.Json.Nodes;

namespace MarginGrid.Deploy.Tests;

/// <summary>deploy/grafana: the dashboard's structure and its provisioning.</summary>
public sealed class GrafanaTests
{
    private static JsonNode Dashboard() => JsonNode.Parse(Repo.ReadText("deploy", "grafana", "dashboards", "margingrid.json"))!;

    [Fact]
    public void Dashboard_panels_have_unique_ids_fit_the_grid_and_query_the_provisioned_datasource()
    {
        var dashboard = Dashboard();
        Assert.Equal("margingrid-overview", dashboard["uid"]!.GetValue<string>());
        var panels = PromQlExpressionCatalog.Panels(dashboard).ToList();
        Assert.Equal(panels.Count, panels.Select(p => p["id"]!.GetValue<int>()).Distinct().Count());
        foreach (var panel in panels)
        {
            var grid = panel["gridPos"]!;
            Assert.InRange(grid["x"]!.GetValue<int>() + grid["w"]!.GetValue<int>(), 1, 24);
            if (panel["type"]!.GetValue<string>() == "row")
            {
                continue;
            }

            Assert.Equal("${datasource}", panel["datasource"]!["uid"]!.GetValue<string>());
            Assert.NotEmpty(panel["targets"]!.AsArray());
            Assert.All(panel["targets"]!.AsArray(), t => Assert.False(string.IsNullOrWhiteSpace(t!["expr"]?.GetValue<string>())));
        }

        var provisioned = Yaml.Load("deploy", "grafana", "provisioning", "datasources", "prometheus.yml")["datasources"]!.AsArray().Single()!;
        var datasourceVariable = dashboard["templating"]!["list"]!.AsArray().Single(v => v!["type"]!.GetValue<string>() == "datasource")!;
        Assert.Equal(provisioned["uid"]!.GetValue<string>(), datasourceVariable["current"]!["value"]!.GetValue<string>());
        Assert.Equal("prometheus", provisioned["type"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("Silos up")]
    [InlineData("Tick→decision latency (cluster)")]
    [InlineData("Tick→decision p99 by market")]
    [InlineData("Accounts by status")]
    [InlineData("Margin calls per second by status")]
    [InlineData("Liquidations per second by market")]
    [InlineData("Insurance fund (USD)")]
    [InlineData("Socialized loss (USD, since start)")]
    [InlineData("Liquidation queue depth")]
    [InlineData("Grain activations by silo")]
    [InlineData("Messages dispatched / received per second by silo")]
    public void Dashboard_has_panel(string title) =>
        Assert.Contains(PromQlExpressionCatalog.Panels(Dashboard()), p => p["title"]?.GetValue<string>() == title);

    [Fact]
    public void Orleans_metric_names_are_the_documented_hidden_constants()
    {
        var constants = Dashboard()["templating"]!["list"]!.AsArray()
            .Where(v => v!["type"]!.GetValue<string>() == "constant")
            .ToDictionary(v => v!["name"]!.GetValue<string>(), v => v!["query"]!.GetValue<string>());
        Assert.Equal(KnownMetrics.OrleansDashboardVariables.OrderBy(p => p.Key, StringComparer.Ordinal),
            constants.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void Dashboard_provider_path_is_where_compose_mounts_the_dashboards()
    {
        var provider = Yaml.Load("deploy", "grafana", "provisioning", "dashboards", "margingrid.yml")["providers"]!.AsArray().Single()!;
        var path = provider["options"]!["path"]!.GetValue<string>();
        var compose = Yaml.Load("deploy", "compose", "docker-compose.yml");
        var volumes = compose["services"]!["grafana"]!["volumes"]!.AsArray().Select(v => v!.GetValue<string>()).ToList();
        Assert.Contains($"../grafana/dashboards:{path}:ro", volumes);
        Assert.Contains("../grafana/provisioning:/etc/grafana/provisioning:ro", volumes);
    }
}
