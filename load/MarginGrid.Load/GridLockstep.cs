using MarginGrid.Domain.Model;
using MarginGrid.Grains;
using MarginGrid.Simulation;

namespace MarginGrid.Load;

/// <summary>
/// The embedded grid run in lockstep with <see cref="ModelEngine"/>: the same accounts, the same price steps at the
/// same engine-clock instants (a <see cref="SteppedTimeProvider"/>, as replay drives it) and the same bids, each step
/// settled before the next and its events compared with the model's step by step (<see cref="EventKeys"/>). A
/// comparison variant run this way is the grid's figure, checked against the model's.
/// </summary>
internal sealed class GridLockstep : IAsyncDisposable
{
    private readonly EmbeddedGrid _grid;
    private readonly SteppedTimeProvider _time;
    private readonly List<string> _examples = [];
    private int _commands;

    private GridLockstep(EmbeddedGrid grid, SteppedTimeProvider time)
    {
        _grid = grid;
        _time = time;
    }

    public long Misses { get; private set; }

    public long Extras { get; private set; }

    public IReadOnlyList<string> Examples => _examples;

    /// <summary>Starts a grid, configures it, opens the accounts, prices the markets and evaluates every account once.</summary>
    public static async Task<(GridLockstep Grid, List<string> Initial)> StartAsync(
        RiskConfigSnapshot config, IReadOnlyList<(string Id, AccountSeed Seed)> accounts, IReadOnlyDictionary<string, decimal> prices, CancellationToken cancellationToken)
    {
        var time = new SteppedTimeProvider(LoadRun.InitialPriceTime);
        var grid = await EmbeddedGrid.StartAsync(logLevel: GridLogging.ToolLevel(false), cancellationToken: cancellationToken, clock: new GridClock(time));
        var grains = grid.Grains;
        await grains.GetGrain<IRiskConfigGrain>(0).SetAsync(config);
        await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(LoadRun.InitialFund);
        foreach (var batch in accounts.Chunk(2_000))
        {
            await Task.WhenAll(batch.Select(a => grains.GetGrain<IAccountGrain>(a.Id).OpenAsync(a.Seed)));
        }

        foreach (var (market, price) in prices.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            await grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(
                new PriceUpdate(price, LoadRun.InitialSource, LoadRun.InitialPriceTime) { Evaluate = false });
        }

        var initial = await grains.GetGrain<ILiquidationCoordinatorGrain>(0).EvaluateAccountsAsync("initial", [.. accounts.Select(a => a.Id)]);
        return (new GridLockstep(grid, time), [.. initial.Events.Select(EventKeys.Of)]);
    }

    /// <summary>One planned price update as one step at its timestamp (the engine clock moves there first).</summary>
    public async Task<List<string>> TickAsync(PlannedTick tick)
    {
        if (tick.Timestamp > _time.GetUtcNow())
        {
            _time.AdvanceTo(tick.Timestamp);
        }

        var outcome = await _grid.Grains.GetGrain<IMarketGrain>(tick.Market).PublishPriceAsync(new PriceUpdate(tick.Price, tick.Source, tick.Timestamp));
        return [.. outcome.Events.Select(EventKeys.Of)];
    }

    /// <summary>A keeper's bid as a command step of its account at the current instant.</summary>
    public async Task<List<string>> BidAsync(ModelBidStep bid)
    {
        var result = await _grid.Grains.GetGrain<IAccountGrain>(bid.Account)
            .BidAsync(new BidCommand($"keeper-bid-{++_commands}", bid.Target, bid.Asset, bid.Quantity, bid.MaxPrice));
        return [.. result.Events.Select(EventKeys.Of)];
    }

    /// <summary>Counts a step whose events differ from the model's (missing, extra, or the same in another order).</summary>
    public void Compare(IReadOnlyList<string> model, IReadOnlyList<string> grid, string where)
    {
        var (misses, extras) = EventKeys.Differences(model, grid);
        if (misses + extras == 0)
        {
            return;
        }

        Misses += misses;
        Extras += extras;
        if (_examples.Count < 10)
        {
            _examples.Add($"{where}: model [{string.Join("; ", model.Take(4))}] grid [{string.Join("; ", grid.Take(4))}]");
        }
    }

    /// <summary>The end state through the grains: the fund and the conservation check over every account.</summary>
    public Task<GridAudit> AuditAsync(IReadOnlyList<string> accounts) => GridAudit.ReadAsync(_grid.Grains, accounts, LoadRun.InitialFund);

    public ValueTask DisposeAsync() => _grid.DisposeAsync();
}
