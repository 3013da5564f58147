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

    private TestCluster _cluster = null!;

    private IGrainFactory Grains => _cluster.GrainFactory;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(1);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
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

    private static async Task DeactivateAsync(IAddressable grain)
    {
        await grain.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        await Task.Delay(TimeSpan.FromMilliseconds(200)); // deactivation is asynchronous; the next call activates anew
    }

    private sealed class RecordingObserver : NullGridObserver, IGridObserver
    {
        public void GridRecord(GridAuditEntry entry) => Offered.Enqueue(entry);
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.AddMemoryStreams(GridStreams.Provider);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) =>
            siloBuilder
                .AddMemoryGrainStorage(GridProviders.Storage, o => o.Configure<Orleans.Serialization.Serializer>(
                    (options, serializer) => options.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer)))
                .AddMemoryGrainStorage(GridProviders.PubSubStore)
                .AddMemoryStreams(GridStreams.Provider)
                .UseInMemoryReminderService()
                .ConfigureServices(services =>
                {
                    services.AddSingleton(new GridClock(ClusterFixture.Time));
                    services.AddSingleton<IGridObserver>(new RecordingObserver());
                    services.AddMarginGridGrains(o =>
                    {
                        o.ShardsPerMarket = 1;
                        o.AuditOutbox = true;
                    });
                });
    }
}
