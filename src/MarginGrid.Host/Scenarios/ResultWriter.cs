using MarginGrid.Grains;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MarginGrid.Domain;

namespace MarginGrid.Host.Scenarios;

/// <summary>Writes a replay result in the format of MARGIN-MODEL.md: decimals as strings, events in emission order.</summary>
public static class ResultWriter
{
    public static string ToJson(ReplayResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("accounts");
            foreach (var a in result.Accounts)
            {
                w.WriteStartObject(a.Account);
                w.WriteStartObject("collateral");
                foreach (var (asset, q) in a.Collateral)
                {
                    if (q != 0m)
                    {
                        w.WriteString(asset, Format(q));
                    }
                }

                w.WriteEndObject();
                w.WriteStartObject("positions");
                foreach (var p in a.Positions.OrderBy(p => p.Market, StringComparer.Ordinal))
                {
                    w.WriteStartObject(p.Market);
                    w.WriteString("size", Format(p.Size));
                    w.WriteString("entryPrice", Format(p.EntryPrice));
                    w.WriteEndObject();
                }

                w.WriteEndObject();
                w.WriteString("equity", Format(a.Equity));
                w.WriteString("maintenanceMargin", Format(a.MaintenanceMargin));
                w.WriteString("initialMargin", Format(a.InitialMargin));
                if (a.Health is { } h)
                {
                    w.WriteString("health", Format(h));
                }
                else
                {
                    w.WriteNull("health");
                }

                w.WriteString("status", a.Status.ToString());
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteString("insuranceFund", Format(result.Fund.InsuranceFund));
            w.WriteString("socializedLoss", Format(result.Fund.SocializedLoss));
            w.WriteStartArray("events");
            foreach (var e in result.Events)
            {
                WriteEvent(w, e);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>One event in the result format (the model's fields for its type; one writer for the grid and the model).</summary>
    public static void WriteEvent(Utf8JsonWriter w, GridEvent e) => ModelResultWriter.WriteEvent(w, e.ToModel());

    public static string Format(decimal value) => DecimalMath.Normalize(value).ToString(CultureInfo.InvariantCulture);

    private static void WriteDecimal(Utf8JsonWriter w, string name, decimal? value)
    {
        if (value is { } v)
        {
            w.WriteString(name, Format(v));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
