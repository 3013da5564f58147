using System.Text;
using System.Text.Json;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;

namespace MarginGrid.Host.Scenarios;

/// <summary>
/// Writes a <see cref="ModelEngine"/> result in the result format of MARGIN-MODEL.md (the same shape as
/// <see cref="ResultWriter"/>), with the v2 and v3 events: market-level events carry no account.
/// </summary>
public static class ModelResultWriter
{
    public static string ToJson(ModelResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartObject("accounts");
            foreach (var a in result.Accounts)
            {
                w.WriteStartObject(a.Id);
                w.WriteStartObject("collateral");
                foreach (var (asset, q) in a.Collateral.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    if (q != 0m)
                    {
                        w.WriteString(asset, ResultWriter.Format(q));
                    }
                }

                w.WriteEndObject();
                w.WriteStartObject("positions");
                foreach (var (market, p) in a.Positions.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WriteStartObject(market);
                    w.WriteString("size", ResultWriter.Format(p.Size));
                    w.WriteString("entryPrice", ResultWriter.Format(p.Entry));
                    w.WriteEndObject();
                }

                w.WriteEndObject();
                w.WriteString("equity", ResultWriter.Format(a.Equity));
                w.WriteString("maintenanceMargin", ResultWriter.Format(a.MaintenanceMargin));
                w.WriteString("initialMargin", ResultWriter.Format(a.InitialMargin));
                if (a.Health is { } h)
                {
                    w.WriteString("health", ResultWriter.Format(h));
                }
                else
                {
                    w.WriteNull("health");
                }

                w.WriteString("status", a.Status.ToString());
                w.WriteEndObject();
            }

            w.WriteEndObject();
            w.WriteString("insuranceFund", ResultWriter.Format(result.InsuranceFund));
            w.WriteString("socializedLoss", ResultWriter.Format(result.SocializedLoss));
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

    public static void WriteEvent(Utf8JsonWriter w, ModelEvent e)
    {
        w.WriteStartObject();
        w.WriteString("type", e.TypeName);
        if (e.Account is { } account)
        {
            w.WriteString("account", account);
        }

        switch (e.Type)
        {
            case ModelEventType.MarginCall:
                w.WriteString("status", e.Status?.ToString());
                break;
            case ModelEventType.Liquidation:
                w.WriteString("market", e.Market);
                Number(w, "quantity", e.Quantity);
                Number(w, "price", e.Price);
                Number(w, "penalty", e.Penalty);
                break;
            case ModelEventType.CollateralLiquidation:
                w.WriteString("asset", e.Asset);
                Number(w, "quantity", e.Quantity);
                Number(w, "price", e.Price);
                Number(w, "discount", e.Discount);
                break;
            case ModelEventType.Bankruptcy:
                Number(w, "deficit", e.Deficit);
                Number(w, "insuranceCovered", e.InsuranceCovered);
                Number(w, "socialized", e.Socialized);
                if (e.AdlRecovered is { } adl)
                {
                    Number(w, "adl", adl);
                }

                break;
            case ModelEventType.Rejected:
            case ModelEventType.LiquidationDeferred:
                w.WriteString("reason", e.Reason);
                break;
            case ModelEventType.PriceStale:
                w.WriteString("market", e.Market);
                break;
            case ModelEventType.PriceHeld:
                w.WriteString("market", e.Market);
                Number(w, "price", e.Price);
                break;
            case ModelEventType.LiquidationBatch:
                w.WriteString("market", e.Market);
                Number(w, "buys", e.Buys);
                Number(w, "sells", e.Sells);
                Number(w, "netted", e.Netted);
                Number(w, "residual", e.Residual);
                Number(w, "price", e.Price);
                break;
            case ModelEventType.Adl:
                w.WriteString("market", e.Market);
                Number(w, "quantity", e.Quantity);
                Number(w, "price", e.Price);
                w.WriteString("counterparty", e.Counterparty);
                break;
            case ModelEventType.AuctionStart:
                w.WriteString("asset", e.Asset);
                Number(w, "quantity", e.Quantity);
                Number(w, "tab", e.Tab);
                Number(w, "price", e.Price);
                break;
            case ModelEventType.AuctionTake:
                w.WriteString("liquidator", e.Liquidator);
                w.WriteString("asset", e.Asset);
                Number(w, "quantity", e.Quantity);
                Number(w, "price", e.Price);
                break;
            case ModelEventType.AuctionEnd:
                w.WriteString("asset", e.Asset);
                Number(w, "quantity", e.Quantity);
                break;
        }

        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, decimal? value)
    {
        if (value is { } v)
        {
            w.WriteString(name, ResultWriter.Format(v));
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
