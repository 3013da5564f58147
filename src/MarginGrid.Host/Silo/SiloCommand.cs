using System.CommandLine;
using MarginGrid.Storage;
using Microsoft.Extensions.Configuration;

namespace MarginGrid.Host.Silo;

/// <summary>The <c>silo</c> and <c>db init</c> subcommands. Flags override appsettings.json and environment variables.</summary>
public static class SiloCommand
{
    private static readonly Option<string?> ConnectionStringOption = new("--connection-string")
    {
        Description = "PostgreSQL connection string (ConnectionStrings:MarginGrid).",
    };

    public static Command Silo()
    {
        var options = new (Option<string?> Option, string Key)[]
        {
            (new Option<string?>("--cluster-id") { Description = "Orleans cluster id (Orleans:ClusterId)." }, "Orleans:ClusterId"),
            (new Option<string?>("--service-id") { Description = "Orleans service id (Orleans:ServiceId)." }, "Orleans:ServiceId"),
            (new Option<string?>("--silo-port") { Description = "Silo-to-silo port (Orleans:SiloPort, 11111)." }, "Orleans:SiloPort"),
            (new Option<string?>("--gateway-port") { Description = "Client gateway port (Orleans:GatewayPort, 30000)." }, "Orleans:GatewayPort"),
            (new Option<string?>("--advertised-ip") { Description = "Address of this silo (Orleans:AdvertisedIP, 127.0.0.1)." }, "Orleans:AdvertisedIP"),
            (new Option<string?>("--http-port") { Description = "HTTP API port (MarginGrid:Http:Port, 8080)." }, "MarginGrid:Http:Port"),
            (ConnectionStringOption, "ConnectionStrings:" + SiloSettings.ConnectionStringName),
        };
        var command = new Command("silo", "Run one cluster node: an Orleans silo and the HTTP API.");
        foreach (var (option, _) in options)
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = options
                .Where(o => parse.GetValue(o.Option) is not null)
                .ToDictionary(o => o.Key, o => parse.GetValue(o.Option));
            await using var app = SiloApp.Build(overrides);
            await app.RunAsync(cancellationToken);
            return 0;
        });
        return command;
    }

    public static Command Db()
    {
        var init = new Command("init", "Create or update the PostgreSQL schema (Orleans tables and MarginGrid's audit log); idempotent.")
        {
            ConnectionStringOption,
        };
        init.SetAction(async (parse, cancellationToken) =>
        {
            var configuration = new ConfigurationBuilder()
                .SetBasePath(AppContext.BaseDirectory)
                .AddJsonFile("appsettings.json", optional: true)
                .AddEnvironmentVariables()
                .Build();
            var connectionString = parse.GetValue(ConnectionStringOption) ?? configuration.GetConnectionString(SiloSettings.ConnectionStringName);
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                await Console.Error.WriteLineAsync(
                    "margingrid db init: no connection string: pass --connection-string or set ConnectionStrings__MarginGrid");
                return 2;
            }

            var result = await DatabaseInitializer.InitializeAsync(connectionString, cancellationToken);
            Console.WriteLine(result.WasUpToDate ? "database is up to date" : $"applied: {string.Join(", ", result.AppliedScripts)}");
            return 0;
        });
        return new Command("db", "Database administration.") { init };
    }
}
