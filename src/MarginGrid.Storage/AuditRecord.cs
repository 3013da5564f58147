namespace MarginGrid.Storage;

/// <summary>Whether an audit record is a command (something asked for) or an event (something that happened).</summary>
public enum AuditKind
{
    /// <summary>A command that moves money or risk: a fill, deposit, withdrawal, liquidation step.</summary>
    Command,

    /// <summary>An event: a margin call, liquidation, collateral sale, bankruptcy.</summary>
    Event,

    /// <summary>A published price (account id <c>*</c>: it concerns every holder of the market).</summary>
    Price,

    /// <summary>An accepted risk configuration (account id <c>*</c>).</summary>
    Config,
}

/// <summary>One row to append to the audit trail (<c>margingrid_audit</c>).</summary>
/// <param name="Kind">Command or event.</param>
/// <param name="Type">What it is, e.g. <c>Fill</c> or <c>MarginCall</c>; not empty.</param>
/// <param name="AccountId">The account it concerns; not empty.</param>
/// <param name="PayloadJson">
/// The details as a JSON document (stored as <c>jsonb</c>: whitespace and key order are not preserved, and of
/// duplicate keys only the last is kept).
/// </param>
/// <remarks>
/// A record with a <see cref="CommandId"/> is stored at most once per (<see cref="Kind"/>, <see cref="Type"/>,
/// <see cref="CommandId"/>): appending it again is a no-op.
/// </remarks>
public sealed record AuditRecord(AuditKind Kind, string Type, string AccountId, string PayloadJson)
{
    /// <summary>The unique id of the command this record is about, if any.</summary>
    public string? CommandId { get; init; }

    /// <summary>The market concerned, if any.</summary>
    public string? Market { get; init; }

    /// <summary>The state version of the grain that wrote the record, if known.</summary>
    public long? GrainVersion { get; init; }

    /// <summary>The silo that wrote the record, if known.</summary>
    public string? Silo { get; init; }
}

/// <summary>An audit record as stored: its position in the trail and when the database recorded it.</summary>
/// <param name="Id">Increasing with the order of appends (ids of rolled-back appends leave gaps).</param>
/// <param name="RecordedAt">The database's time of the appending transaction.</param>
/// <param name="Record">The record.</param>
public sealed record StoredAuditRecord(long Id, DateTimeOffset RecordedAt, AuditRecord Record);
