using System.Collections.Immutable;
using System.Diagnostics;
using MarginGrid.Domain;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.MarketState")]
public sealed class MarketState
{
    [Id(0)] public long Sequence { get; set; }
    [Id(1)] public decimal Price { get; set; }
    [Id(2)] public DateTimeOffset Timestamp { get; set; }
    [Id(3)] public string? Source { get; set; }

    // Id 4 held the sources' latest prices in an earlier format; it is not reused.

    /// <summary>The domain's price state (sources, held price, returns), stored through <see cref="MarketPricingSurrogate"/>.</summary>
    [Id(5)] public MarketPriceSnapshot? Pricing { get; set; }

    /// <summary>The margin multiplier k of the current mark.</summary>
    [Id(6)] public decimal Multiplier { get; set; } = 1m;

    /// <summary>The audit outbox (<see cref="MarketAudit"/>): the number of the last keyed record, and those not confirmed.</summary>
    [Id(7)] public long AuditSequence { get; set; }

    [Id(8)] public List<GridAuditEntry>? AuditPending { get; set; }
}

[GenerateSerializer, Alias("mg.MarketPricing")]
public struct MarketPricingSurrogate
{
    [Id(0)] public string Market;
    [Id(1)] public decimal? Mark;
    [Id(2)] public decimal? Held;
    [Id(3)] public (string Source, decimal Price, DateTimeOffset Time)[] Sources;
    [Id(4)] public decimal[] Returns;
}

[RegisterConverter]
public sealed class MarketPricingConverter : IConverter<MarketPriceSnapshot, MarketPricingSurrogate>
{
    public MarketPriceSnapshot ConvertFromSurrogate(in MarketPricingSurrogate s) =>
        new(s.Market, s.Mark, s.Held, [.. (s.Sources ?? []).Select(x => new SourcePriceSnapshot(x.Source, x.Price, x.Time))], s.Returns ?? []);

    public MarketPricingSurrogate ConvertToSurrogate(in MarketPriceSnapshot v) => new()
    {
        Market = v.Market,
        Mark = v.Mark,
        Held = v.Held,
        Sources = [.. v.Sources.Select(x => (x.Source, x.Price, x.Time))],
        Returns = [.. v.Returns],
    };
}

/// <summary>
/// One market: guards and sequences its prices, fans each tick out to the holder shards, and hands the step's reports
/// to the coordinator. Steps of one market run one at a time, in order; prices that arrive while a step runs are
/// conflated into the next one (published sequentially, every price is a step of its own).
/// </summary>
public sealed class MarketGrain(
    [PersistentState("market", GridProviders.Storage)] IPersistentState<MarketState> state,
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer,
    GridClock clock,
    ILogger<MarketGrain> logger)
    : Grain, IMarketGrain, IMarketAuditGrain, IRemindable
{
    private readonly int _shards = options.Value.ShardsPerMarket;

    private MarketAudit? _audit;

    /// <summary>The market's audit records (prices, market events) and their outbox.</summary>
    private MarketAudit Audit => _audit ??= new(this, Symbol, state, observer, options.Value, logger);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        Audit.OfferAll(); // the audit records a crash may have lost on their way to PostgreSQL
        return Task.CompletedTask;
    }

    public Task AuditedAsync(ImmutableArray<string> keys)
    {
        Audit.Audited(keys);
        return Task.CompletedTask;
    }

    public Task ReceiveReminder(string reminderName, TickStatus status) => Audit.TickAsync(reminderName);

    /// <summary>The domain's price state: sources, oracle guard, circuit breaker, volatility (persisted with each step).</summary>
    private MarketPriceState? _pricing;

    /// <summary>Steps of this market, one at a time; prices arriving meanwhile wait together for the next.</summary>
    private StepConflator<Received, StepOutcome>? _steps;

    private string Symbol => this.GetPrimaryKeyString();

    private Task<TickDelivery[]> DeliverToShardsAsync(MarketTick tick)
    {
        var deliveries = new Task<TickDelivery>[_shards];
        for (var k = 0; k < _shards; k++)
        {
            deliveries[k] = GrainFactory.Ref<IMarketShardGrain>(StableHash.ShardKey(Symbol, k)).DeliverAsync(tick);
        }

        return Task.WhenAll(deliveries);
    }

    public async Task<MarkPrice?> GetMarkAsync()
    {
        if (state.State.Sequence == 0)
        {
            return null;
        }

        var stale = false;
        if (state.State.Pricing is not null)
        {
            var (config, _) = await configs.GetAsync();
            stale = config.TryGetMarket(Symbol, out var spec) && Pricing(spec).IsStale(clock.UtcNow);
        }

        return new MarkPrice(Symbol, state.State.Sequence, state.State.Price, state.State.Timestamp) { Multiplier = state.State.Multiplier, Stale = stale };
    }

    public async Task<MarketView> GetViewAsync()
    {
        var (config, _) = await configs.GetAsync();
        if (!config.TryGetMarket(Symbol, out var spec))
        {
            (config, _) = await configs.RefreshAsync();
            spec = config.TryGetMarket(Symbol, out var s) ? s : throw new ArgumentException($"unknown market '{Symbol}'");
        }

        var pricing = Pricing(spec);
        var now = clock.UtcNow;
        return new MarketView(
            Symbol,
            state.State.Sequence,
            state.State.Sequence == 0 ? null : state.State.Price,
            [.. pricing.Sources.OrderBy(s => s.Key, StringComparer.Ordinal)
                .Select(s => new SourceView(s.Key, s.Value.Price, MarketPriceState.AgeSeconds(now, s.Value.Timestamp)))],
            pricing.Held,
            pricing.IsStale(now),
            state.State.Multiplier,
            spec.LiquidationCap);
    }

    public async Task<StepOutcome> PublishPriceAsync(PriceUpdate update)
    {
        if (update.Price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(update), $"price of {Symbol} must be positive, got {update.Price}");
        }

        var (config, _) = await configs.GetAsync();
        if (!config.TryGetMarket(Symbol, out _))
        {
            (config, _) = await configs.RefreshAsync();
            if (!config.TryGetMarket(Symbol, out _))
            {
                throw new ArgumentException($"unknown market '{Symbol}'", nameof(update));
            }
        }

        // Conflation: the update joins the next step. While a step runs, every update that arrives is folded into the
        // one after it, which decides at the newest mark; each caller gets the outcome of the step that included it.
        // Freshness is measured on the engine's clock at receipt, never on the time the feed claims.
        _steps ??= new StepConflator<Received, StepOutcome>(StepAsync);
        return await _steps.SubmitAsync(new Received(update, clock.UtcNow));
    }

    /// <summary>
    /// A step, reported to the cluster's <see cref="IGridHealthGrain"/>: an evaluating step that settled, or a failure
    /// (<c>/health/ready</c> names a market whose steps keep failing, or whose accounts cannot be evaluated).
    /// </summary>
    private async Task<StepOutcome> StepAsync(IReadOnlyList<Received> updates)
    {
        var health = GrainFactory.GetGrain<IGridHealthGrain>(0);
        StepOutcome outcome;
        try
        {
            outcome = await SettleStepAsync(updates);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await ReportAsync(() => health.StepFailed(Symbol, $"{e.GetType().Name}: {e.Message}"));
            throw;
        }

        // A price step that asked for evaluation (not a stale or held price, which evaluates nobody).
        if (updates.Any(u => u.Update.Evaluate) && MarketSettlement.TryParseStep(outcome.Step, out _, out var sequence))
        {
            await ReportAsync(() => health.StepSettled(Symbol, sequence));
        }

        return outcome;
    }

    /// <summary>A one-way health report: it never fails the step it reports on.</summary>
    private static async Task ReportAsync(Func<Task> report)
    {
        try
        {
            await report();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Best effort: the next step reports again.
        }
    }

    private async Task<StepOutcome> SettleStepAsync(IReadOnlyList<Received> updates)
    {
        var evaluate = updates.Any(u => u.Update.Evaluate); // only seeding prices do not ask for evaluation
        var newest = updates.MaxBy(u => u.Update.Timestamp)!.Update; // its timestamp and source are the tick's
        var started = Stopwatch.GetTimestamp();
        var (config, version) = await configs.GetAsync();
        var pricing = Pricing(config.Market(Symbol));

        // v3: at the start of the step (its time applied, its price not yet), every expired auction ends, by account id.
        var auctions = ImmutableArray<GridEvent>.Empty;
        if (evaluate && config.Collateral.Any(c => c.Auction is not null))
        {
            var auctionStep = $"{Symbol}#{state.State.Sequence + 1}/auctions";
            var ended = await GrainFactory.GetGrain<IAuctionHouseGrain>(0).EndExpiredAsync(auctionStep, except: null);
            auctions = [.. ended.SelectMany(a => a.Events).Select(e => e.ToGrid(auctionStep, clock.UtcNow))];
        }

        PriceStepOutcome? outcome = null;
        var guarded = new List<ModelEvent>();
        foreach (var (update, receivedAt) in updates)
        {
            outcome = update.Evaluate || state.State.Sequence > 0 && pricing.Mark is not null
                ? pricing.Apply(update.Source, update.Price, receivedAt)
                : pricing.SetInitial(update.Price, receivedAt, update.Source);
            if (outcome.Event is { } e)
            {
                guarded.Add(e);
            }
        }

        state.State.Pricing = pricing.Snapshot();
        var pricedAt = clock.UtcNow;
        observer.MarketPriced(
            Symbol,
            pricing.Multiplier,
            pricing.Held is not null,
            outcome?.Kind == PriceStepKind.Stale || pricing.IsStale(pricedAt),
            pricing.Sources.ToDictionary(s => s.Key, s => MarketPriceState.AgeSeconds(pricedAt, s.Value.Timestamp), StringComparer.Ordinal));
        if (outcome is not { GoesOn: true, Mark: { } mark })
        {
            // price_stale or price_held: the mark is unchanged and nobody is evaluated.
            var step = $"{Symbol}#{state.State.Sequence}/{(outcome?.Kind ?? PriceStepKind.Stale).ToString().ToLowerInvariant()}";
            var ended = await Audit.WriteAsync(Audited(updates), step, [.. guarded.Select(e => e.ToGrid(step, clock.UtcNow))]);
            await this.AnnounceAsync(observer, ended);
            return Audit.Offer(new StepOutcome(step, [.. auctions, .. ended], 0));
        }

        state.State.Sequence++;
        state.State.Price = mark;
        state.State.Multiplier = pricing.Multiplier;
        state.State.Timestamp = newest.Timestamp;
        state.State.Source = newest.Source;
        var stepId = $"{Symbol}#{state.State.Sequence}";
        var held = await Audit.WriteAsync(Audited(updates), stepId, [.. guarded.Select(e => e.ToGrid(stepId, clock.UtcNow))]);

        var tick = new MarketTick(Symbol, state.State.Sequence, mark, newest.Timestamp, evaluate, version) { Multiplier = pricing.Multiplier };
        // The step's id travels in the tick, not in RequestContext: Orleans deep-copies a request context into every
        // message of the call chain (mark reads, bands), which cost 7 % of a 100k crash's CPU.
        var reports = await DeliverToShardsAsync(tick);
        if (!evaluate)
        {
            return Audit.Offer(StepOutcome.Empty(tick.StepId));
        }

        var notable = reports.SelectMany(r => r.Reports).ToImmutableArray();
        // The coordinator sequences the step (decision, begun liquidations, the fund's charges in order, ADL); the
        // accounts' completions run here, while the coordinator takes the next market's step.
        // Its liquidation batches are audited by the insurance fund's outbox, written with the step's charges.
        var sequenced = await GrainFactory.GetGrain<ILiquidationCoordinatorGrain>(0).SequenceAsync(tick.StepId, notable, priceStep: true, version);
        var events = await Settlements.CompleteAsync(GrainFactory, sequenced, logger);
        var evaluated = reports.Sum(r => r.Evaluated);
        observer.TickSettled(Symbol, evaluated, Stopwatch.GetElapsedTime(started), tick.Timestamp);
        await this.AnnounceAsync(observer, held);
        return Audit.Offer(new StepOutcome(tick.StepId, [.. auctions, .. held, .. events], evaluated)
        {
            Delivered = reports.Sum(r => r.Delivered),
        });
    }

    private MarketPriceState Pricing(MarketSpec spec)
    {
        if (_pricing is null)
        {
            _pricing = state.State.Pricing is { } snapshot ? MarketPriceState.Restore(spec, snapshot) : new MarketPriceState(spec);
        }
        else if (!ReferenceEquals(_pricing.Spec, spec))
        {
            _pricing.Reconfigure(spec);
        }

        return _pricing;
    }

    private static IEnumerable<(PriceUpdate, DateTimeOffset)> Audited(IReadOnlyList<Received> updates) => updates.Select(u => (u.Update, u.ReceivedAt));

    /// <summary>A price and the engine's time at which it was received.</summary>
    private readonly record struct Received(PriceUpdate Update, DateTimeOffset ReceivedAt);
}
