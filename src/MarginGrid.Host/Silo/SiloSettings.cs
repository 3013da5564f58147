using System.Globalization;
using System.Net;
using MarginGrid.Storage;
using Microsoft.Extensions.Configuration;

namespace MarginGrid.Host.Silo;

/// <summary>The configuration keys of <c>margingrid silo</c> and their defaults.</summary>
public sealed record SiloSettings
{
    public const string ConnectionStringName = "MarginGrid";

    public string ClusterId { get; init; } = "margingrid";

    public string ServiceId { get; init; } = "margingrid";

    public int SiloPort { get; init; } = 11111;

    public int GatewayPort { get; init; } = 30000;

    /// <summary>The address other silos and clients reach this silo on; silo and gateway listen only there.</summary>
    public IPAddress AdvertisedIP { get; init; } = IPAddress.Loopback;

    public int HttpPort { get; init; } = 8080;

    /// <summary>The PostgreSQL connection string; null runs the non-durable embedded default.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Requests with a larger body get 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 1024 * 1024;

    public static SiloSettings From(IConfiguration configuration)
    {
        var defaults = new SiloSettings();
        var advertised = configuration["Orleans:AdvertisedIP"];
        var connectionString = configuration.GetConnectionString(ConnectionStringName);
        return new SiloSettings
        {
            ClusterId = configuration["Orleans:ClusterId"] is { Length: > 0 } cluster ? cluster : defaults.ClusterId,
            ServiceId = configuration["Orleans:ServiceId"] is { Length: > 0 } service ? service : defaults.ServiceId,
            SiloPort = Port(configuration, "Orleans:SiloPort", defaults.SiloPort),
            GatewayPort = Port(configuration, "Orleans:GatewayPort", defaults.GatewayPort),
            AdvertisedIP = string.IsNullOrWhiteSpace(advertised)
                ? defaults.AdvertisedIP
                : IPAddress.TryParse(advertised, out var ip)
                    ? ip
                    : throw new InvalidOperationException($"Orleans:AdvertisedIP: '{advertised}' is not an IP address"),
            HttpPort = Port(configuration, "MarginGrid:Http:Port", defaults.HttpPort),
            ConnectionString = string.IsNullOrWhiteSpace(connectionString) ? null : Tuned(connectionString),
            MaxRequestBodyBytes = configuration.GetValue("MarginGrid:Http:MaxRequestBodyBytes", defaults.MaxRequestBodyBytes),
        };
    }

    /// <summary>The operator's connection string with the silo's defaults where it is silent (<see cref="PostgresConnections"/>).</summary>
    private static string Tuned(string connectionString)
    {
        try
        {
            return PostgresConnections.ForSilo(connectionString);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException($"ConnectionStrings:{ConnectionStringName} is not a valid PostgreSQL connection string: {e.Message}", e);
        }
    }

    private static int Port(IConfiguration configuration, string key, int fallback)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535
            ? port
            : throw new InvalidOperationException($"{key}: '{text}' is not a TCP port");
    }
}
