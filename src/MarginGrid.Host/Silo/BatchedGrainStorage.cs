using System.Globalization;
using System.Text;
using MarginGrid.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Storage;

namespace MarginGrid.Host.Silo;

/// <summary>
/// Orleans' ADO.NET grain storage with its writes grouped (<see cref="GrainStateWriter"/>): the same table, the same
/// rows, the same <c>writetostorage</c> function and version fencing, so a state written by either provider is read by
/// the other. Reads and clears are Orleans' own. The grid's states on PostgreSQL go through it; it is what
/// <c>margingrid silo</c> uses with a connection string.
/// </summary>
/// <remarks>
/// The row's key (the grain id's hash bytes and parts, the hash of the state's name) is computed as Orleans'
/// <c>AdoNetGrainStorage</c> computes it, with the provider's own hasher; a test writes with each provider and reads
/// with the other for every kind of grain key. A state name with generic arguments (a '`') — none of the grid's —
/// is written by Orleans' provider itself, whose name normalization this class does not repeat.
/// </remarks>
public sealed partial class BatchedGrainStorage : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>, IAsyncDisposable
{
    private readonly AdoNetGrainStorage _inner;
    private readonly string _name;
    private readonly string _serviceId;
    private readonly Func<string, GrainStateWriter> _newWriter;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private volatile GrainStateWriter? _writer;
    private bool _disposed;

    public BatchedGrainStorage(
        AdoNetGrainStorage inner,
        string name,
        string serviceId,
        Func<string, GrainStateWriter> newWriter,
        ILogger<BatchedGrainStorage> logger)
    {
        _inner = inner;
        _name = name;
        _serviceId = serviceId;
        _newWriter = newWriter;
        _logger = logger;
    }

    /// <summary>The provider named <paramref name="name"/>: Orleans' ADO.NET provider for it, writes batched.</summary>
    public static BatchedGrainStorage Create(IServiceProvider services, string name)
    {
        var inner = AdoNetGrainStorageFactory.Create(services, name);
        var options = services.GetRequiredService<IOptionsMonitor<AdoNetGrainStorageOptions>>().Get(name);
        var writerOptions = services.GetRequiredService<IOptions<GrainStateWriterOptions>>().Value;
        var serviceId = services.GetRequiredService<IOptions<ClusterOptions>>().Value.ServiceId;
        var connectionString = options.ConnectionString
            ?? throw new InvalidOperationException($"grain storage '{name}': no connection string");
        return new BatchedGrainStorage(
            inner,
            name,
            serviceId,
            query => new GrainStateWriter(
                NpgsqlDataSource.Create(PostgresConnections.ForGrainStateWriter(connectionString)), query, writerOptions, size => StorageMetrics.Batch(name, size), ownsDataSource: true),
            services.GetRequiredService<ILogger<BatchedGrainStorage>>());
    }

    public void Participate(ISiloLifecycle lifecycle) => _inner.Participate(lifecycle);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ReadStateAsync(stateName, grainId, grainState);

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        _inner.ClearStateAsync(stateName, grainId, grainState);

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (stateName.Contains('`', StringComparison.Ordinal))
        {
            await _inner.WriteStateAsync(stateName, grainId, grainState);
            return;
        }

        var key = RowKey.Of(grainId);
        var hasher = _inner.HashPicker.PickHasher(_serviceId, _name, stateName, grainId, grainState)
            ?? throw new InvalidOperationException($"grain storage '{_name}': no hasher for state '{stateName}'");
        var etag = grainState.ETag;
        var row = new GrainStateRow(
            hasher.Hash(key.HashBytes()),
            key.N0,
            key.N1,
            hasher.Hash(Encoding.UTF8.GetBytes(stateName)),
            stateName,
            key.Extension,
            _serviceId,
            string.IsNullOrWhiteSpace(etag) ? null : int.Parse(etag, CultureInfo.InvariantCulture),
            (_inner.Serializer ?? throw new InvalidOperationException($"grain storage '{_name}': no serializer"))
                .Serialize(grainState.State).ToArray());

        int? written;
        try
        {
            written = await Writer().WriteAsync(row);
        }
        catch (Exception e)
        {
            LogWriteFailed(e, _name, stateName, grainId, etag);
            throw;
        }

        var version = written?.ToString(CultureInfo.InvariantCulture);
        if (version is null || version == etag)
        {
            // Orleans' provider's own words for it, so that logs and alerts read the same.
            throw new InconsistentStateException(
                $"Version conflict (WriteState): ServiceId={_serviceId} ProviderName={_name} GrainType={stateName} GrainId={key} ETag={etag}.");
        }

        grainState.ETag = version;
        grainState.RecordExists = true;
    }

    /// <summary>The writer, made on the first write: the query text is the one Orleans' provider read at its start.</summary>
    private GrainStateWriter Writer()
    {
        if (_writer is { } writer)
        {
            return writer;
        }

        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this); // a writer made now would never be disposed
            return _writer ??= _newWriter(_inner.CurrentOperationalQueries.WriteToStorage);
        }
    }

    public async ValueTask DisposeAsync()
    {
        GrainStateWriter? writer;
        lock (_gate)
        {
            _disposed = true;
            writer = _writer;
        }

        if (writer is not null)
        {
            await writer.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Error writing grain state: provider {Name}, state {StateName}, grain {GrainId}, ETag {ETag}")]
    private partial void LogWriteFailed(Exception exception, string name, string stateName, GrainId grainId, string? etag);

    /// <summary>
    /// A grain id as Orleans' ADO.NET storage keys its row: a Guid key in two longs (N0, N1), an integer key in N1, a
    /// string key in the extension column; the hash over the key's bytes (reversed on little-endian machines).
    /// </summary>
    internal readonly record struct RowKey(long N0, long N1, string? Extension, RowKey.Kind KeyKind)
    {
        internal enum Kind
        {
            Guid,
            Integer,
            String,
        }

        public static RowKey Of(GrainId grainId)
        {
            if (grainId.TryGetGuidKey(out var guid, out var guidExtension))
            {
                var bytes = guid.ToByteArray();
                return new RowKey(BitConverter.ToInt64(bytes, 0), BitConverter.ToInt64(bytes, 8), guidExtension, Kind.Guid);
            }

            if (grainId.TryGetIntegerKey(out var integer, out var integerExtension))
            {
                return new RowKey(0, integer, integerExtension, Kind.Integer);
            }

            return new RowKey(0, 0, grainId.Key.ToString(), Kind.String);
        }

        public byte[] HashBytes()
        {
            byte[] bytes = KeyKind switch
            {
                Kind.Integer => BitConverter.GetBytes(N1),
                Kind.Guid => GuidOf(N0, N1).ToByteArray(),
                _ => Encoding.UTF8.GetBytes(Extension ?? string.Empty),
            };
            if (KeyKind != Kind.String && Extension is not null)
            {
                bytes = [.. bytes, .. Encoding.UTF8.GetBytes(Extension)];
            }

            if (BitConverter.IsLittleEndian)
            {
                Array.Reverse(bytes);
            }

            return bytes;
        }

        public override string ToString() => KeyKind switch
        {
            Kind.Integer => N1.ToString(CultureInfo.InvariantCulture) + (Extension is null ? string.Empty : "#" + Extension),
            Kind.Guid => GuidOf(N0, N1) + (Extension is null ? string.Empty : "#" + Extension),
            _ => Extension ?? string.Empty,
        };

        private static Guid GuidOf(long n0, long n1) =>
            new((uint)(n0 & 0xffffffff), (ushort)(n0 >> 32), (ushort)(n0 >> 48), (byte)n1, (byte)(n1 >> 8),
                (byte)(n1 >> 16), (byte)(n1 >> 24), (byte)(n1 >> 32), (byte)(n1 >> 40), (byte)(n1 >> 48), (byte)(n1 >> 56));
    }
}

/// <summary>How the grain storage's writes were grouped: batches run and the writes in them, per provider.</summary>
internal static class StorageMetrics
{
    private static readonly Prometheus.Counter Batches = Prometheus.Metrics.CreateCounter(
        "margingrid_storage_write_batches_total",
        "Round trips (one transaction each) that wrote grain states to PostgreSQL.",
        new Prometheus.CounterConfiguration { LabelNames = ["provider"] });

    private static readonly Prometheus.Counter Writes = Prometheus.Metrics.CreateCounter(
        "margingrid_storage_writes_total",
        "Grain state writes sent to PostgreSQL (writes / batches = the mean batch size).",
        new Prometheus.CounterConfiguration { LabelNames = ["provider"] });

    public static void Batch(string provider, int size)
    {
        Batches.WithLabels(provider).Inc();
        Writes.WithLabels(provider).Inc(size);
    }
}
