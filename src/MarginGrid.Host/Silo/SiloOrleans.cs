using MarginGrid.Grains;
using MarginGrid.Simulation;
using MarginGrid.Storage;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using Orleans.Serialization;
using Orleans.Storage;

namespace MarginGrid.Host.Silo;

/// <summary>Orleans providers of a silo: PostgreSQL (ADO.NET) when a connection string is configured, memory otherwise.</summary>
public static class SiloOrleans
{
    /// <summary>The ADO.NET invariant of Npgsql.</summary>
    public const string Invariant = "Npgsql";

    /// <summary>
    /// Configuration section bound to Orleans' <see cref="ClusterMembershipOptions"/>: how fast a dead silo is found
    /// and removed, e.g. <c>Orleans:Membership:ProbeTimeout</c> (default 5 s), <c>:NumMissedProbesLimit</c> (3),
    /// <c>:NumVotesForDeathDeclaration</c> (2), <c>:DefunctSiloExpiration</c>. Orleans' defaults when absent; every
    /// silo of a cluster should use the same values.
    /// </summary>
    public const string MembershipSection = "Orleans:Membership";

    /// <summary>
    /// Configuration section bound to the Orleans Dashboard's <see cref="DashboardOptions"/>, e.g.
    /// <c>Orleans:Dashboard:HideTrace</c> (the live log stream), <c>:CounterUpdateIntervalMs</c>, <c>:HistoryLength</c>.
    /// The dashboard itself is served by <see cref="SiloApp"/> under <c>/dashboard</c>, to the admin role only.
    /// </summary>
    public const string DashboardSection = "Orleans:Dashboard";

    public static ISiloBuilder ConfigureGrid(this ISiloBuilder silo, SiloSettings settings)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        silo.Services.AddOptions<ClusterMembershipOptions>().Bind(silo.Configuration.GetSection(MembershipSection));
        silo.ConfigureEndpoints(settings.AdvertisedIP, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: false);
        silo.AddMemoryStreams(GridStreams.Provider);
        silo.AddDashboard();
        silo.Services.AddOptions<DashboardOptions>().Bind(silo.Configuration.GetSection(DashboardSection));
        // A storage failure on one silo reaches the silo that called the grain with Npgsql's exception inside Orleans'
        // "Error from storage provider": without this its type cannot be serialized and the caller gets a
        // CodecNotFoundException instead, which the API cannot tell from a bug (500 rather than 503).
        silo.Services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add("Npgsql"));
        return settings.ConnectionString is { } connectionString
            ? silo.UsePostgres(connectionString)
            : silo.UseInMemory(settings);
    }

    private static ISiloBuilder UsePostgres(this ISiloBuilder silo, string connectionString) =>
        silo.UseAdoNetClustering(o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = connectionString;
            })
            .AddBatchedGrainStorage(GridProviders.Storage, connectionString)
            .AddAdoNetGrainStorage(GridProviders.PubSubStore, o => Storage(o, connectionString))
            .UseAdoNetReminderService(o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = connectionString;
            });

    /// <summary>
    /// The grid's states: Orleans' ADO.NET storage (its table, its rows) with concurrent writes grouped into one round
    /// trip and one commit (<see cref="BatchedGrainStorage"/>; <c>MarginGrid:Storage</c> in configuration).
    /// </summary>
    private static ISiloBuilder AddBatchedGrainStorage(this ISiloBuilder silo, string name, string connectionString)
    {
        Storage(silo.Services.AddOptions<AdoNetGrainStorageOptions>(name), connectionString);
        silo.Services.AddOptions<GrainStateWriterOptions>()
            .Bind(silo.Configuration.GetSection(GrainStateWriterOptions.Section))
            .Validate(o =>
            {
                o.Validate();
                return true;
            });
        Orleans.Runtime.Hosting.StorageProviderExtensions.AddGrainStorage(silo.Services, name, BatchedGrainStorage.Create);
        return silo;
    }

    /// <summary>
    /// Grain state is written with Orleans' own binary serializer (explicit [Id]s and [Alias]es on every stored type)
    /// rather than the default Newtonsoft JSON with CLR type names, so that renaming a type does not orphan its state.
    /// </summary>
    private static void Storage(OptionsBuilder<AdoNetGrainStorageOptions> options, string connectionString) =>
        options.Configure<Serializer>((o, serializer) =>
        {
            o.Invariant = Invariant;
            o.ConnectionString = connectionString;
            o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
        });

    /// <summary>One silo on its own: development clustering with itself as the primary, nothing durable.</summary>
    private static ISiloBuilder UseInMemory(this ISiloBuilder silo, SiloSettings settings) =>
        silo.UseDevelopmentClustering(new System.Net.IPEndPoint(settings.AdvertisedIP, settings.SiloPort))
            .AddLocalGrainStorage(GridProviders.Storage)
            .AddLocalGrainStorage(GridProviders.PubSubStore)
            .UseInMemoryReminderService();
}
