using MarginGrid.Grains;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Storage;

namespace MarginGrid.Host.Silo;

/// <summary>Orleans providers of a silo: PostgreSQL (ADO.NET) when a connection string is configured, memory otherwise.</summary>
public static class SiloOrleans
{
    /// <summary>The ADO.NET invariant of Npgsql.</summary>
    public const string Invariant = "Npgsql";

    public static ISiloBuilder ConfigureGrid(this ISiloBuilder silo, SiloSettings settings)
    {
        silo.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = settings.ClusterId;
            o.ServiceId = settings.ServiceId;
        });
        silo.ConfigureEndpoints(settings.AdvertisedIP, settings.SiloPort, settings.GatewayPort, listenOnAnyHostAddress: false);
        silo.AddMemoryStreams(GridStreams.Provider);
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
            .AddAdoNetGrainStorage(GridProviders.Storage, o => Storage(o, connectionString))
            .AddAdoNetGrainStorage(GridProviders.PubSubStore, o => Storage(o, connectionString))
            .UseAdoNetReminderService(o =>
            {
                o.Invariant = Invariant;
                o.ConnectionString = connectionString;
            });

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
            .AddMemoryGrainStorage(GridProviders.Storage)
            .AddMemoryGrainStorage(GridProviders.PubSubStore)
            .UseInMemoryReminderService();
}
