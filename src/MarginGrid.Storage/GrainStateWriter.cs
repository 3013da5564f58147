using Npgsql;

namespace MarginGrid.Storage;

/// <summary>
/// One write of a grain's state to Orleans' ADO.NET table (<c>OrleansStorage</c>), with the parameters of Orleans'
/// <c>WriteToStorageKey</c> query: the key's hashes and parts, the version the grain read (null for a state never
/// written) and the serialized state.
/// </summary>
public sealed record GrainStateRow(
    int GrainIdHash,
    long GrainIdN0,
    long GrainIdN1,
    int GrainTypeHash,
    string GrainTypeString,
    string? GrainIdExtensionString,
    string ServiceId,
    int? Version,
    byte[] Payload);

/// <summary>How <see cref="GrainStateWriter"/> groups writes (configuration section <c>MarginGrid:Storage</c>).</summary>
public sealed class GrainStateWriterOptions
{
    public const string Section = "MarginGrid:Storage";

    /// <summary>At most this many writes in one round trip and one transaction (1–1,000).</summary>
    public int WriteBatchSize { get; set; } = 128;

    /// <summary>
    /// At most this many batches in flight at once, each on its own connection (1–64). One (the default) is group
    /// commit: the writes that arrive while a batch commits go together in the next. On the production-path crash
    /// (docs/liquidation-throughput.md) one gave 1.4–1.6 writes per round trip and four gave 1.06, with the
    /// tick→liquidation latency within the runs' noise of each other; more lets a silo's writes overlap when the
    /// database has cores to spare for them.
    /// </summary>
    public int ConcurrentWriteBatches { get; set; } = 1;

    /// <summary>Off: every write is its own command, as Orleans' provider does it (for comparison and diagnosis).</summary>
    public bool BatchWrites { get; set; } = true;

    /// <summary>Throws naming the setting when a value is out of its range.</summary>
    public void Validate()
    {
        if (WriteBatchSize is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(
                $"{Section}:{nameof(WriteBatchSize)}", WriteBatchSize, "must be between 1 and 1000");
        }

        if (ConcurrentWriteBatches is < 1 or > 64)
        {
            throw new ArgumentOutOfRangeException(
                $"{Section}:{nameof(ConcurrentWriteBatches)}", ConcurrentWriteBatches, "must be between 1 and 64");
        }
    }
}

/// <summary>
/// Writes grain states to PostgreSQL in batches: the writes that wait while a batch is in flight go together in the
/// next one — one round trip and one transaction (one commit, one WAL flush) for all of them. Nothing waits to fill
/// a batch: a lone write goes at once, alone. In a crash step hundreds of accounts write at the same moment; written
/// one by one, each paid its own round trip and commit, and the database's share of the production path's CPU was
/// mostly that (docs/liquidation-throughput.md).
/// </summary>
/// <remarks>
/// <para>Each write keeps its own fencing: Orleans' <c>writetostorage</c> updates the row only at the version the grain
/// read, and reports the version it has afterwards; a write whose version did not move was refused (the caller raises
/// Orleans' <c>InconsistentStateException</c>) while the rest of its batch commits.</para>
/// <para>A batch is one implicit transaction: a statement that fails (a value too long for its column, a deadlock)
/// rolls the whole batch back, and each of its writes is then run on its own, on the same connection, so that one bad
/// write fails alone. A failure that is not the server's answer to a statement (no connection to be had, the
/// connection lost) fails the batch's writes with it, without retries: whether a lost connection's commit happened is
/// then unknown, as it is for a single write, and a grain that writes again finds the version moved or not.</para>
/// <para>A write completes only after the transaction's commit was confirmed (the reader closed past the batch's
/// end), never on the rows alone.</para>
/// </remarks>
public sealed class GrainStateWriter : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly string _query;
    private readonly GrainStateWriterOptions _options;
    private readonly Action<int>? _onBatch;
    private readonly Lock _gate = new();
    private readonly Queue<Pending> _queue = new();
    private int _running;
    private bool _disposed;

    /// <param name="dataSource">Connections to the database holding <c>OrleansStorage</c>.</param>
    /// <param name="writeQuery">Orleans' <c>WriteToStorageKey</c> query (named parameters, one row with the version).</param>
    /// <param name="options">Batch size and concurrency.</param>
    /// <param name="onBatch">Called with the size of each batch run (metrics).</param>
    /// <param name="ownsDataSource">Dispose <paramref name="dataSource"/> with the writer.</param>
    public GrainStateWriter(
        NpgsqlDataSource dataSource,
        string writeQuery,
        GrainStateWriterOptions options,
        Action<int>? onBatch = null,
        bool ownsDataSource = false)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentException.ThrowIfNullOrWhiteSpace(writeQuery);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _query = writeQuery;
        _options = options;
        _onBatch = onBatch;
    }

    /// <summary>
    /// Writes <paramref name="row"/> and returns the version the database reports for it afterwards: the read version
    /// plus one (1 for a new row) when written, the same version (or null) when the write was refused.
    /// </summary>
    public Task<int?> WriteAsync(GrainStateRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        var pending = new Pending(row);
        bool start;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _queue.Enqueue(pending);
            var limit = _options.BatchWrites ? _options.ConcurrentWriteBatches : int.MaxValue;
            start = _running < limit;
            if (start)
            {
                _running++;
            }
        }

        if (start)
        {
            // Off the caller's scheduler (a grain's): the drain serves every grain's writes.
            _ = Task.Run(DrainAsync);
        }

        return pending.Completion.Task;
    }

    private async Task DrainAsync()
    {
        while (true)
        {
            Pending[] batch;
            lock (_gate)
            {
                if (_queue.Count == 0)
                {
                    _running--;
                    return;
                }

                var size = Math.Min(_queue.Count, _options.BatchWrites ? _options.WriteBatchSize : 1);
                batch = new Pending[size];
                for (var i = 0; i < size; i++)
                {
                    batch[i] = _queue.Dequeue();
                }
            }

            try
            {
                await RunAsync(batch).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // RunAsync answers every write itself; should anything escape it (a bug, a dispose that throws), the
                // batch's writes still get an answer and the drain goes on: a write never waits forever.
                Fail(batch, 0, e);
            }
        }
    }

    /// <summary>The metrics callback; never lets its failure reach a write.</summary>
    private void Counted(int size)
    {
        try
        {
            _onBatch?.Invoke(size);
        }
        catch (Exception)
        {
            // Metrics are not worth a write.
        }
    }

    /// <summary>Runs a batch and completes each of its writes; never throws.</summary>
    private async Task RunAsync(Pending[] batch)
    {
        Counted(batch.Length);
        NpgsqlConnection connection;
        try
        {
            connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // No connection (the database away, refusing connections): nothing ran, and running the writes one by
            // one would only ask again as many times.
            Fail(batch, 0, e);
            return;
        }

        await using (connection.ConfigureAwait(false))
        {
            try
            {
                Complete(batch, await ExecuteAsync(connection, batch).ConfigureAwait(false));
            }
            catch (PostgresException refused) when (batch.Length > 1)
            {
                // The server refused a statement (or the commit) and rolled the batch back: each write again on its
                // own, on the same connection, so that only the bad one fails. Not when the server ended the session
                // (a fatal error, the connection closed): the writes fail with the server's reason.
                if (connection.State != System.Data.ConnectionState.Open || refused.InvariantSeverity is "FATAL" or "PANIC")
                {
                    Fail(batch, 0, refused);
                    return;
                }

                for (var i = 0; i < batch.Length; i++)
                {
                    Counted(1);
                    try
                    {
                        Complete([batch[i]], await ExecuteAsync(connection, [batch[i]]).ConfigureAwait(false));
                    }
                    catch (PostgresException e)
                    {
                        batch[i].Completion.TrySetException(e);
                    }
                    catch (Exception e)
                    {
                        Fail(batch, i, e); // the connection broke: the rest cannot run on it
                        return;
                    }
                }
            }
            catch (Exception e)
            {
                Fail(batch, 0, e);
            }
        }
    }

    private static void Complete(Pending[] batch, int?[] versions)
    {
        for (var i = 0; i < batch.Length; i++)
        {
            batch[i].Completion.TrySetResult(versions[i]);
        }
    }

    private static void Fail(Pending[] batch, int from, Exception e)
    {
        for (var i = from; i < batch.Length; i++)
        {
            batch[i].Completion.TrySetException(e);
        }
    }

    private async Task<int?[]> ExecuteAsync(NpgsqlConnection connection, Pending[] batch)
    {
        await using var command = new NpgsqlBatch(connection);
        foreach (var pending in batch)
        {
            var row = pending.Row;
            var statement = new NpgsqlBatchCommand(_query);
            statement.Parameters.AddWithValue("GrainIdHash", row.GrainIdHash);
            statement.Parameters.AddWithValue("GrainIdN0", row.GrainIdN0);
            statement.Parameters.AddWithValue("GrainIdN1", row.GrainIdN1);
            statement.Parameters.AddWithValue("GrainTypeHash", row.GrainTypeHash);
            statement.Parameters.AddWithValue("GrainTypeString", row.GrainTypeString);
            statement.Parameters.Add(new NpgsqlParameter("GrainIdExtensionString", NpgsqlTypes.NpgsqlDbType.Varchar)
            {
                Value = (object?)row.GrainIdExtensionString ?? DBNull.Value,
            });
            statement.Parameters.AddWithValue("ServiceId", row.ServiceId);
            statement.Parameters.Add(new NpgsqlParameter("GrainStateVersion", NpgsqlTypes.NpgsqlDbType.Integer)
            {
                Value = row.Version is { } version ? version : DBNull.Value,
            });
            statement.Parameters.AddWithValue("PayloadBinary", row.Payload);
            command.BatchCommands.Add(statement);
        }

        var versions = new int?[batch.Length];
        var reader = await command.ExecuteReaderAsync().ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            for (var i = 0; i < batch.Length; i++)
            {
                if (i > 0 && !await reader.NextResultAsync().ConfigureAwait(false))
                {
                    throw new InvalidOperationException($"the write query returned {i} results for {batch.Length} statements");
                }

                versions[i] = await reader.ReadAsync().ConfigureAwait(false) && !await reader.IsDBNullAsync(0).ConfigureAwait(false)
                    ? reader.GetInt32(0)
                    : null;
            }

            // Past the batch's end: the implicit transaction's commit (and an error in it) arrives here.
            while (await reader.NextResultAsync().ConfigureAwait(false))
            {
            }

            await reader.CloseAsync().ConfigureAwait(false);
        }

        return versions;
    }

    /// <summary>Fails the writes not yet started; waits for nothing (a batch in flight completes on its own).</summary>
    public async ValueTask DisposeAsync()
    {
        Pending[] left;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            left = [.. _queue];
            _queue.Clear();
        }

        foreach (var pending in left)
        {
            pending.Completion.TrySetException(new ObjectDisposedException(nameof(GrainStateWriter)));
        }

        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed class Pending(GrainStateRow row)
    {
        public GrainStateRow Row { get; } = row;

        public TaskCompletionSource<int?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
