using MarginGrid.Simulation;

namespace MarginGrid.Load;

/// <summary>PNG plots of a run: latency over time here; accounts by status and the insurance fund by <see cref="RunPlots"/>, as the demo draws them.</summary>
public static class Plots
{
    public static IReadOnlyList<string> Write(LoadReport report, string folder)
    {
        var series = report.Series;
        var latency = new ScottPlot.Plot();
        latency.Add.ScatterPoints(series.Select(p => p.Seconds).ToArray(), series.Select(p => p.LatencyMs).ToArray());
        latency.Title($"tick→decision latency ({report.Scenario}, {report.FanOut})");
        latency.XLabel("seconds");
        latency.YLabel("ms");
        return
        [
            RunPlots.Save(latency, folder, "latency.png"),
            .. RunPlots.Write([.. series.Select(p => new RunSample(p.Seconds, p.AccountsByStatus, p.InsuranceFund, p.SocializedLoss))], folder),
        ];
    }
}
