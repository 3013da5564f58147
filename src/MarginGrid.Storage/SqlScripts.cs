using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MarginGrid.Storage;

/// <summary>An Orleans ADO.NET script and the table whose existence shows it has been applied.</summary>
internal sealed record OrleansScript(string Name, string SentinelTable, string Sql);

/// <summary>A MarginGrid migration: <c>NNN-name.sql</c>, applied once, in version order.</summary>
internal sealed record Migration(int Version, string Name, string Checksum, string Sql);

/// <summary>The SQL scripts embedded in this assembly from <c>deploy/sql</c>.</summary>
internal static partial class SqlScripts
{
    private const string OrleansPrefix = "sql/orleans/";
    private const string MarginGridPrefix = "sql/margingrid/";

    /// <summary>The Orleans scripts in the order they must run, each with the table it creates first.</summary>
    private static readonly (string File, string SentinelTable)[] s_orleansScripts =
    [
        ("PostgreSQL-Main.sql", "orleansquery"),
        ("PostgreSQL-Clustering.sql", "orleansmembershiptable"),
        ("PostgreSQL-Persistence.sql", "orleansstorage"),
        ("PostgreSQL-Reminders.sql", "orleansreminderstable"),
    ];

    private static readonly Assembly s_assembly = typeof(SqlScripts).Assembly;

    /// <summary>Reads the Orleans scripts; throws a clear error if one is not embedded.</summary>
    public static IReadOnlyList<OrleansScript> LoadOrleans() =>
        [.. s_orleansScripts.Select(s => new OrleansScript(s.File, s.SentinelTable, Read(OrleansPrefix + s.File)))];

    /// <summary>Reads MarginGrid's migrations in version order; throws if one is misnamed or a version repeats.</summary>
    public static IReadOnlyList<Migration> LoadMigrations()
    {
        var migrations = new List<Migration>();
        foreach (var resource in s_assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(MarginGridPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var file = resource[MarginGridPrefix.Length..];
            var match = MigrationFileName().Match(file);
            if (!match.Success)
            {
                throw new InvalidOperationException(
                    $"embedded migration '{file}' is not named NNN-name.sql (three digits, a dash, lower-case words)");
            }

            var sql = Read(resource);
            var version = int.Parse(match.Groups["version"].Value, NumberStyles.None, CultureInfo.InvariantCulture);
            migrations.Add(new Migration(version, Path.GetFileNameWithoutExtension(file), Checksum(sql), sql));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                throw new InvalidOperationException(
                    $"migrations '{migrations[i - 1].Name}' and '{migrations[i].Name}' share version {migrations[i].Version}");
            }
        }

        return migrations.Count > 0
            ? migrations
            : throw new InvalidOperationException($"no migration embedded under '{MarginGridPrefix}'");
    }

    private static string Read(string resource)
    {
        using var stream = s_assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException(
                $"SQL script '{resource}' is not embedded in {s_assembly.GetName().Name}: is deploy/{resource} missing?");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        // Line endings depend on the checkout; checksums and execution must not.
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }

    private static string Checksum(string sql) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sql)));

    [GeneratedRegex(@"^(?<version>[0-9]{3})-[a-z0-9]+(-[a-z0-9]+)*\.sql$", RegexOptions.CultureInvariant)]
    private static partial Regex MigrationFileName();
}
