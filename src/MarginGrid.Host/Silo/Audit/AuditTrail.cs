using System.Text.Json;
using System.Threading.Channels;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Storage;
using Prometheus;

namespace MarginGrid.Host.Silo.Audit;

/// <summary>The audit trail's settings: <c>MarginGrid:Audit:*</c>.</summary>
public sealed record AuditSettings
{
    public const string Section = "MarginGrid:Audit";

    /// <summary>Records that may wait for the writer; beyond it records are dropped (counted, logged), never blocking.</summary>
    public int Capacity { get; init; } = 65_536;

    /// <summary>The most records one INSERT appends.</summary>
    public int BatchSize { get; init; } = 500;

    public static AuditSettings From(IConfiguration configuration)
    {
        var defaults = new AuditSettings();
        var settings = new AuditSettings
        {
            Capacity = configuration.GetValue($"{Section}:Capacity", defaults.Capacity),
            BatchSize = configuration.GetValue($"{Section}:BatchSize", defaults.BatchSize),
        };
        return settings.Capacity > 0 && settings.BatchSize > 0
            ? settings
            : throw new InvalidOperationException($"{Section}:Capacity and {Section}:BatchSize must be positive");
    }
}

/// <summary>
/// The front of the audit trail: commands and events are queued here, on whatever thread reports them (grain threads
/// included), without ever blocking; <see cref="AuditWriter"/> appends them to <c>margingrid_audit</c> in batches.
/// When the queue is full a record is dropped, counted in <c>margingrid_audit_dropped_total</c> and logged.
/// Without a PostgreSQL connection string the trail is disabled and nothing is queued.
/// </summary>
public sealed class AuditTrail
{
    private static readonly Counter Dropped = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_dropped_total", "Audit records dropped because the audit queue was full (or the trail was stopped).");

    private static readonly Counter Queued = Prometheus.Metrics.CreateCounter(
        "margingrid_audit_queued_total", "Audit records queued for PostgreSQL.");

    private readonly Channel<AuditRecord> _queue;
    private readonly ILogger<AuditTrail> _logger;
    private long _dropped;

    public AuditTrail(bool enabled, string silo, AuditSettings settings, ILogger<AuditTrail> logger)
    {
        Enabled = enabled;
        Silo = silo;
        _logger = logger;
        _queue = Channel.CreateBounded<AuditRecord>(new BoundedChannelOptions(settings.Capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then fails instead of waiting: we count the drop
            SingleReader = true,
            SingleWriter = false,
        });
    }

    public bool Enabled { get; }

    /// <summary>This silo's name in the records' <c>silo</c> column.</summary>
    public string Silo { get; }

    public ChannelReader<AuditRecord> Reader => _queue.Reader;

    /// <summary>How many records this process dropped.</summary>
    public long DroppedCount => Interlocked.Read(ref _dropped);

    /// <summary>Stops accepting records; the writer drains what is queued.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    /// <summary>Queues an event record: the event with its step and price, as the API shows it.</summary>
    public void Event(GridEvent e)
    {
        if (!Enabled)
        {
            return;
        }

        Enqueue(new AuditRecord(AuditKind.Event, e.TypeName, e.Account, JsonSerializer.Serialize(EventBody.From(e), ApiJson.Options))
        {
            Market = e.Market,
            Silo = Silo,
        });
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

    private void Enqueue(AuditRecord record)
    {
        if (_queue.Writer.TryWrite(record))
        {
            Queued.Inc();
            return;
        }

        Dropped.Inc();
        var dropped = Interlocked.Increment(ref _dropped);
        if (dropped == 1 || dropped % 1000 == 0)
        {
            _logger.LogError(
                "Audit queue full or stopped: dropped the {Kind} record {Type} of account {Account} ({Dropped} dropped so far)",
                record.Kind, record.Type, record.AccountId, dropped);
        }
    }
}

/// <summary>A command record's payload: what was asked and what it returned.</summary>
public sealed record AuditCommandPayload(object Request, CommandResultBody Result);
