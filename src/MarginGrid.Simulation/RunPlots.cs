namespace MarginGrid.Simulation;

/// <summary>One sample of a run's state: seconds since trading began, accounts per status, the insurance fund.</summary>
public sealed record RunSample(double Seconds, long[] AccountsByStatus, decimal InsuranceFund, decimal SocializedLoss);

/// <summary>
/// The PNG plots of a run (ScottPlot), one plotting path for the demo and the load generator: accounts by status over
/// time and the insurance fund (with socialized loss) over time.
/// </summary>
public static class RunPlots
{
    public const string AccountsByStatusFile = "accounts-by-status.png";
    public const string InsuranceFundFile = "insurance-fund.png";

    /// <summary>Writes both plots into <paramref name="folder"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<RunSample> series, string folder)
    {
        var x = series.Select(p => p.Seconds).ToArray();

        var statuses = new ScottPlot.Plot();
        var names = Enum.GetNames<RiskStatus>();
        for (var s = 0; s < names.Length; s++)
        {
            var line = statuses.Add.Scatter(x, series.Select(p => (double)p.AccountsByStatus[s]).ToArray());
            line.LegendText = names[s];
            line.MarkerSize = 0;
        }

        statuses.Title("accounts by status");
        statuses.XLabel("seconds");
        statuses.ShowLegend();

        var fund = new ScottPlot.Plot();
        var f = fund.Add.Scatter(x, series.Select(p => (double)p.InsuranceFund).ToArray());
        f.LegendText = "insurance fund";
        f.MarkerSize = 0;
        var socialized = fund.Add.Scatter(x, series.Select(p => (double)p.SocializedLoss).ToArray());
        socialized.LegendText = "socialized loss";
        socialized.MarkerSize = 0;
        fund.Title("insurance fund (USD)");
        fund.XLabel("seconds");
        fund.ShowLegend();

        return [Save(statuses, folder, AccountsByStatusFile), Save(fund, folder, InsuranceFundFile)];
    }

    public static string Save(ScottPlot.Plot plot, string folder, string name)
    {
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name);
        plot.SavePng(path, 1000, 450);
        return path;
    }
}
