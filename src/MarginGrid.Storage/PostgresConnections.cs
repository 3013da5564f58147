using System.Data.Common;
using Npgsql;

namespace MarginGrid.Storage;

/// <summary>The connection settings a silo uses for PostgreSQL where the operator's connection string is silent.</summary>
public static class PostgresConnections
{
    /// <summary>Statements prepared per physical connection by Npgsql's automatic preparation (its default: none).</summary>
    public const int MaxAutoPrepare = 64;

    /// <summary>
    /// <paramref name="connectionString"/> with, unless it sets them itself:
    /// <list type="bullet">
    /// <item><c>No Reset On Close=true</c> — Npgsql otherwise sends <c>DISCARD ALL</c> each time a pooled connection
    /// is returned, and that drops the session's cached plans: every call of Orleans' <c>writetostorage</c> then plans
    /// its UPDATE again. Nothing the silo runs leaves session state behind (no <c>SET</c>, temporary tables, session
    /// advisory locks or <c>LISTEN</c>; transactions end before the connection is returned).</item>
    /// <item><c>Max Auto Prepare=64</c>, <c>Auto Prepare Min Usages=2</c> — Orleans' and the audit log's statements
    /// are the same few texts run thousands of times a second in a crash: prepared once per connection, they are no
    /// longer parsed and planned on every call.</item>
    /// </list>
    /// An operator behind a pooler in transaction mode (PgBouncer before 1.21) sets <c>Max Auto Prepare=0</c> and
    /// <c>No Reset On Close=false</c> explicitly, and those win.
    /// </summary>
    public static string ForSilo(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var given = new DbConnectionStringBuilder { ConnectionString = connectionString };
        var keys = given.Keys.Cast<string>().Select(Normalize).ToHashSet(StringComparer.Ordinal);
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (!keys.Contains("noresetonclose"))
        {
            builder.NoResetOnClose = true;
        }

        if (!keys.Contains("maxautoprepare"))
        {
            builder.MaxAutoPrepare = MaxAutoPrepare;
        }

        if (!keys.Contains("autoprepareminusages"))
        {
            builder.AutoPrepareMinUsages = 2;
        }

        return builder.ConnectionString;
    }

    private static string Normalize(string key) => key.Replace(" ", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
}
