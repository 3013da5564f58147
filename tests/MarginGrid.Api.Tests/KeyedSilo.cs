using System.Security.Cryptography;
using MarginGrid.Host.Silo.Security;
using MarginGrid.Testing;
using Xunit;

namespace MarginGrid.Api.Tests;

/// <summary>
/// What every silo fixture of these tests starts: a silo process on a fresh PostgreSQL database (<c>margingrid db
/// init</c>) with one random API key per name, configured by its SHA-256 hash and a role, quiet logs and a rate limit
/// the tests never reach, plus the fixture's own settings.
/// </summary>
internal static class KeyedSilo
{
    /// <summary>A random key per name.</summary>
    public static IReadOnlyDictionary<string, string> NewKeys(params string[] names) =>
        names.ToDictionary(n => n, _ => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));

    public static async Task<(TestDatabase Database, SiloProcess Silo)> StartAsync(
        string database, string silo, IReadOnlyDictionary<string, string> keys, Func<string, string> roleOf, IReadOnlyDictionary<string, string> settings)
    {
        var db = await TestPostgres.CreateDatabaseAsync(database);
        var init = await Margingrid.RunAsync("db", "init", "--connection-string", db.ConnectionString);
        Assert.True(init.ExitCode == 0, init.Output);
        var environment = new Dictionary<string, string>(settings);
        environment.TryAdd("Logging__LogLevel__Default", "Warning");
        environment.TryAdd("MarginGrid__RateLimit__PermitsPerSecond", "10000");
        foreach (var (name, key) in keys)
        {
            environment[$"MarginGrid__ApiKeys__{name}__Hash"] = ApiKeys.Hash(key);
            environment[$"MarginGrid__ApiKeys__{name}__Role"] = roleOf(name);
        }

        return (db, await SiloProcess.StartAsync(silo, db.ConnectionString, environment));
    }
}
