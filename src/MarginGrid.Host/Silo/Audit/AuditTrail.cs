using System.Text.Json;
using System.Threading.Channels;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Storage;
using Prometheus;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>The audit trail's settings: <c>MarginGrid:Audit:*</c>.</summary>
public sealed record AuditSettings
{
    public const string Section = "MarginGrid:Audit";

    /// <summary>
    /// Records that may wait for the writer before commands feel back-pressure: beyond it, a command waits (up to
    /// <see cref="BackPressureTimeout"/>, then 503) until the writer catches up. Nothing is ever dropped.
    /// </summary>
    public int Capacity { get; init; } = 65_536;

    /// <summary>The most records one INSERT appends.</summary>
    public int BatchSize { get; init; } = 500;

    /// <summary>How long a command waits for room in a full audit queue before it answers 503 (nothing applied).</summary>
    public TimeSpan BackPressureTimeout { get; init; } = TimeSpan.FromSeconds(10);

    public static AuditSettings From(IConfiguration configuration)
    {
        var defaults = new AuditSettings();
        var settings = new AuditSettings
        {
            Capacity = configuration.GetValue($"{Section}:Capacity", defaults.Capacity),
            BatchSize = configuration.GetValue($"{Section}:BatchSize", defaults.BatchSize),
            BackPressureTimeout = configuration.GetValue($"{Section}:BackPressureTimeout", defaults.BackPressureTimeout),
        };
        return settings.Capacity > 0 && settings.BatchSize > 0 && settings.BackPressureTimeout > TimeSpan.Zero
            ? settings
            : throw new InvalidOperationException($"{Section}:Capacity, {Section}:BatchSize and {Section}:BackPressureTimeout must be positive");
    }
}

/// <summary>The audit queue stayed full for longer than <see cref="AuditSettings.BackPressureTimeout"/>: the command was not run.</summary>
public sealed class AuditBackPressureException(TimeSpan waited)
    : Exception($"the audit trail is {waited.TotalSeconds:0.#} s behind (PostgreSQL slow or away): the command was not run");

/// <summary>
/// The front of the audit trail: commands, events, prices and configuration changes are queued here, on whatever
/// thread reports them (grain threads included); <see cref="AuditWriter"/> appends them to <c>margingrid_audit</c> in
/// batches. <b>No record is ever dropped</b>: the queue itself is unbounded, and <see cref="AuditSettings.Capacity"/>
/// is where back-pressure starts. HTTP commands call <see cref="WaitForRoomAsync"/> before they run, so while the
/// writer is behind (PostgreSQL slow or away) new commands wait and then answer 503 without being applied; events and
/// prices, which come from the grid itself and must never stall a liquidation, are always queued (counted in
/// <c>margingrid_audit_over_capacity_total</c> when beyond the capacity; memory is then the bound, and the
/// <c>margingrid_audit_backlog</c> gauge shows it). Without a PostgreSQL connection string the trail is disabled.
/// </summary>
public sealed class AuditTrail
{
    /// <summary>The account id of records that concern no single account (prices, configuration).</summary>
    public const string AllAccounts = "*";

    private static readonly Counter Dropped = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_dropped_total", "Audit records refused because the trail was already stopped (shutdown).");

    private static readonly Counter Queued = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_queued_total", "Audit records queued for PostgreSQL.");

    private static readonly Counter OverCapacity = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_over_capacity_total", "Audit records queued while the queue was beyond its capacity (kept, not dropped).");

    private static readonly Gauge Backlog = Prometheus.Metrics.CreateGauge(
        "margingrid_audit_backlog", "Audit records queued and not yet written (or quarantined).");

    private readonly Channel<AuditRecord> _queue;
    private readonly ILogger<AuditTrail> _logger;
    private readonly AuditSettings _settings;
    private readonly object _gate = new();
    private TaskCompletionSource _room = Completed();
    private long _backlog;
    private long _dropped;

    public AuditTrail(bool enabled, string silo, AuditSettings settings, ILogger<AuditTrail> logger)
    {
        Enabled = enabled;
        Silo = silo;
        _logger = logger;
        _settings = settings;
        _queue = Channel.CreateUnbounded<AuditRecord>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });
    }

    public bool Enabled { get; }

    /// <summary>This silo's name in the records' <c>silo</c> column.</summary>
    public string Silo { get; }

    public ChannelReader<AuditRecord> Reader => _queue.Reader;

    /// <summary>How many records this process refused after the trail stopped.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Records queued and not yet written.</summary>
    public long BacklogCount => Interlocked.Read(ref _backlog);

    /// <summary>Stops accepting records; the writer drains what is queued.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>
    /// Waits while the backlog is at or beyond the capacity; throws <see cref="AuditBackPressureException"/> after
    /// <see cref="AuditSettings.BackPressureTimeout"/>. Commands call it before they run.
    /// </summary>
    public async ValueTask WaitForRoomAsync(CancellationToken cancellationToken)
    {
        if (!Enabled || BacklogCount < _settings.Capacity)
        {
            return;
        }

        Task room;
        lock (_gate)
        {
            room = _room.Task;
        }

        try
        {
            await room.WaitAsync(_settings.BackPressureTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new AuditBackPressureException(_settings.BackPressureTimeout);
        }
    }

    /// <summary>The writer stored (or quarantined) <paramref name="count"/> records.</summary>
    public void Written(int count)
    {
        var backlog = Interlocked.Add(ref _backlog, -count);
        Backlog.Set(backlog);
        if (backlog < _settings.Capacity)
        {
            lock (_gate)
            {
                _room.TrySetResult();
            }
        }
    }

    /// <summary>Queues an event record: the event with its step and price, as the API shows it.</summary>
    public void Event(GridEvent e)
    {
        if (!Enabled)
        {
            return;
        }

        // Market-level events (price_stale, price_held, liquidation_batch) have no account: filed under all accounts.
        var account = e.IsMarketEvent ? AllAccounts : e.Account;
        Enqueue(new AuditRecord(AuditKind.Event, e.TypeName, account, JsonSerializer.Serialize(EventBody.From(e), ApiJson.Options))
        {
            CommandId = e.AuditKey, // account/#n where the account keeps an audit outbox: one row per key
            Market = e.Market,
            Silo = Silo,
        });
    }

    /// <summary>
    /// Queues a grid-level record offered by a market or the configuration grain (their audit outboxes): a price — what
    /// the source sent, when the engine received it, the step it became (and, on its first offer, the step's counts) — or
    /// an accepted configuration with its version. Its key (<c>*market/…</c>, <c>*config/#version</c>) is the row's
    /// <c>command_id</c>: one row per key, however often offered.
    /// </summary>
    public void Grid(GridAuditEntry entry)
    {
        if (!Enabled)
        {
            return;
        }

        var key = entry.Key.Length == 0 ? null : entry.Key;
        if (entry.Price is { } p)
        {
            var payload = new
            {
                market = p.Market,
                source = p.Source,
                price = p.Price,
                timestamp = p.Timestamp,
                receivedAt = p.ReceivedAt,
                step = p.Step,
                evaluated = p.Evaluated,
                events = p.Events,
                recovered = p.Evaluated is null ? true : (bool?)null,
            };
            Enqueue(new AuditRecord(AuditKind.Price, "price", AllAccounts, JsonSerializer.Serialize(payload, ApiJson.Options))
            {
                CommandId = key,
                Market = p.Market,
                Silo = Silo,
            });
        }
        else if (entry.Config is { } c)
        {
            var payload = new { version = c.Version, previousVersion = c.PreviousVersion, config = c.Config };
            Enqueue(new AuditRecord(AuditKind.Config, "config", AllAccounts, JsonSerializer.Serialize(payload, ApiJson.Options))
            {
                CommandId = key,
                GrainVersion = c.Version,
                Silo = Silo,
            });
        }
        else if (entry.Event is { } e)
        {
            Event(e);
        }
    }

    /// <summary>
    /// Queues an account's opening: <c>command_id</c> <c>account/*open</c>, one row however often offered — by the API
    /// with the request as sent, or by the account's audit outbox (<paramref name="recovered"/>) with the holdings it was
    /// opened with.
    /// </summary>
    public void Open(string account, object payload, long? version)
    {
        if (!Enabled)
        {
            return;
        }

        Enqueue(new AuditRecord(AuditKind.Command, "open", account, JsonSerializer.Serialize(payload, ApiJson.Options))
        {
            CommandId = $"{account}/{AccountAudit.OpenId}",
            GrainVersion = version,
            Silo = Silo,
        });
    }

    /// <summary>An opening offered again by the account's audit outbox (<see cref="Open"/>).</summary>
    public void OpenRecovered(string account, string requestJson, long version)
    {
        using var request = JsonDocument.Parse(requestJson);
        Open(account, new { request = request.RootElement.Clone(), result = new { opened = true }, recovered = true }, version);
    }

    /// <summary>
    /// Queues a command record with its result (accepted or rejected, the account version, the step's events).
    /// The <c>command_id</c> column holds <c>account/commandId</c>: command ids are unique per account, and the
    /// table stores one row per (kind, type, command_id), so a retried command is recorded once.
    /// </summary>
    public void Command(string type, string account, object request, CommandResult result, string? market = null)
    {
        if (!Enabled)
        {
            return;
        }

        var payload = new AuditCommandPayload(request, CommandResultBody.From(result));
        Enqueue(new AuditRecord(AuditKind.Command, type, account, JsonSerializer.Serialize(payload, ApiJson.Options))
        {
            CommandId = $"{account}/{result.CommandId}",
            Market = market,
            GrainVersion = result.Version,
            Silo = Silo,
        });
    }

    /// <summary>Queues a command record without a command id (opening an account, a refused reuse of a command id).</summary>
    public void Command(string type, string account, object payload, long? version = null, string? market = null)
    {
        if (!Enabled)
        {
            return;
        }

        Enqueue(new AuditRecord(AuditKind.Command, type, account, JsonSerializer.Serialize(payload, ApiJson.Options))
        {
            Market = market,
            GrainVersion = version,
            Silo = Silo,
        });
    }

    /// <summary>
    /// Queues the record of a command step that an account's audit outbox offers again (its record was not confirmed
    /// stored: a crash lost the queue, say): the same kind, type and <c>command_id</c> as the API's record, so that
    /// PostgreSQL keeps one of them (the unique index), with the request rebuilt from the stored command and
    /// <c>"recovered": true</c>.
    /// </summary>
    public void CommandRecovered(string account, CommandRecord record)
    {
        if (!Enabled)
        {
            return;
        }

        var parts = record.Fingerprint.Split('|');
        var (type, market, request) = parts switch
        {
            ["fill", var m, var size, var price] => ("fill", m, (object)new { commandId = record.CommandId, market = m, size, price }),
            ["deposit", var asset, var quantity] => ("deposit", null, new { commandId = record.CommandId, asset, quantity }),
            ["withdraw", var asset, var quantity] => ("withdrawal", null, new { commandId = record.CommandId, asset, quantity }),
            ["bid", var target, var asset, var quantity, var maxPrice] => ("bid", null, new { commandId = record.CommandId, target, asset, quantity, maxPrice }),
            _ => ("command", (string?)null, new { commandId = record.CommandId, fingerprint = record.Fingerprint }),
        };
        var result = new CommandResult(
            record.CommandId, record.Accepted, record.Reason, [.. record.Events.Select(e => e.ToGrid(record.CommandId, record.At))], record.Version);
        var payload = new AuditRecoveredPayload(request, CommandResultBody.From(result), Recovered: true);
        Enqueue(new AuditRecord(AuditKind.Command, type, account, JsonSerializer.Serialize(payload, ApiJson.Options))
        {
            CommandId = $"{account}/{record.CommandId}",
            Market = market,
            GrainVersion = record.Version,
            Silo = Silo,
        });
    }

    /// <summary>Queues a record as it is (tests, and callers that build their own records).</summary>
    public void Enqueue(AuditRecord record)
    {
        if (_queue.Writer.TryWrite(record))
        {
            Queued.Inc();
            var backlog = Interlocked.Increment(ref _backlog);
            Backlog.Set(backlog);
            if (backlog >= _settings.Capacity)
            {
                OverCapacity.Inc();
                lock (_gate)
                {
                    if (_room.Task.IsCompleted && Interlocked.Read(ref _backlog) >= _settings.Capacity)
                    {
                        _room = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }
            }

            return;
        }

        Dropped.Inc();
        var dropped = Interlocked.Increment(ref _dropped);
        if (dropped == 1 || dropped % 1000 == 0)
        {
            _logger.LogError(
                "Audit trail already stopped: refused the {Kind} record {Type} of account {Account} ({Dropped} so far)",
                record.Kind, record.Type, record.AccountId, dropped);
        }
    }

    private static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}

/// <summary>A command record's payload: what was asked and what it returned.</summary>
public sealed record AuditCommandPayload(object Request, CommandResultBody Result);

/// <summary>A command record offered again by the account's audit outbox (the request rebuilt from the stored command).</summary>
public sealed record AuditRecoveredPayload(object Request, CommandResultBody Result, bool Recovered);
