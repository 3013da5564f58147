using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// The persisted state of an account: the domain's <see cref="Account"/> aggregate (stored through
/// <see cref="AccountSurrogate"/>) and the account's recent event history. Field ids are part of the storage format:
/// ids 0, 6 and 8–12 held an earlier format and are never reused; id 7 (the history as a list of events) is read from
/// states written before the history was kept encoded, and converted.
/// </summary>
[GenerateSerializer, Alias("mg.AccountState")]
public sealed class AccountState
{
    [Id(13)] public Account? Account { get; set; }

    /// <summary>The history as states written before <see cref="History"/> kept it: read once, converted, then null.</summary>
    [Id(7)] public List<GridEvent>? Recent { get; set; }

    /// <summary>The newest events of this account, encoded (<see cref="EventHistory"/>; null until the first one: most accounts are idle).</summary>
    [Id(17)] public byte[]? History { get; set; }

    /// <summary>The audit outbox: command ids whose audit record the trail has not confirmed (see <see cref="AccountAudit"/>).</summary>
    [Id(14)] public List<string>? AuditPending { get; set; }

    /// <summary>The audit outbox's events (each with its <see cref="GridEvent.AuditKey"/>) not yet confirmed stored.</summary>
    [Id(15)] public List<GridEvent>? AuditEvents { get; set; }

    /// <summary>How many events this account has recorded with an audit key (the n of <c>account/#n</c>).</summary>
    [Id(16)] public long EventSequence { get; set; }
}

/// <summary>How an <see cref="Account"/> is stored: the domain type stays free of Orleans.</summary>
[GenerateSerializer, Alias("mg.AccountAggregate")]
public struct AccountSurrogate
{
    [Id(0)] public string Id;
    [Id(1)] public bool Opened;
    [Id(2)] public Portfolio Holdings;
    [Id(3)] public RiskStatus Status;
    [Id(4)] public bool Disarmed;
    [Id(5)] public long Version;
    [Id(6)] public CommandRecord[]? Commands;
    [Id(7)] public PendingLiquidation? Outbox;
    [Id(8)] public string[]? Liquidations;
    [Id(9)] public RunningAuction? Auction;
}

[GenerateSerializer, Alias("mg.RunningAuction")]
public struct RunningAuctionSurrogate
{
    [Id(0)] public string Asset;
    [Id(1)] public decimal Lot;
    [Id(2)] public DateTimeOffset Start;
    [Id(3)] public decimal Top;
}

[RegisterConverter]
public sealed class RunningAuctionConverter : IConverter<RunningAuction, RunningAuctionSurrogate>
{
    public RunningAuction ConvertFromSurrogate(in RunningAuctionSurrogate s) => new(s.Asset, s.Lot, s.Start, s.Top);

    public RunningAuctionSurrogate ConvertToSurrogate(in RunningAuction a) => new() { Asset = a.Asset, Lot = a.Lot, Start = a.Start, Top = a.Top };
}

[RegisterConverter]
public sealed class AccountSurrogateConverter : IConverter<Account, AccountSurrogate>
{
    public Account ConvertFromSurrogate(in AccountSurrogate s) => Account.Restore(
        s.Id, s.Opened, s.Holdings ?? new Portfolio(), s.Status.ToDomain(), !s.Disarmed, s.Version, s.Commands ?? [], s.Outbox, s.Liquidations ?? [], s.Auction);

    public AccountSurrogate ConvertToSurrogate(in Account value) => new()
    {
        Id = value.Id,
        Opened = value.Opened,
        Holdings = value.Holdings,
        Status = value.Status.ToWire(),
        Disarmed = !value.MarginCallArmed,
        Version = value.Version,
        Commands = value.Commands.Records.Count == 0 ? null : [.. value.Commands.Records],
        Outbox = value.Outbox,
        Liquidations = value.RecentLiquidations.Count == 0 ? null : [.. value.RecentLiquidations],
        Auction = value.Auction,
    };
}

[GenerateSerializer, Alias("mg.CommandRecord")]
public struct CommandRecordSurrogate
{
    [Id(0)] public string CommandId;
    [Id(1)] public string Fingerprint;
    [Id(2)] public DateTimeOffset At;
    [Id(3)] public bool Accepted;
    [Id(4)] public string? Reason;
    [Id(5)] public ModelEvent[] Events;
    [Id(6)] public long Version;
}

[RegisterConverter]
public sealed class CommandRecordConverter : IConverter<CommandRecord, CommandRecordSurrogate>
{
    public CommandRecord ConvertFromSurrogate(in CommandRecordSurrogate s) =>
        new(s.CommandId, s.Fingerprint, s.At, s.Accepted, s.Reason, s.Events ?? [], s.Version);

    public CommandRecordSurrogate ConvertToSurrogate(in CommandRecord r) => new()
    {
        CommandId = r.CommandId,
        Fingerprint = r.Fingerprint,
        At = r.At,
        Accepted = r.Accepted,
        Reason = r.Reason,
        Events = [.. r.Events],
        Version = r.Version,
    };
}

[GenerateSerializer, Alias("mg.Outbox")]
public struct PendingLiquidationSurrogate
{
    [Id(0)] public string LiquidationId;
    [Id(1)] public decimal FundIncome;
    [Id(2)] public decimal Deficit;
    [Id(3)] public ModelEvent[] Events;
    [Id(4)] public DateTimeOffset StartedAt;
    [Id(5)] public bool Coordinated;
    [Id(6)] public string? CommandId;
    [Id(7)] public decimal? AdlRecovered;
    [Id(8)] public AdlOrder[]? Adl;
}

[RegisterConverter]
public sealed class PendingLiquidationConverter : IConverter<PendingLiquidation, PendingLiquidationSurrogate>
{
    public PendingLiquidation ConvertFromSurrogate(in PendingLiquidationSurrogate s) =>
        new(s.LiquidationId, s.FundIncome, s.Deficit, s.Events ?? [], s.StartedAt, s.Coordinated, s.CommandId)
        {
            AdlRecovered = s.AdlRecovered,
            Adl = [.. (s.Adl ?? []).Select(a => new AdlClose(a.Account, a.Market, a.Quantity, a.Price, a.Counterparty))],
        };

    public PendingLiquidationSurrogate ConvertToSurrogate(in PendingLiquidation p) => new()
    {
        LiquidationId = p.LiquidationId,
        FundIncome = p.FundIncome,
        Deficit = p.Deficit,
        Events = [.. p.Events],
        StartedAt = p.StartedAt,
        Coordinated = p.Coordinated,
        CommandId = p.CommandId,
        AdlRecovered = p.AdlRecovered,
        Adl = p.Adl.Count == 0 ? null : [.. p.Adl.Select(a => a.ToOrder())],
    };
}

/// <summary>A domain event as stored (outbox, command log): every field of every event type, unused ones null.</summary>
[GenerateSerializer, Alias("mg.ModelEvent")]
public struct ModelEventSurrogate
{
    [Id(0)] public int Type;
    [Id(1)] public string? Account;
    [Id(2)] public int? Status;
    [Id(3)] public string? Market;
    [Id(4)] public string? Asset;
    [Id(5)] public decimal? Quantity;
    [Id(6)] public decimal? Price;
    [Id(7)] public decimal? Penalty;
    [Id(8)] public decimal? Discount;
    [Id(9)] public decimal? Deficit;
    [Id(10)] public decimal? InsuranceCovered;
    [Id(11)] public decimal? Socialized;
    [Id(12)] public string? Reason;
    [Id(13)] public decimal? Buys;
    [Id(14)] public decimal? Sells;
    [Id(15)] public decimal? Netted;
    [Id(16)] public decimal? Residual;
    [Id(17)] public decimal? AdlRecovered;
    [Id(18)] public string? Counterparty;
    [Id(19)] public string? Liquidator;
    [Id(20)] public decimal? Tab;
}

[RegisterConverter]
public sealed class ModelEventConverter : IConverter<ModelEvent, ModelEventSurrogate>
{
    public ModelEvent ConvertFromSurrogate(in ModelEventSurrogate s) => new((ModelEventType)s.Type, s.Account)
    {
        Status = (AccountStatus?)s.Status,
        Market = s.Market,
        Asset = s.Asset,
        Quantity = s.Quantity,
        Price = s.Price,
        Penalty = s.Penalty,
        Discount = s.Discount,
        Deficit = s.Deficit,
        InsuranceCovered = s.InsuranceCovered,
        Socialized = s.Socialized,
        Reason = s.Reason,
        Buys = s.Buys,
        Sells = s.Sells,
        Netted = s.Netted,
        Residual = s.Residual,
        AdlRecovered = s.AdlRecovered,
        Counterparty = s.Counterparty,
        Liquidator = s.Liquidator,
        Tab = s.Tab,
    };

    public ModelEventSurrogate ConvertToSurrogate(in ModelEvent e) => new()
    {
        Type = (int)e.Type,
        Account = e.Account,
        Status = (int?)e.Status,
        Market = e.Market,
        Asset = e.Asset,
        Quantity = e.Quantity,
        Price = e.Price,
        Penalty = e.Penalty,
        Discount = e.Discount,
        Deficit = e.Deficit,
        InsuranceCovered = e.InsuranceCovered,
        Socialized = e.Socialized,
        Reason = e.Reason,
        Buys = e.Buys,
        Sells = e.Sells,
        Netted = e.Netted,
        Residual = e.Residual,
        AdlRecovered = e.AdlRecovered,
        Counterparty = e.Counterparty,
        Liquidator = e.Liquidator,
        Tab = e.Tab,
    };
}

/// <summary>How a <see cref="Portfolio"/> is stored: the domain type stays free of Orleans.</summary>
[GenerateSerializer, Alias("mg.Holdings")]
public struct HoldingsSurrogate
{
    [Id(0)] public Dictionary<string, decimal> Balances;
    [Id(1)] public PositionSnapshot[] Positions;
    [Id(2)] public decimal RealizedPnl;
    [Id(3)] public decimal CollateralSoldValue;
    [Id(4)] public decimal NetUsdTransfers;
}

[RegisterConverter]
public sealed class HoldingsSurrogateConverter : IConverter<Portfolio, HoldingsSurrogate>
{
    public Portfolio ConvertFromSurrogate(in HoldingsSurrogate surrogate) =>
        Portfolio.Restore(
            surrogate.Balances ?? [],
            (surrogate.Positions ?? []).Select(p => KeyValuePair.Create(p.Market, new Position(p.Size, p.EntryPrice))),
            surrogate.RealizedPnl,
            surrogate.CollateralSoldValue,
            surrogate.NetUsdTransfers);

    public HoldingsSurrogate ConvertToSurrogate(in Portfolio value) => new()
    {
        Balances = new Dictionary<string, decimal>(value.Balances, StringComparer.Ordinal),
        Positions = [.. value.Positions.Select(p => new PositionSnapshot(p.Key, p.Value.Size, p.Value.Entry))],
        RealizedPnl = value.RealizedPnl,
        CollateralSoldValue = value.CollateralSoldValue,
        NetUsdTransfers = value.NetUsdTransfers,
    };
}
