using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace MarginGrid.Testing;

/// <summary>
/// The audit trail's table as the durable-audit tests see it: counting rows, waiting for one with a deadline (the writer
/// is asynchronous), and holding the table locked so that a silo's records can only be queued — then killing that silo
/// with kill -9 and ending its sessions, so that nothing it sent commits after the lock goes.
/// </summary>
public static class AuditTable
{
    public static async Task<object?> ScalarAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    public static async Task<long> CountAsync(string connectionString, string countSql) =>
        Convert.ToInt64(await ScalarAsync(connectionString, countSql), CultureInfo.InvariantCulture);

    /// <summary>Polls <paramref name="countSql"/> until it counts a row; past <paramref name="deadline"/> it fails with the silo's log.</summary>
    public static async Task WaitForRowAsync(string connectionString, string countSql, TimeSpan deadline, Func<string> log)
    {
        var waited = Stopwatch.StartNew();
        while (await CountAsync(connectionString, countSql) == 0)
        {
            if (waited.Elapsed > deadline)
            {
                throw new TimeoutException($"no audit row after {deadline.TotalSeconds:0} s for: {countSql}\nthe silo's log:\n{log()}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling a condition with a deadline (the writer is asynchronous)
        }
    }

    /// <summary>Locks the table: the audit writer's INSERTs wait, so what a silo answers meanwhile is only queued.</summary>
    public static async Task<Lock> LockAsync(string connectionString)
    {
        var holder = new NpgsqlConnection(connectionString);
        await holder.OpenAsync();
        var transaction = await holder.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand("LOCK TABLE margingrid_audit IN SHARE MODE", holder, transaction))
        {
            await command.ExecuteNonQueryAsync();
        }

        return new Lock(holder, transaction);
    }

    public sealed class Lock(NpgsqlConnection holder, NpgsqlTransaction transaction) : IAsyncDisposable
    {
        /// <summary>
        /// kill -9 of <paramref name="silo"/> while the lock holds, then the lock released. PostgreSQL does not notice a dead
        /// client whose statement waits for a lock: the dead silo's sessions are ended first, or an INSERT it had already
        /// sent would still commit when the lock goes.
        /// </summary>
        public async Task KillAndReleaseAsync(SiloProcess silo)
        {
            await silo.KillAsync();
            await using (var terminate = new NpgsqlCommand(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                holder, transaction))
            {
                await terminate.ExecuteScalarAsync();
            }

            await transaction.RollbackAsync();
        }

        public async ValueTask DisposeAsync()
        {
            await transaction.DisposeAsync();
            await holder.DisposeAsync();
        }
    }
}
