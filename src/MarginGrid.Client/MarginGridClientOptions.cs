using System.Globalization;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Client;

/// <summary>A gateway of a silo: host name or address, and its gateway port (the silo's <c>Orleans:GatewayPort</c>).</summary>
public sealed record GatewayAddress(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>
/// How <see cref="MarginGridClient"/> finds and talks to a cluster. Either <see cref="Gateways"/> (static gateways:
/// <c>orleans://host:port,host:port</c>) or <see cref="PostgresConnectionString"/> (the gateways the silos list in their
/// PostgreSQL membership table, as <c>margingrid silo</c> writes it with ADO.NET clustering). <see cref="ClusterId"/>
/// and <see cref="ServiceId"/> must be the silos' (<c>Orleans:ClusterId</c>, <c>Orleans:ServiceId</c>; both default to
/// <c>margingrid</c>).
/// </summary>
public sealed record MarginGridClientOptions
{
    /// <summary>The URI scheme of a gateway target.</summary>
    public const string Scheme = "orleans";

    /// <summary>The silos' default cluster and service id (SiloSettings).</summary>
    public const string DefaultId = "margingrid";

    public IReadOnlyList<GatewayAddress> Gateways { get; init; } = [];

    /// <summary>An Npgsql connection string of the cluster's database: gateways are read from its membership table.</summary>
    public string? PostgresConnectionString { get; init; }

    public string ClusterId { get; init; } = DefaultId;

    public string ServiceId { get; init; } = DefaultId;

    /// <summary>How long <see cref="MarginGridClient.ConnectAsync(MarginGridClientOptions, CancellationToken)"/> keeps retrying a cluster that cannot be reached.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The pause between two connection attempts.</summary>
    public TimeSpan ConnectRetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a grain call may take before it fails with a <see cref="TimeoutException"/> (Orleans' response timeout).</summary>
    public TimeSpan ResponseTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How many times a command (fill, deposit, withdrawal) is sent when the cluster does not answer (a timeout, a silo
    /// that went away): always with the same command id, so that a command that was applied is answered again as a
    /// <see cref="CommandResult.Duplicate"/> and never applied twice. 1 sends it once.
    /// </summary>
    public int CommandAttempts { get; init; } = 3;

    /// <summary>Whether to register the client side of the event stream (needed by <see cref="MarginGridClient.SubscribeEventsAsync"/>).</summary>
    public bool Events { get; init; } = true;

    /// <summary>Where price timestamps come from when the caller gives none.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    /// <summary>Logging of the Orleans client (default: none).</summary>
    public Action<ILoggingBuilder>? Logging { get; init; }

    /// <summary>
    /// Parses <c>orleans://host:port[,host:port…][?cluster-id=ID&amp;service-id=ID]</c> (a host may be a name, an IPv4
    /// address or a bracketed IPv6 address).
    /// </summary>
    public static MarginGridClientOptions Parse(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var prefix = Scheme + "://";
        if (!target.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"expected {prefix}host:port[,host:port…], got '{target}'");
        }

        var rest = target[prefix.Length..];
        var query = "";
        if (rest.IndexOf('?', StringComparison.Ordinal) is var q and >= 0)
        {
            query = rest[(q + 1)..];
            rest = rest[..q];
        }

        var gateways = rest.TrimEnd('/').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(ParseGateway)
            .ToList();
        if (gateways.Count == 0)
        {
            throw new FormatException($"'{target}' names no gateway");
        }

        var options = new MarginGridClientOptions { Gateways = gateways };
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = pair.Split('=', 2);
            var value = parts.Length == 2 ? Uri.UnescapeDataString(parts[1]) : "";
            if (value.Length == 0)
            {
                throw new FormatException($"'{target}': '{pair}' has no value");
            }

            options = parts[0] switch
            {
                "cluster-id" => options with { ClusterId = value },
                "service-id" => options with { ServiceId = value },
                _ => throw new FormatException($"'{target}': unknown parameter '{parts[0]}' (known: cluster-id, service-id)"),
            };
        }

        return options;
    }

    /// <summary>The target as <see cref="Parse"/> reads it, or the PostgreSQL clustering it uses (without the connection string).</summary>
    public string Describe()
    {
        var ids = ClusterId == DefaultId && ServiceId == DefaultId ? "" : $"?cluster-id={ClusterId}&service-id={ServiceId}";
        return Gateways.Count > 0
            ? $"{Scheme}://{string.Join(",", Gateways)}{ids}"
            : $"{Scheme}+postgres{ids}";
    }

    /// <summary>An error message, or null when the options can be used.</summary>
    public string? Validate()
    {
        if (Gateways.Count == 0 == string.IsNullOrWhiteSpace(PostgresConnectionString))
        {
            return "give either gateways (orleans://host:port,…) or a PostgreSQL connection string, not both";
        }

        if (string.IsNullOrWhiteSpace(ClusterId) || string.IsNullOrWhiteSpace(ServiceId))
        {
            return "cluster id and service id must not be empty";
        }

        if (ConnectTimeout < TimeSpan.Zero || ConnectRetryDelay <= TimeSpan.Zero || ResponseTimeout <= TimeSpan.Zero)
        {
            return "timeouts must be positive";
        }

        return CommandAttempts < 1 ? "CommandAttempts must be at least 1" : null;
    }

    private static GatewayAddress ParseGateway(string text)
    {
        string host;
        string port;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= text.Length || text[close + 1] != ':')
            {
                throw new FormatException($"'{text}' is not [ipv6]:port");
            }

            host = text[1..close];
            port = text[(close + 2)..];
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon <= 0)
            {
                throw new FormatException($"'{text}' is not host:port");
            }

            host = text[..colon];
            port = text[(colon + 1)..];
        }

        return int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535
            ? new GatewayAddress(host, p)
            : throw new FormatException($"'{text}': '{port}' is not a TCP port");
    }
}
