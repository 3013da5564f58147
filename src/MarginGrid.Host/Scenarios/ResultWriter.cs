using MarginGrid.Grains;
using System.Globalization;
using System.Text.Json;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;

namespace MarginGrid.Host.Scenarios;

/// <summary>Writes a replay result in the format of MARGIN-MODEL.md: decimals as strings, events in emission order.</summary>
public static class ResultWriter
{
    /// <summary>The grid's result in the model's shapes, written by the one writer of the result format.</summary>
    public static string ToJson(ReplayResult result) => ModelResultWriter.ToJson(new ModelResult(
        [.. result.Accounts.Select(a => new ModelAccountResult(
            a.Account,
            a.Collateral,
            a.Positions.ToDictionary(p => p.Market, p => new Position(p.Size, p.EntryPrice), StringComparer.Ordinal),
            a.Equity,
            a.MaintenanceMargin,
            a.InitialMargin,
            a.Health,
            a.Status.ToDomain()))],
        result.Fund.InsuranceFund,
        result.Fund.SocializedLoss,
        [.. result.Events.Select(e => e.ToModel())]));

    /// <summary>One event in the result format (the model's fields for its type; one writer for the grid and the model).</summary>
    public static void WriteEvent(Utf8JsonWriter w, GridEvent e) => ModelResultWriter.WriteEvent(w, e.ToModel());

    public static string Format(decimal value) => DecimalMath.Normalize(value).ToString(CultureInfo.InvariantCulture);
}
