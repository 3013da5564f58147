namespace MarginGrid.Load;

/// <summary>PNG plots of a run (ScottPlot): latency over time, accounts by status over time, the insurance fund.</summary>
public static class Plots
{
    public static IReadOnlyList<string> Write(LoadReport report, string folder)
    {
        var series = report.Series;
        var x = series.Select(p => p.Seconds).ToArray();
        var files = new List<string>();

        var latency = new ScottPlot.Plot();
        latency.Add.ScatterPoints(x, series.Select(p => p.LatencyMs).ToArray());
        latency.Title($"tick→decision latency ({report.Scenario}, {report.FanOut})");
        latency.XLabel("seconds");
        latency.YLabel("ms");
        files.Add(Save(latency, folder, "latency.png"));

        var statuses = new ScottPlot.Plot();
        string[] names = ["Healthy", "MarginCall", "Liquidatable", "Bankrupt"];
        for (var s = 0; s < names.Length; s++)
        {
            var line = statuses.Add.Scatter(x, series.Select(p => (double)p.AccountsByStatus[s]).ToArray());
            line.LegendText = names[s];
            line.MarkerSize = 0;
        }

        statuses.Title("accounts by status");
        statuses.XLabel("seconds");
        statuses.ShowLegend();
        files.Add(Save(statuses, folder, "accounts-by-status.png"));

        var fund = new ScottPlot.Plot();
        var f = fund.Add.Scatter(x, series.Select(p => (double)p.InsuranceFund).ToArray());
        f.LegendText = "insurance fund";
        f.MarkerSize = 0;
        var s2 = fund.Add.Scatter(x, series.Select(p => (double)p.SocializedLoss).ToArray());
        s2.LegendText = "socialized loss";
        s2.MarkerSize = 0;
        fund.Title("insurance fund (USD)");
        fund.XLabel("seconds");
        fund.ShowLegend();
        files.Add(Save(fund, folder, "insurance-fund.png"));
        return files;
    }

    private static string Save(ScottPlot.Plot plot, string folder, string name)
    {
        var path = Path.Combine(folder, name);
        plot.SavePng(path, 1000, 450);
        return path;
    }
}
