using System.Collections.Immutable;
using System.Diagnostics;
using MarginGrid.Domain;
using Microsoft.Extensions.Options;

namespace MarginGrid.Grains;

[GenerateSerializer, Alias("mg.MarketState")]
public sealed class MarketState
{
    [Id(0)] public long Sequence { get; set; }
    [Id(1)] public decimal Price { get; set; }
    [Id(2)] public DateTimeOffset Timestamp { get; set; }
    [Id(3)] public string? Source { get; set; }

    /// <summary>The latest price of every source, from which the mark is aggregated.</summary>
    [Id(4)] public Dictionary<string, SourceQuote> Sources { get; set; } = [];
}

[GenerateSerializer, Immutable, Alias("mg.SourceQuote")]
public sealed record SourceQuote([property: Id(0)] decimal Price, [property: Id(1)] DateTimeOffset Timestamp);

/// <summary>
/// One market: guards and sequences its prices, fans each tick out to the holder shards, and hands the step's reports
/// to the coordinator. Steps of one market run one at a time, in order; prices that arrive while a step runs are
/// conflated into the next one (published sequentially, every price is a step of its own).
/// </summary>
public sealed class MarketGrain(
    [PersistentState("market", GridProviders.Storage)] IPersistentState<MarketState> state,
    RiskConfigProvider configs,
    IOptions<GridOptions> options,
    IGridObserver observer)
    : Grain, IMarketGrain
{
    private readonly int _shards = options.Value.ShardsPerMarket;
    private readonly TimeSpan _freshness = options.Value.PriceSourceFreshness;


    /// <summary>The latest price of every source (the state's copy is written with each step).</summary>
    private PriceBoard? _board;

    /// <summary>Steps of this market, one at a time; prices arriving meanwhile wait together for the next.</summary>
    private StepConflator<PriceUpdate, StepOutcome>? _steps;

    private string Symbol => this.GetPrimaryKeyString();

    private Task<TickDelivery[]> DeliverToShardsAsync(MarketTick tick)
    {
        var deliveries = new Task<TickDelivery>[_shards];
        for (var k = 0; k < _shards; k++)
        {
            deliveries[k] = GrainFactory.GetGrain<IMarketShardGrain>(StableHash.ShardKey(Symbol, k)).DeliverAsync(tick);
        }

        return Task.WhenAll(deliveries);
    }

    public Task<MarkPrice?> GetMarkAsync() =>
        Task.FromResult(state.State.Sequence == 0
            ? null
            : new MarkPrice(Symbol, state.State.Sequence, state.State.Price, state.State.Timestamp));

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

        _board ??= RestoreBoard();
        if (!_board.Update(update.Source, update.Price, update.Timestamp))
        {
            return StepOutcome.Empty($"{Symbol}#stale"); // older than this source's last price: superseded
        }

        // Conflation: the update joins the next step. While a step runs, every update that arrives is folded into the
        // one after it, which decides at the newest mark; each caller gets the outcome of the step that included it.
        _steps ??= new StepConflator<PriceUpdate, StepOutcome>(StepAsync);
        return await _steps.SubmitAsync(update);
    }

    private async Task<StepOutcome> StepAsync(IReadOnlyList<PriceUpdate> updates)
    {
        var evaluate = updates.Any(u => u.Evaluate); // only seeding prices do not ask for evaluation
        var newest = updates.MaxBy(u => u.Timestamp)!; // its timestamp and source are the tick's
        var started = Stopwatch.GetTimestamp();
        var (_, version) = await configs.GetAsync();
        var board = _board!;
        var mark = board.Mark()!.Value;
        state.State.Sources = board.Latest.ToDictionary(q => q.Key, q => new SourceQuote(q.Value.Price, q.Value.Timestamp), StringComparer.Ordinal);
        if (state.State.Sequence > 0 && mark == state.State.Price && evaluate)
        {
            await state.WriteStateAsync(); // e.g. one source out of line with the others: the median did not move
            return StepOutcome.Empty($"{Symbol}#{state.State.Sequence}");
        }

        state.State.Sequence++;
        state.State.Price = mark;
        state.State.Timestamp = newest.Timestamp;
        state.State.Source = newest.Source;
        await state.WriteStateAsync();

        var tick = new MarketTick(Symbol, state.State.Sequence, mark, newest.Timestamp, evaluate, version);
        var reports = await DeliverToShardsAsync(tick);
        if (!evaluate)
        {
            return StepOutcome.Empty(tick.StepId);
        }

        var notable = reports.SelectMany(r => r.Reports).ToImmutableArray();
        var events = notable.IsEmpty
            ? []
            : await GrainFactory.GetGrain<ILiquidationCoordinatorGrain>(0).SettleAsync(tick.StepId, notable);
        var evaluated = reports.Sum(r => r.Evaluated);
        observer.TickSettled(Symbol, evaluated, Stopwatch.GetElapsedTime(started), tick.Timestamp);
        return new StepOutcome(tick.StepId, events, evaluated) { Delivered = reports.Sum(r => r.Delivered) };
    }

    private PriceBoard RestoreBoard()
    {
        var board = new PriceBoard(_freshness);
        board.Restore(state.State.Sources.Select(q => KeyValuePair.Create(q.Key, new SourcePrice(q.Value.Price, q.Value.Timestamp))));
        return board;
    }
}
