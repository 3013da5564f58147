using System.Globalization;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Metrics;
using Prometheus;
using Xunit;

namespace MarginGrid.Host.Tests.Metrics;

/// <summary>
/// The v3 metrics of <see cref="PrometheusGridObserver"/>: value recovered by takes vs. the fallback sale (the collateral
/// sale of the same account and asset right after its <c>auction_end</c>), ADL closes and amount, socialized loss, the
/// running auctions and their durations.
/// </summary>
public sealed class AuctionMetricsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Takes_and_fallback_sales_are_told_apart_and_adl_and_socialized_amounts_are_counted()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var observer = new PrometheusGridObserver(Prometheus.Metrics.WithCustomRegistry(registry));
        GridEvent E(GridEventType type, string account) => new(type, account, "s", Now);

        observer.MarketPriced("BTC-USD", 1m, false, false, new Dictionary<string, decimal>());
        observer.EventEmitted(E(GridEventType.AuctionStart, "a") with { Asset = "ETH", Quantity = 2m, Price = 2200m, Tab = 3700m });
        observer.EventEmitted(E(GridEventType.AuctionTake, "a") with { Asset = "ETH", Quantity = 0.5m, Price = 2000m, Liquidator = "l" });
        // A take that pays the debt ends the auction; the next asset's sale is not a fallback.
        observer.EventEmitted(E(GridEventType.AuctionEnd, "a") with { Asset = "ETH", Quantity = 1m });
        observer.EventEmitted(E(GridEventType.CollateralLiquidation, "a") with { Asset = "BTC", Quantity = 0.01m, Price = 50000m, Discount = 10m });
        // An expired auction: its lot sold to the system right after its end.
        observer.EventEmitted(E(GridEventType.AuctionStart, "b") with { Asset = "ETH", Quantity = 1.5m, Price = 2200m, Tab = 2920m });
        observer.EventEmitted(E(GridEventType.AuctionEnd, "b") with { Asset = "ETH", Quantity = 1.5m });
        observer.EventEmitted(E(GridEventType.CollateralLiquidation, "b") with { Asset = "ETH", Quantity = 1.5m, Price = 2000m, Discount = 90m });
        observer.EventEmitted(E(GridEventType.Bankruptcy, "b") with { Deficit = 100m, InsuranceCovered = 60m, Socialized = 15m, AdlRecovered = 25m });
        observer.EventEmitted(E(GridEventType.Adl, "c") with { Market = "BTC-USD", Quantity = 0.1m, Price = 51000m, Counterparty = "b" });
        observer.AuctionsRunning(1);
        observer.AuctionEnded(TimeSpan.FromSeconds(45));

        var text = await ScrapeAsync(registry);

        Assert.Equal(1000m, Value(text, """margingrid_auction_recovered_usd_total{asset="ETH",via="take"}"""));
        Assert.Equal(2910m, Value(text, """margingrid_auction_recovered_usd_total{asset="ETH",via="fallback"}"""));
        Assert.Equal(1m, Value(text, """margingrid_auction_fallback_sales_total{asset="ETH"}"""));
        Assert.Equal(2m, Value(text, """margingrid_auction_starts_total{asset="ETH"}"""));
        Assert.Equal(1m, Value(text, """margingrid_auction_takes_total{asset="ETH"}"""));
        Assert.Equal(1m, Value(text, """margingrid_adl_closes_total{market="BTC-USD"}"""));
        Assert.Equal(25m, Value(text, "margingrid_adl_recovered_usd_total"));
        Assert.Equal(15m, Value(text, "margingrid_socialized_loss_usd_total"));
        Assert.Equal(1m, Value(text, "margingrid_auctions_running"));
        Assert.Equal(1m, Value(text, "margingrid_auction_duration_seconds_count"));
        Assert.Equal(45m, Value(text, "margingrid_auction_duration_seconds_sum"));
    }

    [Fact]
    public async Task The_fallback_and_adl_series_exist_at_zero_before_their_first_event()
    {
        var registry = Prometheus.Metrics.NewCustomRegistry();
        var observer = new PrometheusGridObserver(Prometheus.Metrics.WithCustomRegistry(registry));

        observer.MarketPriced("ETH-USD", 1m, false, false, new Dictionary<string, decimal>());
        observer.EventEmitted(new GridEvent(GridEventType.AuctionStart, "a", "s", Now) { Asset = "SOL", Quantity = 1m, Price = 10m, Tab = 5m });

        var text = await ScrapeAsync(registry);
        Assert.Equal(0m, Value(text, """margingrid_adl_closes_total{market="ETH-USD"}"""));
        Assert.Equal(0m, Value(text, """margingrid_auction_fallback_sales_total{asset="SOL"}"""));
    }

    private static async Task<string> ScrapeAsync(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static decimal Value(string text, string series)
    {
        var line = text.Split('\n').SingleOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.True(line is not null, $"no series {series} in:\n{text}");
        return decimal.Parse(line[(series.Length + 1)..].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}
