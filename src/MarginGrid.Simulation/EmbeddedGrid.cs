using MarginGrid.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Simulation;

/// <summary>
/// A single-silo grid in this process: localhost clustering, in-memory grain storage and streams. Nothing is durable;
/// it is what <c>replay</c>, <c>demo</c> and the load generator run on by default.
/// </summary>
/// <remarks>
/// Logging: to stderr, at <c>logLevel</c> (warnings by default, information with the tools' <c>--verbose</c>), with
/// Orleans' per-call Polly telemetry (two information lines per grain placement) held at warning; the usual
/// <c>Logging__LogLevel__*</c> environment variables override both. No appsettings.json is read: the embedded grid
/// must not pick up the silo's settings from whatever folder it is started in.
/// </remarks>
public sealed class EmbeddedGrid : IAsyncDisposable
{
    private readonly IHost _host;

    private EmbeddedGrid(IHost host)
    {
        _host = host;
    }

    public IGrainFactory Grains => _host.Services.GetRequiredService<IGrainFactory>();

    public static async Task<EmbeddedGrid> StartAsync(
        IGridObserver? observer = null,
        LogLevel logLevel = LogLevel.Warning,
        Action<GridOptions>? configure = null,
        CancellationToken cancellationToken = default,
        GridClock? clock = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddEnvironmentVariables();
        builder.Logging.SetMinimumLevel(logLevel);
        builder.Logging.AddFilter(GridLogging.PollyCategory, LogLevel.Warning);
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging")); // after the filters above: it overrides them
        builder.Logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
        if (clock is not null)
        {
            builder.Services.AddSingleton(clock); // the engine's clock (replay drives it); Orleans keeps the real one
        }

        builder.Services.AddMarginGridGrains(configure);
        if (observer is not null)
        {
            builder.Services.AddSingleton(observer);
        }

        builder.UseOrleans(silo => silo.ConfigureEmbedded());
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return new EmbeddedGrid(host);
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }
}

public static class GridLogging
{
    /// <summary>
    /// The category of Polly's telemetry: Orleans 10 runs every grain placement through a resilience pipeline, and Polly
    /// logs each execution and attempt at information (about 4,000 lines a second in the demo).
    /// </summary>
    public const string PollyCategory = "Polly";

    /// <summary>The level of the tools (demo, replay, load): warnings and errors, or everything down to information.</summary>
    public static LogLevel ToolLevel(bool verbose) => verbose ? LogLevel.Information : LogLevel.Warning;
}

public static class SiloBuilderExtensions
{
    /// <summary>
    /// The in-memory providers the grains need: grain storage "grid", "PubSubStore", memory streams "grid-events" and
    /// in-memory reminders.
    /// </summary>
    public static ISiloBuilder ConfigureEmbedded(this ISiloBuilder silo)
    {
        silo.UseLocalhostClustering(siloPort: FreePort(), gatewayPort: FreePort())
            .AddLocalGrainStorage(GridProviders.Storage)
            .AddLocalGrainStorage(GridProviders.PubSubStore)
            .AddMemoryStreams(GridStreams.Provider)
            .UseInMemoryReminderService(); // the auction house's reminder (GridOptions.AuctionTimers)
        // One silo: every activation is local and the catalog finds it, so a directory cache would only keep a second
        // entry per activation (about 270 bytes each at 100k accounts, measured by the load generator).
        silo.Configure<Orleans.Configuration.GrainDirectoryOptions>(o =>
            o.CachingStrategy = Orleans.Configuration.GrainDirectoryOptions.CachingStrategyType.None);

        return silo;
    }

    /// <summary>
    /// In-memory grain storage that copies state with Orleans' own serializer. The default is Newtonsoft JSON with CLR
    /// type names, which showed up in the load profile and is not what the durable (ADO.NET) storage uses either.
    /// </summary>
    public static ISiloBuilder AddGridMemoryStorage(this ISiloBuilder silo, string name) =>
        silo.AddMemoryGrainStorage(name, options => options.Configure<Orleans.Serialization.Serializer>(
            (o, serializer) => o.GrainStorageSerializer = new Orleans.Storage.OrleansGrainStorageSerializer(serializer)));

    /// <summary>Grain storage for a silo that is the whole cluster: <see cref="LocalGrainStorage"/>.</summary>
    public static ISiloBuilder AddLocalGrainStorage(this ISiloBuilder silo, string name) =>
        silo.ConfigureServices(services => Orleans.Runtime.Hosting.StorageProviderExtensions.AddGrainStorage(services, name, LocalGrainStorage.Create));

    /// <summary>A loopback port free right now, so that several embedded grids can run side by side.</summary>
    public static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
