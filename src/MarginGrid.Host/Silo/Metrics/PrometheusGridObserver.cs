using System.Text.Json;
using MarginGrid.Domain;
using MarginGrid.Grains;
using Prometheus;

namespace MarginGrid.Host.Silo.Metrics;

/// <summary>What this silo's grains report, as Prometheus metrics (names <c>margingrid_*</c>, units in names).</summary>
public sealed class PrometheusGridObserver : IGridObserver
{
    private static readonly string[] StatusNames = [.. Enum.GetValues<RiskStatus>().Select(Label)];

    /// <summary>The account commands and their outcomes, exported at zero from the start so that rates exist.</summary>
    public static readonly string[] CommandTypes = ["deposit", "withdrawal", "fill", "bid"];

    /// <summary><c>error</c>: the command failed (storage, timeout) and the client got a 5xx, counted by the HTTP API.</summary>
    public static readonly string[] CommandOutcomes = ["accepted", "rejected", "duplicate", "error"];

    private readonly Counter _ticks;
    private readonly Counter _evaluations;
    private readonly Histogram _decision;
    private readonly Counter _marginCalls;
    private readonly Counter _liquidations;
    private readonly Counter _liquidatedNotional;
    private readonly Counter _collateralLiquidations;
    private readonly Counter _bankruptcies;
    private readonly Gauge _fund;
    private readonly Gauge _fundPeak;
    private readonly Gauge _socialized;
    private readonly Gauge _accounts;
    private readonly Gauge _queueDepth;
    private readonly Counter _commands;
    private readonly Counter _evaluationFailures;
    private readonly Gauge _lastTick;
    private readonly Gauge _sourceAge;
    private readonly Gauge _priceHeld;
    private readonly Gauge _marketStale;
    private readonly Gauge _multiplier;
    private readonly Counter _deferred;
    private readonly Counter _nettedVolume;
    private readonly Counter _residualVolume;
    private readonly Gauge _impact;
    private readonly Gauge _auctionsRunning;
    private readonly Histogram _auctionDuration;
    private readonly Counter _auctionStarts;
    private readonly Counter _auctionTakes;
    private readonly Counter _auctionRecovered;
    private readonly Counter _auctionFallbacks;
    private readonly Counter _adlCloses;
    private readonly Counter _adlRecovered;
    private readonly Counter _socializedTotal;

    /// <summary>
    /// Accounts whose last event on this silo was an <c>auction_end</c>, and its asset: the collateral sale of that asset
    /// that follows it at once is the sale of the expired lot to the system (the fallback). An account's events of one
    /// step are emitted together, in order, by its one activation.
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _justEnded = new(StringComparer.Ordinal);

    public PrometheusGridObserver(IMetricFactory? factory = null)
    {
        var metrics = factory ?? Prometheus.Metrics.WithCustomRegistry(Prometheus.Metrics.DefaultRegistry);
        _ticks = metrics.CreateCounter("margingrid_ticks_total", "Price ticks settled, by market.", ["market"]);
        _evaluations = metrics.CreateCounter("margingrid_account_evaluations_total", "Account health evaluations.");
        _decision = metrics.CreateHistogram(
            "margingrid_tick_decision_seconds",
            "Time from a price reaching its market to the step's decisions (margin calls, liquidations), by market.",
            new HistogramConfiguration
            {
                LabelNames = ["market"],
                Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16),
            });
        _marginCalls = metrics.CreateCounter("margingrid_margin_calls_total", "Margin calls emitted, by account status.", ["status"]);
        _liquidations = metrics.CreateCounter("margingrid_liquidations_total", "Position close-outs, by market.", ["market"]);
        _liquidatedNotional = metrics.CreateCounter(
            "margingrid_liquidated_notional_usd_total", "Notional closed out in liquidations (|quantity| x price), by market.", ["market"]);
        _collateralLiquidations = metrics.CreateCounter(
            "margingrid_collateral_liquidations_total", "Collateral sold in liquidations, by asset.", ["asset"]);
        _bankruptcies = metrics.CreateCounter("margingrid_bankruptcies_total", "Liquidations that ended with a deficit.");
        _fund = metrics.CreateGauge("margingrid_insurance_fund_usd", "Insurance fund balance.");
        _fundPeak = metrics.CreateGauge("margingrid_insurance_fund_peak_usd", "Highest insurance fund balance so far.");
        _socialized = metrics.CreateGauge("margingrid_socialized_loss_usd", "Cumulative loss the insurance fund could not cover.");
        _accounts = metrics.CreateGauge("margingrid_accounts", "Accounts active on this silo, by status.", ["status"]);
        _queueDepth = metrics.CreateGauge("margingrid_liquidation_queue_depth", "Accounts waiting in the liquidation coordinator.");
        _commands = metrics.CreateCounter("margingrid_commands_total", "Account commands, by type and outcome.", ["type", "outcome"]);
        _evaluationFailures = metrics.CreateCounter(
            "margingrid_evaluation_failures_total", "Accounts that could not take a step (evaluation error, storage failure); the step went on without them.");
        _lastTick = metrics.CreateGauge(
            "margingrid_market_last_tick_timestamp_seconds", "Timestamp of the last settled tick, by market (Unix seconds).", ["market"]);
        _sourceAge = metrics.CreateGauge(
            "margingrid_price_source_age_seconds", "Age of each source's latest price at the market's last price step, by market and source.", ["market", "source"]);
        _priceHeld = metrics.CreateGauge("margingrid_price_held", "1 while the market's circuit breaker holds a price, else 0, by market.", ["market"]);
        _marketStale = metrics.CreateGauge("margingrid_market_stale", "1 while the market's price is stale, else 0, by market.", ["market"]);
        _multiplier = metrics.CreateGauge("margingrid_margin_multiplier", "The market's volatility margin multiplier k, by market.", ["market"]);
        _deferred = metrics.CreateCounter(
            "margingrid_liquidations_deferred_total", "Account liquidations deferred, by reason (cap: queued; stale: nothing done).", ["reason"]);
        _nettedVolume = metrics.CreateCounter(
            "margingrid_liquidation_netted_volume_total", "Liquidation volume netted between buys and sells in batches, by market.", ["market"]);
        _residualVolume = metrics.CreateCounter(
            "margingrid_liquidation_residual_volume_total", "Liquidation residual volume |buys - sells| executed at the impact price, by market.", ["market"]);
        _impact = metrics.CreateGauge(
            "margingrid_liquidation_impact_ratio", "Price impact |p* / mark - 1| of the market's last liquidation batch, by market.", ["market"]);

        _auctionsRunning = metrics.CreateGauge(
            "margingrid_auctions_running", "v3: Dutch auctions running now (reported by the silo that hosts the auction house; 0 elsewhere).");
        _auctionDuration = metrics.CreateHistogram(
            "margingrid_auction_duration_seconds",
            "v3: how long Dutch auctions ran, from auction_start to auction_end, on the engine's clock.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 14) });
        _auctionStarts = metrics.CreateCounter("margingrid_auction_starts_total", "v3: Dutch auctions started, by asset.", ["asset"]);
        _auctionTakes = metrics.CreateCounter("margingrid_auction_takes_total", "v3: purchases by liquidators from Dutch auctions, by asset.", ["asset"]);
        _auctionRecovered = metrics.CreateCounter(
            "margingrid_auction_recovered_usd_total",
            "v3: USD recovered from auctioned lots, by asset and how: take (paid by liquidators, quantity x price) or fallback (the expired lot sold to the system, proceeds after the discount).",
            ["asset", "via"]);
        _auctionFallbacks = metrics.CreateCounter(
            "margingrid_auction_fallback_sales_total", "v3: expired Dutch auctions whose lot was sold to the system (the fallback), by asset.", ["asset"]);
        _adlCloses = metrics.CreateCounter("margingrid_adl_closes_total", "v3: auto-deleveraging closes of counterparties, by market.", ["market"]);
        _adlRecovered = metrics.CreateCounter(
            "margingrid_adl_recovered_usd_total", "v3: bankruptcy deficits recovered by auto-deleveraging instead of being socialized (USD).");
        _socializedTotal = metrics.CreateCounter(
            "margingrid_socialized_loss_usd_total", "Bankruptcy deficits socialized (neither the insurance fund nor auto-deleveraging covered them), as counted from bankruptcy events.");

        foreach (var status in StatusNames)
        {
            _accounts.WithLabels(status);
        }

        _marginCalls.WithLabels(Label(RiskStatus.MarginCall));
        _deferred.WithLabels(DeferReasons.Cap);
        _deferred.WithLabels(DeferReasons.Stale);
        foreach (var type in CommandTypes)
        {
            foreach (var outcome in CommandOutcomes)
            {
                _commands.WithLabels(type, outcome);
            }
        }
    }

    public void TickSettled(string market, int evaluated, TimeSpan decision, DateTimeOffset tickTimestamp)
    {
        _ticks.WithLabels(market).Inc();
        _decision.WithLabels(market).Observe(decision.TotalSeconds);
        _lastTick.WithLabels(market).Set(tickTimestamp.ToUnixTimeMilliseconds() / 1000d);
    }

    public void Evaluated(int accounts) => _evaluations.Inc(accounts);

    public void EventEmitted(GridEvent gridEvent)
    {
        var fallback = gridEvent.Account is { } account && _justEnded.TryRemove(account, out var endedAsset)
            && gridEvent.Type == GridEventType.CollateralLiquidation && gridEvent.Asset == endedAsset;
        switch (gridEvent.Type)
        {
            case GridEventType.MarginCall:
                _marginCalls.WithLabels(Label(gridEvent.Status ?? RiskStatus.MarginCall)).Inc();
                break;
            case GridEventType.Liquidation:
                var market = gridEvent.Market ?? "unknown";
                _liquidations.WithLabels(market).Inc();
                _liquidatedNotional.WithLabels(market).Inc((double)Math.Abs((gridEvent.Quantity ?? 0m) * (gridEvent.Price ?? 0m)));
                break;
            case GridEventType.CollateralLiquidation:
                _collateralLiquidations.WithLabels(gridEvent.Asset ?? "unknown").Inc();
                _auctionFallbacks.WithLabels(gridEvent.Asset ?? "unknown"); // an asset sold to the system: its fallback series exists (at zero) too
                if (fallback)
                {
                    var sold = (gridEvent.Quantity ?? 0m) * (gridEvent.Price ?? 0m) - (gridEvent.Discount ?? 0m);
                    _auctionFallbacks.WithLabels(gridEvent.Asset!).Inc();
                    _auctionRecovered.WithLabels(gridEvent.Asset!, "fallback").Inc((double)sold);
                }

                break;
            case GridEventType.Bankruptcy:
                _bankruptcies.Inc();
                _adlRecovered.Inc((double)(gridEvent.AdlRecovered ?? 0m));
                _socializedTotal.Inc((double)(gridEvent.Socialized ?? 0m));
                break;
            case GridEventType.AuctionStart:
                _auctionStarts.WithLabels(gridEvent.Asset ?? "unknown").Inc();
                _auctionFallbacks.WithLabels(gridEvent.Asset ?? "unknown"); // at zero before its first fallback: increase() sees it
                _auctionRecovered.WithLabels(gridEvent.Asset ?? "unknown", "take");
                _auctionRecovered.WithLabels(gridEvent.Asset ?? "unknown", "fallback");
                break;
            case GridEventType.AuctionTake:
                _auctionTakes.WithLabels(gridEvent.Asset ?? "unknown").Inc();
                _auctionRecovered.WithLabels(gridEvent.Asset ?? "unknown", "take").Inc((double)((gridEvent.Quantity ?? 0m) * (gridEvent.Price ?? 0m)));
                break;
            case GridEventType.AuctionEnd:
                if (gridEvent.Account is { } ended && gridEvent.Asset is { } asset)
                {
                    _justEnded[ended] = asset;
                }

                break;
            case GridEventType.Adl:
                _adlCloses.WithLabels(gridEvent.Market ?? "unknown").Inc();
                break;
            case GridEventType.Rejected:
            default:
                break;
        }
    }

    public void StatusChanged(RiskStatus? from, RiskStatus? to)
    {
        if (from is { } f)
        {
            _accounts.WithLabels(Label(f)).Dec();
        }

        if (to is { } t)
        {
            _accounts.WithLabels(Label(t)).Inc();
        }
    }

    public void FundChanged(FundView fund)
    {
        _fund.Set((double)fund.InsuranceFund);
        _fundPeak.Set((double)fund.PeakInsuranceFund);
        _socialized.Set((double)fund.SocializedLoss);
    }

    public void LiquidationQueue(int depth) => _queueDepth.Set(depth);

    public void Command(string type, string outcome) => _commands.WithLabels(type, outcome).Inc();

    public void EvaluationFailed(string account, string? step) => _evaluationFailures.Inc();

    public void MarketPriced(string market, decimal multiplier, bool held, bool stale, IReadOnlyDictionary<string, decimal> sourceAgeSeconds)
    {
        _multiplier.WithLabels(market).Set((double)multiplier);
        _priceHeld.WithLabels(market).Set(held ? 1 : 0);
        _marketStale.WithLabels(market).Set(stale ? 1 : 0);

        // A market's batch series exist (at zero) from its first price on, not only after its first netted batch.
        _nettedVolume.WithLabels(market);
        _adlCloses.WithLabels(market);
        _residualVolume.WithLabels(market);
        _impact.WithLabels(market);
        foreach (var (source, age) in sourceAgeSeconds)
        {
            _sourceAge.WithLabels(market, source).Set((double)age);
        }
    }

    public void LiquidationDeferred(string reason) => _deferred.WithLabels(reason).Inc();

    public void LiquidationBatch(string market, decimal netted, decimal residual, decimal impact)
    {
        _nettedVolume.WithLabels(market).Inc((double)Math.Abs(netted));
        _residualVolume.WithLabels(market).Inc((double)Math.Abs(residual));
        _impact.WithLabels(market).Set((double)impact);
    }

    public void AuctionsRunning(int count) => _auctionsRunning.Set(count);

    public void AuctionEnded(TimeSpan duration) => _auctionDuration.Observe(Math.Max(0, duration.TotalSeconds));

    private static string Label(RiskStatus status) => JsonNamingPolicy.SnakeCaseLower.ConvertName(status.ToString());
}
