using System.Collections.Concurrent;
using System.Collections.Immutable;
using MarginGrid.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Core.Internal;
using Orleans.TestingHost;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>
/// Issue 9, a durable audit, at grain level: with <see cref="GridOptions.AuditOutbox"/>, a market's price records and the
/// configuration's changes are offered to the trail by the grains themselves, keyed, and — until the trail confirms
/// them — offered again when the grain activates (what a crash lost); a confirmed record leaves the outbox.
/// </summary>
public sealed class GridAuditOutboxTests : IAsyncLifetime
{
    private static readonly ConcurrentQueue<GridAuditEntry> Offered = new();

    /// <summary>Events offered to the audit trail by an outbox (<see cref="IGridObserver.EventUnaudited"/>).</summary>
    private static readonly ConcurrentQueue<GridEvent> Unaudited = new();

    /// <summary>Events announced to the audit trail (<see cref="IGridObserver.EventEmitted"/>), and counted only (<see cref="IGridObserver.EventKept"/>).</summary>
    private static readonly ConcurrentQueue<GridEvent> Emitted = new(), Kept = new();

    private TestCluster _cluster = null!;

    private IGrainFactory Grains => _cluster.GrainFactory;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClusterFixture.ClientConfigurator>();
        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await _cluster.StopAllSilosAsync();

    [Fact]
    public async Task Price_and_configuration_records_are_offered_keyed_and_again_on_activation_until_confirmed()
    {
        var config = await Grains.GetGrain<IRiskConfigGrain>(0).SetAsync(
            new RiskConfigSnapshot(0, [ClusterFixture.Market("AUD-1")], [], new RiskRatios(1.25m, 1.10m)));
        var configRecord = Assert.Single(Offered, e => e.Config is not null);
        Assert.Equal(("*config/#1", 1L, (long?)null), (configRecord.Key, configRecord.Config!.Version, configRecord.Config.PreviousVersion));
        Assert.Equal((config.Version, "AUD-1"), (configRecord.Config.Config.Version, Assert.Single(configRecord.Config.Config.Markets).Symbol));

        var market = Grains.GetGrain<IMarketGrain>("AUD-1");
        var step = await market.PublishPriceAsync(new PriceUpdate(100m, "feed", ClusterFixture.Time.GetUtcNow()));
        var first = Assert.Single(Offered, e => e.Price is not null);
        Assert.Equal("*market/AUD-1/#1", first.Key);
        Assert.Equal((100m, "feed", step.Step, (int?)0), (first.Price!.Price, first.Price.Source, first.Price.Step, first.Price.Evaluated));

        // Not confirmed: a new activation (after a crash, say) offers it again, as stored (the step's counts unknown).
        Offered.Clear();
        await DeactivateAsync(market);
        _ = await market.GetMarkAsync();
        var again = Assert.Single(Offered);
        Assert.Equal(("*market/AUD-1/#1", (int?)null), (again.Key, again.Price!.Evaluated));

        // Confirmed: it leaves the outbox with the next step's write; only the new price is offered again.
        // (One-way: a step whose write is in flight when it arrives keeps it until the next step's write.)
        await Grains.GetGrain<IMarketAuditGrain>("AUD-1").AuditedAsync(["*market/AUD-1/#1"]);
        await Task.Delay(TimeSpan.FromMilliseconds(100)); // a one-way call: let it arrive
        await market.PublishPriceAsync(new PriceUpdate(101m, "feed", ClusterFixture.Time.GetUtcNow()));
        await market.PublishPriceAsync(new PriceUpdate(102m, "feed", ClusterFixture.Time.GetUtcNow()));
        Offered.Clear();
        await DeactivateAsync(market);
        _ = await market.GetMarkAsync();
        Assert.Equal(["*market/AUD-1/#2", "*market/AUD-1/#3"], Offered.Select(e => e.Key).Order(StringComparer.Ordinal));

        // The configuration grain likewise.
        Offered.Clear();
        var configGrain = Grains.GetGrain<IRiskConfigGrain>(0);
        await DeactivateAsync(configGrain);
        _ = await configGrain.GetAsync();
        Assert.Equal(["*config/#1"], Offered.Select(e => e.Key));
    }

    [Fact]
    public async Task A_price_steps_liquidation_batches_are_written_by_the_fund_with_its_charges_and_offered_again_until_confirmed()
    {
        var config = await Grains.GetGrain<IRiskConfigGrain>(0).SetAsync(
            new RiskConfigSnapshot(0, [ClusterFixture.Market("BAT-1") with { Impact = 0.00000001m }], [], new RiskRatios(1.25m, 1.10m)));
        var market = Grains.GetGrain<IMarketGrain>("BAT-1");
        await market.PublishPriceAsync(new PriceUpdate(50_000m, "feed", ClusterFixture.Time.GetUtcNow()));
        var account = Grains.GetGrain<IAccountGrain>("bat-a");
        await account.OpenAsync(ClusterFixture.Seed(10_000m, new PositionSnapshot("BAT-1", 2m, 50_000m)));

        // The crash window: the coordinator sequenced the step (accounts' begun liquidations, the fund's write) and the
        // market never ran again. The mark moves without an evaluation; the step's coordinator turn is run on its own.
        await market.PublishPriceAsync(new PriceUpdate(45_440m, "feed", ClusterFixture.Time.GetUtcNow()) { Evaluate = false });
        const string step = "BAT-1#2";
        var report = await Grains.GetGrain<IAccountRiskGrain>("bat-a").EvaluateAsync(step);
        Assert.NotNull(report);
        ClearAll();
        var sequenced = await Grains.GetGrain<ILiquidationCoordinatorGrain>(0).SequenceAsync(step, [report], priceStep: true, config.Version);
        var batch = Assert.Single(sequenced.Events, e => e.Type == GridEventType.LiquidationBatch);
        Assert.Equal("*fund/BAT-1#2/batch/BAT-1", batch.AuditKey);

        // Offered by the fund once written; the coordinator's announcement (metrics, stream) is not offered to the trail.
        Assert.Equal([batch.AuditKey], Unaudited.Select(e => e.AuditKey));
        Assert.DoesNotContain(Emitted, e => e.Type == GridEventType.LiquidationBatch);
        Assert.Equal([batch.AuditKey], Kept.Select(e => e.AuditKey));

        // The fund's stored state holds it (the market never wrote it): a new activation offers it again, as stored.
        var fund = Grains.GetGrain<IFundLedgerGrain>(0);
        ClearAll();
        await DeactivateAsync(fund);
        _ = await fund.GetAsync();
        var again = Assert.Single(Unaudited);
        Assert.Equal((batch.AuditKey, GridEventType.LiquidationBatch, "BAT-1", step), (again.AuditKey, again.Type, again.Market, again.Step));
        await Settlements.CompleteAsync(Grains, sequenced);

        // A market step that liquidates: its batch is the fund's too, not the market's.
        var other = Grains.GetGrain<IAccountGrain>("bat-b");
        await other.OpenAsync(ClusterFixture.Seed(4_800m, new PositionSnapshot("BAT-1", 1m, 45_440m))); // at 41,000: equity 360, MM 410
        ClearAll();
        var priced = await market.PublishPriceAsync(new PriceUpdate(41_000m, "feed", ClusterFixture.Time.GetUtcNow()));
        var second = Assert.Single(priced.Events, e => e.Type == GridEventType.LiquidationBatch);
        Assert.Equal($"*fund/{priced.Step}/batch/BAT-1", second.AuditKey);
        Assert.Equal([second.AuditKey], Unaudited.Select(e => e.AuditKey));
        ClearAll();
        await DeactivateAsync(market);
        _ = await market.GetMarkAsync();
        Assert.Empty(Unaudited); // the market's outbox keeps no batch
        await DeactivateAsync(fund);
        _ = await fund.GetAsync();
        Assert.Equal([batch.AuditKey, second.AuditKey], Unaudited.Select(e => e.AuditKey).Order(StringComparer.Ordinal));

        // Confirmed: they leave the fund's outbox with its next write; a new activation offers nothing.
        await Grains.GetGrain<IFundAuditGrain>(0).AuditedAsync([batch.AuditKey!, second.AuditKey!]);
        await Task.Delay(TimeSpan.FromMilliseconds(100)); // a one-way call: let it arrive
        await fund.ApplyLiquidationsAsync([new LiquidationCharge("later:x", "x", 1m, 0m)]);
        ClearAll();
        await DeactivateAsync(fund);
        _ = await fund.GetAsync();
        Assert.Empty(Unaudited);
    }

    private static void ClearAll()
    {
        Offered.Clear();
        Unaudited.Clear();
        Emitted.Clear();
        Kept.Clear();
    }

    private static async Task DeactivateAsync(IAddressable grain)
    {
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        await Task.Delay(TimeSpan.FromMilliseconds(200)); // deactivation is asynchronous; the next call activates anew
    }

    private sealed class RecordingObserver : NullGridObserver, IGridObserver
    {
        public void GridRecord(GridAuditEntry entry) => Offered.Enqueue(entry);

        public void EventUnaudited(GridEvent gridEvent) => Unaudited.Enqueue(gridEvent);

        void IGridObserver.EventEmitted(GridEvent gridEvent) => Emitted.Enqueue(gridEvent);

        public void EventKept(GridEvent gridEvent) => Kept.Enqueue(gridEvent);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => ClusterFixture.ConfigureGridSilo(
            siloBuilder,
            services =>
            {
                services.AddSingleton<IGridObserver>(new RecordingObserver());
                services.AddMarginGridGrains(o =>
                {
                    o.ShardsPerMarket = 1;
                    o.AuditOutbox = true;
                });
            },
            reminders: true);
    }
}
