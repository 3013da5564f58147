using Npgsql;
using NpgsqlTypes;

namespace MarginGrid.Storage;

/// <summary>
/// Writes and reads MarginGrid's append-only audit trail, the <c>margingrid_audit</c> table created by
/// <see cref="DatabaseInitializer"/>. Thread-safe.
/// </summary>
public sealed class AuditLog : IAsyncDisposable
{
    /// <summary>The most records <see cref="ReadAsync"/> returns by default.</summary>
    public const int DefaultReadLimit = 10_000;

    private const string Columns = "kind, type, account_id, command_id, market, payload, grain_version, silo";

    private const string InsertOneSql =
        $"INSERT INTO margingrid_audit ({Columns}) "
        + "VALUES (@kind, @type, @account_id, @command_id, @market, @payload::jsonb, @grain_version, @silo) "
        + "ON CONFLICT DO NOTHING";

    private const string InsertManySql =
        $"INSERT INTO margingrid_audit ({Columns}) "
        + "SELECT kind, type, account_id, command_id, market, payload::jsonb, grain_version, silo "
        + "FROM unnest(@kind, @type, @account_id, @command_id, @market, @payload, @grain_version, @silo) "
        + "WITH ORDINALITY AS r(kind, type, account_id, command_id, market, payload, grain_version, silo, ordinal) "
        + "ORDER BY ordinal "
        + "ON CONFLICT DO NOTHING";

    private const string QuarantineSql =
        $"INSERT INTO margingrid_audit_quarantine ({Columns}, error) "
        + "VALUES (@kind, @type, @account_id, @command_id, @market, @payload, @grain_version, @silo, @error)";

    private const string ReadSql =
        $"SELECT id, recorded_at, {Columns} FROM margingrid_audit "
        + "WHERE account_id = @account_id AND id > @after_id ORDER BY id LIMIT @limit";

    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;

    /// <summary>An audit log over <paramref name="dataSource"/>, which stays the caller's to dispose.</summary>
    public AuditLog(NpgsqlDataSource dataSource)
        : this(dataSource ?? throw new ArgumentNullException(nameof(dataSource)), ownsDataSource: false)
    {
    }

    private AuditLog(NpgsqlDataSource dataSource, bool ownsDataSource)
    {
        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
    }

    /// <summary>An audit log with its own connection pool for <paramref name="connectionString"/>; dispose it.</summary>
    public static AuditLog Create(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return new AuditLog(NpgsqlDataSource.Create(connectionString), ownsDataSource: true);
    }

    /// <summary>
    /// Appends <paramref name="record"/>. Returns false, storing nothing, when a record with the same kind, type and
    /// command id is already stored.
    /// </summary>
    public async Task<bool> AppendAsync(AuditRecord record, CancellationToken cancellationToken = default)
    {
        Validate(record);
        await using var command = _dataSource.CreateCommand(InsertOneSql);
        command.Parameters.Add(new NpgsqlParameter<string>("kind", ToDatabase(record.Kind)));
        command.Parameters.Add(new NpgsqlParameter<string>("type", record.Type));
        command.Parameters.Add(new NpgsqlParameter<string>("account_id", record.AccountId));
        command.Parameters.Add(Nullable("command_id", NpgsqlDbType.Text, record.CommandId));
        command.Parameters.Add(Nullable("market", NpgsqlDbType.Text, record.Market));
        command.Parameters.Add(new NpgsqlParameter<string>("payload", record.PayloadJson));
        command.Parameters.Add(Nullable("grain_version", NpgsqlDbType.Bigint, record.GrainVersion));
        command.Parameters.Add(Nullable("silo", NpgsqlDbType.Text, record.Silo));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>
    /// Appends <paramref name="records"/> in order, in one statement (all or none on error). Records whose
    /// kind, type and command id are already stored, or repeat an earlier one of the batch, are skipped.
    /// Returns how many were stored.
    /// </summary>
    public async Task<int> AppendManyAsync(IEnumerable<AuditRecord> records, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(records);
        var batch = records as IReadOnlyList<AuditRecord> ?? [.. records];
        if (batch.Count == 0)
        {
            return 0;
        }

        var kinds = new string[batch.Count];
        var types = new string[batch.Count];
        var accounts = new string[batch.Count];
        var commandIds = new string?[batch.Count];
        var markets = new string?[batch.Count];
        var payloads = new string[batch.Count];
        var versions = new long?[batch.Count];
        var silos = new string?[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            var record = batch[i];
            Validate(record);
            kinds[i] = ToDatabase(record.Kind);
            types[i] = record.Type;
            accounts[i] = record.AccountId;
            commandIds[i] = record.CommandId;
            markets[i] = record.Market;
            payloads[i] = record.PayloadJson;
            versions[i] = record.GrainVersion;
            silos[i] = record.Silo;
        }

        await using var command = _dataSource.CreateCommand(InsertManySql);
        command.Parameters.Add(TextArray("kind", kinds));
        command.Parameters.Add(TextArray("type", types));
        command.Parameters.Add(TextArray("account_id", accounts));
        command.Parameters.Add(TextArray("command_id", commandIds));
        command.Parameters.Add(TextArray("market", markets));
        command.Parameters.Add(TextArray("payload", payloads));
        command.Parameters.Add(new NpgsqlParameter("grain_version", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { Value = versions });
        command.Parameters.Add(TextArray("silo", silos));
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The records of <paramref name="accountId"/> with an id above <paramref name="afterId"/>, oldest first, at most
    /// <paramref name="limit"/> of them (page on with the last id returned).
    /// </summary>
    public async Task<IReadOnlyList<StoredAuditRecord>> ReadAsync(
        string accountId, long afterId = 0, int limit = DefaultReadLimit, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(accountId);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        await using var command = _dataSource.CreateCommand(ReadSql);
        command.Parameters.Add(new NpgsqlParameter<string>("account_id", accountId));
        command.Parameters.Add(new NpgsqlParameter<long>("after_id", afterId));
        command.Parameters.Add(new NpgsqlParameter<int>("limit", limit));

        var result = new List<StoredAuditRecord>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var record = new AuditRecord(
                FromDatabase(reader.GetString(2)),
                reader.GetString(3),
                reader.GetString(4),
                reader.GetString(7))
            {
                CommandId = reader.IsDBNull(5) ? null : reader.GetString(5),
                Market = reader.IsDBNull(6) ? null : reader.GetString(6),
                GrainVersion = reader.IsDBNull(8) ? null : reader.GetInt64(8),
                Silo = reader.IsDBNull(9) ? null : reader.GetString(9),
            };
            result.Add(new StoredAuditRecord(
                reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1), record));
        }

        return result;
    }

    /// <summary>
    /// Stores <paramref name="record"/> in <c>margingrid_audit_quarantine</c>, as text, with the reason it could not be
    /// appended: NUL characters become the six characters <c>\u0000</c>, so that any record can be kept.
    /// </summary>
    public async Task QuarantineAsync(AuditRecord record, string error, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(record);
        await using var command = _dataSource.CreateCommand(QuarantineSql);
        command.Parameters.Add(Nullable("kind", NpgsqlDbType.Text, Enum.IsDefined(record.Kind) ? ToDatabase(record.Kind) : record.Kind.ToString()));
        command.Parameters.Add(Nullable("type", NpgsqlDbType.Text, Escape(record.Type)));
        command.Parameters.Add(Nullable("account_id", NpgsqlDbType.Text, Escape(record.AccountId)));
        command.Parameters.Add(Nullable("command_id", NpgsqlDbType.Text, Escape(record.CommandId)));
        command.Parameters.Add(Nullable("market", NpgsqlDbType.Text, Escape(record.Market)));
        command.Parameters.Add(Nullable("payload", NpgsqlDbType.Text, Escape(record.PayloadJson)));
        command.Parameters.Add(Nullable("grain_version", NpgsqlDbType.Bigint, record.GrainVersion));
        command.Parameters.Add(Nullable("silo", NpgsqlDbType.Text, Escape(record.Silo)));
        command.Parameters.Add(new NpgsqlParameter<string>("error", Escape(error) ?? "unknown"));
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The quarantined records, oldest first.</summary>
    public async Task<IReadOnlyList<(long Id, string? AccountId, string? Payload, string Error)>> ReadQuarantineAsync(
        CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand("SELECT id, account_id, payload, error FROM margingrid_audit_quarantine ORDER BY id");
        var result = new List<(long, string?, string?, string)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            result.Add((reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetString(3)));
        }

        return result;
    }

    /// <summary>
    /// True when appending failed because of what the records hold — PostgreSQL refused the data (a NUL character, a
    /// value too long, a violated check) or the record is invalid — so that retrying the same records can never succeed.
    /// Connection failures, timeouts and the like are transient: false.
    /// </summary>
    public static bool IsPermanent(Exception exception) =>
        exception is ArgumentException
        || (exception is PostgresException pg && !pg.IsTransient
            && (pg.SqlState.StartsWith("22", StringComparison.Ordinal) || pg.SqlState.StartsWith("23", StringComparison.Ordinal)));

    /// <summary>Disposes the connection pool if this log created it (<see cref="Create"/>).</summary>
    public ValueTask DisposeAsync() => _ownsDataSource ? _dataSource.DisposeAsync() : ValueTask.CompletedTask;

    private static void Validate(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (!Enum.IsDefined(record.Kind))
        {
            throw new ArgumentException($"unknown audit kind {record.Kind}", nameof(record));
        }

        if (string.IsNullOrEmpty(record.Type))
        {
            throw new ArgumentException("an audit record needs a type", nameof(record));
        }

        if (string.IsNullOrEmpty(record.AccountId))
        {
            throw new ArgumentException("an audit record needs an account id", nameof(record));
        }

        if (record.PayloadJson is null)
        {
            throw new ArgumentException("an audit record needs a JSON payload", nameof(record));
        }
    }

    private static string ToDatabase(AuditKind kind) => kind switch
    {
        AuditKind.Command => "command",
        AuditKind.Event => "event",
        AuditKind.Price => "price",
        AuditKind.Config => "config",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    private static AuditKind FromDatabase(string kind) => kind switch
    {
        "command" => AuditKind.Command,
        "event" => AuditKind.Event,
        "price" => AuditKind.Price,
        "config" => AuditKind.Config,
        _ => throw new InvalidOperationException($"unknown audit kind '{kind}' in margingrid_audit"),
    };

    private static string? Escape(string? text) => text?.Replace("\0", "\\u0000", StringComparison.Ordinal);

    private static NpgsqlParameter Nullable(string name, NpgsqlDbType type, object? value) =>
        new(name, type) { Value = value ?? DBNull.Value };

    private static NpgsqlParameter TextArray(string name, string?[] values) =>
        new(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values };
}
