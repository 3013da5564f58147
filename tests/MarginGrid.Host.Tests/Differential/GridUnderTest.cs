using System.Collections.Immutable;
using MarginGrid.Grains;
using MarginGrid.Host.Scenarios;
using MarginGrid.Simulation;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Orleans.Core.Internal;
using Orleans.Storage;
using Orleans.TestingHost;
using Xunit;

namespace MarginGrid.Host.Tests.Differential;

/// <summary>
/// One in-process TestCluster (two silos, default <see cref="GridOptions"/>: gated fan-out, 8 shards per market, on a
/// fake clock) that replays many scenarios one after another. Each scenario needs a fresh grid, which costs seconds to
/// start, so instead each case gets fresh grains:
/// <list type="bullet">
/// <item>its market symbols and account ids get a case prefix ("c17.") — markets, shards and accounts are new grains,
///   and since every name shares the prefix, every ordinal order of the model (margin calls by id, ties by id or
///   symbol) is unchanged; the result is mapped back to the scenario's names;</item>
/// <item>the configuration (key 0) is simply replaced by the case's (its version moves on, as after any change);</item>
/// <item>the insurance fund (key 0) is reset: its storage is keyed by an epoch that moves on per case, and its
///   activation is deactivated so that the next call reads the new, empty state.</item>
/// </list>
/// The coordinator (key 0) keeps no state between steps. Measured: see DifferentialTests.
/// </summary>
public sealed class GridUnderTest : IAsyncLifetime
{
    public static FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 22, 0, 0, 0, TimeSpan.Zero));

    private static readonly short Silos = short.TryParse(Environment.GetEnvironmentVariable("MARGINGRID_DIFF_SILOS"), out var n) && n > 0 ? n : (short)2;

    private int _case;

    public TestCluster Cluster { get; private set; } = null!;

    public IGrainFactory Grains => Cluster.GrainFactory;

    /// <summary>The prefix of the names of the last case replayed (its accounts are "{prefix}{id}" in the grid).</summary>
    public string LastPrefix { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        var builder = new TestClusterBuilder(Silos);
        builder.AddSiloBuilderConfigurator<SiloConfigurator>();
        builder.AddClientBuilderConfigurator<ClientConfigurator>();
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.StopAllSilosAsync();

    /// <summary>Replays the scenario through the grains (ReplayRunner, the code of `margingrid replay`) and writes the model's JSON.</summary>
    public async Task<string> ReplayAsync(Scenario scenario)
    {
        var prefix = $"c{Interlocked.Increment(ref _case)}.";
        LastPrefix = prefix;
        await ResetFundAsync();
        var result = await ReplayRunner.RunAsync(Prefixed(scenario, prefix), Grains, Time, t => { if (t > Time.GetUtcNow()) { Time.SetUtcNow(t); } });
        return ResultWriter.ToJson(Unprefixed(result, prefix));
    }

    private async Task ResetFundAsync()
    {
        Interlocked.Increment(ref EpochGrainStorage.Epoch);
        var fund = Grains.GetGrain<IInsuranceFundGrain>(0);
        await fund.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var view = await fund.GetAsync();
        if (view.InsuranceFund != 0m || view.SocializedLoss != 0m || view.PeakInsuranceFund != 0m)
        {
            throw new InvalidOperationException($"the insurance fund was not reset: {view}");
        }
    }

    private static Scenario Prefixed(Scenario s, string prefix)
    {
        string P(string name) => prefix + name;
        return s with
        {
            Config = s.Config with
            {
                Markets = [.. s.Config.Markets.Select(m => m with { Symbol = P(m.Symbol) })],
                Collateral = [.. s.Config.Collateral.Select(c => c with { PriceMarket = c.PriceMarket is { } pm ? P(pm) : null })],
            },
            Accounts = [.. s.Accounts.Select(a => new ScenarioAccount(
                P(a.Id),
                a.Seed with { Positions = [.. a.Seed.Positions.Select(p => p with { Market = P(p.Market) })] }))],
            InitialPrices = [.. s.InitialPrices.Select(p => KeyValuePair.Create(P(p.Key), p.Value))],
            Steps = [.. s.Steps.Select(step => step switch
            {
                PriceStep p => p with { Market = P(p.Market) },
                FillStep f => f with { Account = P(f.Account), Market = P(f.Market) },
                DepositStep d => d with { Account = P(d.Account) },
                WithdrawStep w => (ScenarioStep)(w with { Account = P(w.Account) }),
                _ => step,
            })],
        };
    }

    private static ReplayResult Unprefixed(ReplayResult r, string prefix)
    {
        string U(string name) => name.StartsWith(prefix, StringComparison.Ordinal) ? name[prefix.Length..] : name;
        return r with
        {
            Accounts = [.. r.Accounts.Select(a => a with
            {
                Account = U(a.Account),
                Positions = [.. a.Positions.Select(p => p with { Market = U(p.Market) })],
            })],
            Events = [.. r.Events.Select(e => e with
            {
                Account = U(e.Account),
                Market = e.Market is { } m ? U(m) : null,
                Counterparty = e.Counterparty is { } c ? U(c) : null,
            })],
        };
    }

    private sealed class ClientConfigurator : IClientBuilderConfigurator
    {
        public void Configure(Microsoft.Extensions.Configuration.IConfiguration configuration, IClientBuilder clientBuilder) =>
            clientBuilder.AddMemoryStreams(GridStreams.Provider);
    }

    private sealed class SiloConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder)
        {
            siloBuilder
                .AddGridMemoryStorage(GridProviders.Storage)
                .AddGridMemoryStorage(GridProviders.PubSubStore)
                .AddMemoryStreams(GridStreams.Provider)
                .ConfigureServices(services =>
                {
                    services.AddKeyedSingleton<IGrainStorage>(
                        GridProviders.Storage,
                        (sp, _) => new EpochGrainStorage(MemoryGrainStorageFactory.Create(sp, GridProviders.Storage)));
                    services.AddSingleton(new GridClock(Time));
                    services.AddSingleton<IGridObserver>(AdlSearches.Instance);
                    services.AddMarginGridGrains(o => o.AuctionTimers = false); // the settings of `margingrid replay`: gated fan-out, no auction timers
                });
        }
    }
}

/// <summary>
/// The grid's memory storage, except that the insurance fund's state is kept per <see cref="Epoch"/>: moving the epoch
/// on (and deactivating the fund) gives the next case a fund that has never been seeded.
/// </summary>
internal sealed class EpochGrainStorage(IGrainStorage inner) : IGrainStorage
{
    public static long Epoch;

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ReadStateAsync(stateName, Map(stateName, grainId), grainState);

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.WriteStateAsync(stateName, Map(stateName, grainId), grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        inner.ClearStateAsync(stateName, Map(stateName, grainId), grainState);

    private static GrainId Map(string stateName, GrainId grainId) =>
        stateName == "fund" ? GrainId.Create(grainId.Type, $"{grainId.Key}@{Interlocked.Read(ref Epoch)}") : grainId;
}

/// <summary>Records how each step's auto-deleveraging found its counterparties (the grid's observer in these tests).</summary>
public sealed class AdlSearches : NullGridObserver, IGridObserver
{
    public static new AdlSearches Instance { get; } = new();

    public System.Collections.Concurrent.ConcurrentQueue<(AdlSearch Search, int Fetched, int Holders)> Seen { get; } = new();

    public void AdlCounterparties(AdlSearch search, int fetched, int holders) => Seen.Enqueue((search, fetched, holders));
}
