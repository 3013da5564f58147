using System.Globalization;
using System.Text;
using System.Text.Json;
using MarginGrid.Host.Scenarios;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>Writes a <see cref="Scenario"/> in the scenario file format, so a failing case can be fed to `margingrid replay`.</summary>
public static class ScenarioJson
{
    public static string Write(Scenario s)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("markets");
            foreach (var m in s.Config.Markets)
            {
                w.WriteStartObject();
                w.WriteString("symbol", m.Symbol);
                w.WriteString("lotSize", D(m.LotSize));
                w.WriteString("liquidationPenalty", D(m.LiquidationPenalty));
                w.WriteStartArray("brackets");
                foreach (var b in m.Brackets)
                {
                    w.WriteStartObject();
                    w.WriteString("floor", D(b.Floor));
                    w.WriteString("mmr", D(b.Mmr));
                    w.WriteString("imr", D(b.Imr));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartArray("collateral");
            foreach (var c in s.Config.Collateral)
            {
                w.WriteStartObject();
                w.WriteString("asset", c.Asset);
                w.WriteString("weight", D(c.Weight));
                if (c.PriceMarket is { } pm)
                {
                    w.WriteString("priceMarket", pm);
                }

                w.WriteString("liquidationDiscount", D(c.LiquidationDiscount));
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("risk");
            w.WriteString("marginCallRatio", D(s.Config.Risk.MarginCallRatio));
            w.WriteString("liquidationTargetRatio", D(s.Config.Risk.LiquidationTargetRatio));
            w.WriteEndObject();
            w.WriteString("insuranceFund", D(s.InsuranceFund));
            w.WriteStartArray("accounts");
            foreach (var a in s.Accounts)
            {
                w.WriteStartObject();
                w.WriteString("id", a.Id);
                w.WriteStartObject("collateral");
                foreach (var (asset, q) in a.Seed.Collateral.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    w.WriteString(asset, D(q));
                }

                w.WriteEndObject();
                w.WriteStartArray("positions");
                foreach (var p in a.Seed.Positions)
                {
                    w.WriteStartObject();
                    w.WriteString("market", p.Market);
                    w.WriteString("size", D(p.Size));
                    w.WriteString("entryPrice", D(p.EntryPrice));
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("initialPrices");
            foreach (var (market, price) in s.InitialPrices)
            {
                w.WriteString(market, D(price));
            }

            w.WriteEndObject();
            w.WriteStartArray("steps");
            foreach (var step in s.Steps)
            {
                w.WriteStartObject();
                switch (step)
                {
                    case PriceStep p:
                        w.WriteString("market", p.Market);
                        w.WriteString("price", D(p.Price));
                        break;
                    case FillStep f:
                        w.WriteStartObject("fill");
                        w.WriteString("account", f.Account);
                        w.WriteString("market", f.Market);
                        w.WriteString("size", D(f.Size));
                        w.WriteString("price", D(f.Price));
                        w.WriteEndObject();
                        break;
                    case DepositStep d:
                        WriteTransfer(w, "deposit", d.Account, d.Asset, d.Quantity);
                        break;
                    case WithdrawStep x:
                        WriteTransfer(w, "withdraw", x.Account, x.Asset, x.Quantity);
                        break;
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + "\n";
    }

    /// <summary>One line per step, for test output.</summary>
    public static string Describe(ScenarioStep step) => step switch
    {
        PriceStep p => $"price {p.Market} {D(p.Price)}",
        FillStep f => $"fill {f.Account} {f.Market} {D(f.Size)} @ {D(f.Price)}",
        DepositStep d => $"deposit {d.Account} {D(d.Quantity)} {d.Asset}",
        WithdrawStep w => $"withdraw {w.Account} {D(w.Quantity)} {w.Asset}",
        _ => step.ToString()!,
    };

    private static void WriteTransfer(Utf8JsonWriter w, string kind, string account, string asset, decimal quantity)
    {
        w.WriteStartObject(kind);
        w.WriteString("account", account);
        w.WriteString("asset", asset);
        w.WriteString("quantity", D(quantity));
        w.WriteEndObject();
    }

    private static string D(decimal d) => d.ToString(CultureInfo.InvariantCulture);
}
