using System.Collections.Immutable;
using MarginGrid.Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.TestingHost;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>One in-process test cluster (two silos) shared by every grain test, on one fake clock.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public static FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 22, 0, 0, 0, TimeSpan.Zero));

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(2);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
        await Grains.GetGrain<IRiskConfigGrain>(0).SetAsync(new RiskConfigSnapshot(0, [], [], new RiskRatios(1.25m, 1.10m)));
        await Grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(1_000_000m);
    }

    public async Task DisposeAsync() => await Cluster.StopAllSilosAsync();

    /// <summary>Adds markets (and collateral priced by them) to the shared configuration; each test uses its own symbols.</summary>
    public async Task AddMarketsAsync(params MarketConfig[] markets) => await AddAsync(markets, []);

    public async Task AddAsync(MarketConfig[] markets, CollateralConfig[] collateral)
    {
        var config = await Grains.GetGrain<IRiskConfigGrain>(0).GetAsync();
        await Grains.GetGrain<IRiskConfigGrain>(0).SetAsync(config! with
        {
            Markets = config.Markets.AddRange(markets),
            Collateral = config.Collateral.AddRange(collateral),
        });
    }

    public static MarketConfig Market(string symbol, decimal lot = 0.001m, decimal penalty = 0.002m) => new(
        symbol,
        lot,
        penalty,
        [new BracketConfig(0m, 0.01m, 0.02m), new BracketConfig(100_000m, 0.02m, 0.04m), new BracketConfig(1_000_000m, 0.05m, 0.10m)]);

    public static AccountSeed Seed(decimal usd, params PositionSnapshot[] positions) =>
        new(ImmutableDictionary<string, decimal>.Empty.Add("USD", usd), [.. positions]);

    /// <summary>
    /// The silo of a grain-test cluster: the grid's memory storage with Orleans' serializer, memory streams,
    /// the shared fake clock (in-memory reminders with <paramref name="reminders"/>); <paramref name="services"/> adds the
    /// grid's grains and whatever the test needs.
    /// </summary>
    public static ISiloBuilder ConfigureGridSilo(ISiloBuilder siloBuilder, Action<IServiceCollection> services, bool reminders = false) =>
        (reminders ? siloBuilder.UseInMemoryReminderService() : siloBuilder)
            // Orleans' serializer, as the silo's ADO.NET storage uses (not the default Newtonsoft JSON): a test that
            // reactivates an account reads back exactly what production would.
            .AddMemoryGrainStorage(GridProviders.Storage, o => o.Configure<Orleans.Serialization.Serializer>(
                (options, serializer) => options.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer)))
            .AddMemoryGrainStorage(GridProviders.PubSubStore)
            .AddMemoryStreams(GridStreams.Provider)
            .ConfigureServices(s =>
            {
                s.AddSingleton(new GridClock(Time));
                services(s);
            });

    /// <summary>The client of a grain-test cluster: memory streams, as the silos.</summary>
    public sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.AddMemoryStreams(GridStreams.Provider);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => ConfigureGridSilo(siloBuilder, services =>
        {
            services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(
                GridProviders.Storage,
                (sp, _) => new FaultyGrainStorage(Orleans.Storage.MemoryGrainStorageFactory.Create(sp, GridProviders.Storage)));
            services.AddMarginGridGrains(o => o.ShardsPerMarket = 4);
        });
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}

/// <summary>
/// The grid's memory storage, except that a test can make the next write of one grain fail (as a database that goes
/// away in the middle of a command would): <see cref="FailNextWrite"/>.
/// </summary>
public sealed class FaultyGrainStorage(Orleans.Storage.IGrainStorage inner) : Orleans.Storage.IGrainStorage
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Faults = new(StringComparer.Ordinal);

    /// <summary>The next <paramref name="count"/> writes of the grain keyed <paramref name="key"/> throw.</summary>
    public static void FailNextWrite(string key, int count = 1) => Faults[key] = count;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, grainId, grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = grainId.Key.ToString()!;
        if (Faults.TryGetValue(key, out var left) && left > 0 && Faults.TryUpdate(key, left - 1, left))
        {
            throw new InvalidOperationException($"injected storage failure writing {stateName} of {key}");
        }

        return inner.WriteStateAsync(stateName, grainId, grainState);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, grainId, grainState);
}
