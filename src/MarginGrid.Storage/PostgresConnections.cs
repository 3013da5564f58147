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
    /// <item><c>Max Auto Prepare=64</c>, <c>Auto Prepare Min Usages=2</c> — Orleans' and the audit log's statements
    /// are the same few texts run thousands of times a second in a crash: prepared once per connection, they are no
    /// longer parsed and planned on every call. Without them Npgsql holds no prepared statement and resets a returned
    /// pooled connection with <c>DISCARD ALL</c>, which also drops the session's cached plans — so every call of
    /// Orleans' <c>writetostorage</c> planned its UPDATE again (the production path's crash: 0.40 ms a write, 0.13
    /// ms with these settings).</item>
    /// <item><c>No Reset On Close=true</c> — no reset at all when a connection is returned (with prepared statements
    /// Npgsql's reset is lighter, but still a round of commands per return). Nothing the silo runs leaves session
    /// state behind: no <c>SET</c>, temporary tables, session advisory locks or <c>LISTEN</c>; transactions end
    /// before the connection is returned.</item>
    /// </list>
    /// An operator behind a pooler in transaction mode (PgBouncer before 1.21) sets <c>Max Auto Prepare=0</c> and
    /// <c>No Reset On Close=false</c> explicitly, and those win. A prepared statement's plan is bound to the result
    /// type of what it calls: a schema change that alters the result of a function the silos call (Orleans'
    /// <c>writetostorage</c>) while they run fails their calls ("cached plan must not change result type") until they
    /// restart — change such functions with the silos stopped, as a migration.
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

    /// <summary>How long a grain-state write waits for a row another transaction holds before the server refuses it.</summary>
    public static readonly TimeSpan WriterLockTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The connections of the grain-state writer (<see cref="GrainStateWriter"/>, a pool of its own): the silo's
    /// connection string (already given <see cref="ForSilo"/>'s defaults by the silo's settings), with
    /// <c>lock_timeout</c> set. A row is held by another transaction only when two activations of one grain write at
    /// once (a failover); without a lock timeout the wait ends at the command timeout as a client-side error that fails
    /// the whole batch, with it the server refuses the one write and the rest of its batch is written on its own.
    /// </summary>
    public static string ForGrainStateWriter(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        var lockTimeout = $"-c lock_timeout={(int)WriterLockTimeout.TotalMilliseconds}";
        builder.Options = string.IsNullOrWhiteSpace(builder.Options) ? lockTimeout : builder.Options + " " + lockTimeout;
        return builder.ConnectionString;
    }

    private static string Normalize(string key) => key.Replace(" ", string.Empty, StringComparison.Ordinal).ToLowerInvariant();
}
