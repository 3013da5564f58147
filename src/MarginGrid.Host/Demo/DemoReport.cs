using System.Globalization;
using System.Net;
using System.Text;
using MarginGrid.Simulation;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace MarginGrid.Host.Demo;

/// <summary>
/// What the demo shows at the end besides its summary: a chart in the terminal (accounts by status and the insurance
/// fund over the run, one sparkline each) and report.html with the same summary and the PNG plots of
/// <see cref="RunPlots"/> (the load generator's plotting path).
/// </summary>
public static class DemoReport
{
    private const int Width = 22; // the table fits 80 columns (a redirected console)
    private static readonly string Blocks = "▁▂▃▄▅▆▇█";

    public static IRenderable Chart(IReadOnlyList<RunSample> series, decimal initialFund)
    {
        var seconds = series.Count == 0 ? 0 : series[^1].Seconds;
        var table = new Table().Border(TableBorder.Rounded)
            .Title($"[bold]over the run[/] (0 … {seconds:F0} s, {series.Count} samples)")
            .AddColumn("series").AddColumn("chart").AddColumn(new TableColumn("start").RightAligned())
            .AddColumn(new TableColumn("peak").RightAligned()).AddColumn(new TableColumn("end").RightAligned());
        string[] colors = ["green", "yellow", "red", "maroon"];
        var statuses = Enum.GetValues<RiskStatus>();
        for (var s = 0; s < statuses.Length; s++)
        {
            var values = series.Select(p => (double)p.AccountsByStatus[s]).ToArray();
            table.AddRow(
                $"[{colors[s]}]{statuses[s]}[/]",
                $"[{colors[s]}]{Sparkline(values, fromZero: true)}[/]",
                Count(values.FirstOrDefault()),
                Count(values.DefaultIfEmpty().Max()),
                Count(values.LastOrDefault()));
        }

        var fund = series.Select(p => (double)p.InsuranceFund).ToArray();
        table.AddRow(
            "[blue]insurance fund[/]",
            $"[blue]{Sparkline(fund, fromZero: false)}[/]",
            Usd(initialFund),
            Usd((decimal)fund.DefaultIfEmpty().Max()),
            Usd(series.Count == 0 ? initialFund : series[^1].InsuranceFund));
        var socialized = series.Select(p => (double)p.SocializedLoss).ToArray();
        if (socialized.Any(v => v > 0))
        {
            table.AddRow("[red]socialized loss[/]", $"[red]{Sparkline(socialized, fromZero: true)}[/]", Usd(0m),
                Usd((decimal)socialized.Max()), Usd(series[^1].SocializedLoss));
        }

        return table;
    }

    /// <summary>Writes the PNG plots and report.html into <see cref="DemoOptions.Output"/>; returns report.html's full path.</summary>
    public static string Write(DemoOptions options, IReadOnlyList<(string Name, string Value)> summary, IReadOnlyList<RunSample> series)
    {
        var folder = Path.GetFullPath(options.Output);
        Directory.CreateDirectory(folder);
        RunPlots.Write(series, folder);
        var html = new StringBuilder();
        html.AppendLine("<!doctype html>")
            .AppendLine("<html lang=\"en\"><head><meta charset=\"utf-8\"><title>MarginGrid demo</title>")
            .AppendLine("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td{border:1px solid #ccc;padding:.2em .6em}td+td{text-align:right}</style>")
            .AppendLine("</head><body>")
            .AppendLine(CultureInfo.InvariantCulture, $"<h1>MarginGrid demo: {options.Accounts:N0} accounts, {options.Markets} markets, seed {options.Seed}</h1>")
            .AppendLine("<table>");
        foreach (var (name, value) in summary)
        {
            html.AppendLine(CultureInfo.InvariantCulture, $"<tr><td>{WebUtility.HtmlEncode(name)}</td><td>{WebUtility.HtmlEncode(value)}</td></tr>");
        }

        html.AppendLine("</table>")
            .AppendLine(CultureInfo.InvariantCulture, $"<p><img src=\"{RunPlots.AccountsByStatusFile}\" alt=\"accounts by status over time\"></p>")
            .AppendLine(CultureInfo.InvariantCulture, $"<p><img src=\"{RunPlots.InsuranceFundFile}\" alt=\"insurance fund over time\"></p>")
            .AppendLine("</body></html>");
        var path = Path.Combine(folder, "report.html");
        File.WriteAllText(path, html.ToString());
        return path;
    }

    /// <summary>One block character per column, scaled from 0 (or the series' minimum) to its maximum; each column shows its bucket's peak.</summary>
    internal static string Sparkline(IReadOnlyList<double> values, bool fromZero)
    {
        if (values.Count == 0)
        {
            return "";
        }

        var columns = Math.Min(Width, values.Count);
        var buckets = Enumerable.Range(0, columns)
            .Select(c => values.Skip(c * values.Count / columns).Take(Math.Max(1, ((c + 1) * values.Count / columns) - (c * values.Count / columns))).Max())
            .ToArray();
        var low = fromZero ? 0 : buckets.Min();
        var range = buckets.Max() - low;
        return new string([.. buckets.Select(v => range <= 0 ? (v > 0 ? Blocks[^1] : Blocks[0]) : Blocks[(int)Math.Round((v - low) / range * (Blocks.Length - 1))])]);
    }

    private static string Count(double value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Usd(decimal value) => value.ToString("N0", CultureInfo.InvariantCulture);
}
