using MarginGrid.Domain;
using MarginGrid.Grains;
using System.Collections.Immutable;
using MarginGrid.Simulation;

namespace MarginGrid.Host.Scenarios;

/// <summary>
/// Runs a scenario through the grains of an embedded silo, one step at a time: each step is settled (every evaluation
/// and every liquidation of it) before the next starts.
/// </summary>
public static class ReplayRunner
{
    public static async Task<ReplayResult> RunAsync(Scenario scenario, CancellationToken cancellationToken = default, bool verbose = false)
    {
        var time = new SteppedTimeProvider(DateTimeOffset.UnixEpoch);
        await using var grid = await EmbeddedGrid.StartAsync(
            logLevel: GridLogging.ToolLevel(verbose),
            configure: o => o.AuctionTimers = false, // the scenario's steps are the clock: auctions end at a step's start
            cancellationToken: cancellationToken,
            clock: new GridClock(time));
        return await RunAsync(scenario, grid.Grains, time, time.AdvanceTo);
    }

    /// <summary>
    /// Runs on an existing grid whose configuration, markets, accounts and fund are fresh. The grid's engine clock is
    /// <paramref name="time"/>; <paramref name="advanceTo"/> moves it: a price step's <c>time</c> (scenario seconds) is
    /// the clock's time at the start of the run plus the seconds since the scenario's <c>startTime</c>.
    /// </summary>
    public static async Task<ReplayResult> RunAsync(Scenario scenario, IGrainFactory grains, TimeProvider time, Action<DateTimeOffset> advanceTo)
    {
        var origin = time.GetUtcNow();
        var now = scenario.StartTime;
        await grains.GetGrain<IRiskConfigGrain>(0).SetAsync(scenario.Config);
        await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(scenario.InsuranceFund);
        await Task.WhenAll(scenario.Accounts.Select(a => grains.GetGrain<IAccountGrain>(a.Id).OpenAsync(a.Seed)));

        var events = ImmutableArray.CreateBuilder<GridEvent>();

        // The initial prices are one step: every mark is applied, then every account is evaluated once.
        foreach (var (market, price) in scenario.InitialPrices)
        {
            await grains.GetGrain<IMarketGrain>(market)
                .PublishPriceAsync(new PriceUpdate(price, MarketPriceState.DefaultSource, time.GetUtcNow()) { Evaluate = false });
        }

        var initial = await grains.GetGrain<ILiquidationCoordinatorGrain>(0)
            .EvaluateAccountsAsync("initial", [.. scenario.Accounts.Select(a => a.Id)]);
        events.AddRange(initial.Events);

        for (var i = 0; i < scenario.Steps.Length; i++)
        {
            var commandId = $"replay-step-{i}";
            var stepEvents = scenario.Steps[i] switch
            {
                PriceStep p => (await grains.GetGrain<IMarketGrain>(p.Market)
                    .PublishPriceAsync(new PriceUpdate(p.Price, p.Source, At(p.Time)))).Events,
                FillStep f => (await grains.GetGrain<IAccountGrain>(f.Account)
                    .FillAsync(new FillCommand(commandId, f.Market, f.Size, f.Price))).Events,
                DepositStep d => (await grains.GetGrain<IAccountGrain>(d.Account)
                    .DepositAsync(new TransferCommand(commandId, d.Asset, d.Quantity))).Events,
                WithdrawStep w => (await grains.GetGrain<IAccountGrain>(w.Account)
                    .WithdrawAsync(new TransferCommand(commandId, w.Asset, w.Quantity))).Events,
                BidStep b => (await grains.GetGrain<IAccountGrain>(b.Account)
                    .BidAsync(new BidCommand(commandId, b.Target, b.Asset, b.Quantity, b.MaxPrice))).Events,
                _ => throw new InvalidOperationException($"unknown step {scenario.Steps[i]}"),
            };
            events.AddRange(stepEvents);
        }

        // The clock moves to a price step's time before the step (earlier times make a scenario invalid, so never back).
        DateTimeOffset At(decimal? seconds)
        {
            if (seconds is { } t && t > now)
            {
                now = t;
                advanceTo(origin.AddTicks((long)decimal.Round((t - scenario.StartTime) * TimeSpan.TicksPerSecond)));
            }

            return time.GetUtcNow();
        }

        var views = await Task.WhenAll(scenario.Accounts.Select(a => grains.GetGrain<IAccountGrain>(a.Id).GetViewAsync()));
        var fund = await grains.GetGrain<IInsuranceFundGrain>(0).GetAsync();
        return new ReplayResult(
            [.. views.OfType<AccountView>().OrderBy(v => v.Account, StringComparer.Ordinal)],
            fund,
            events.ToImmutable());
    }
}

public sealed record ReplayResult(ImmutableArray<AccountView> Accounts, FundView Fund, ImmutableArray<GridEvent> Events);
