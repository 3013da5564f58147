using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>The persisted state of an account. Field ids are part of the storage format: never reuse or reorder them.</summary>
[GenerateSerializer, Alias("mg.AccountState")]
public sealed class AccountState
{
    [Id(0)] public bool Opened { get; set; }

    /// <summary>
    /// The holdings: the grain's live domain object, stored through <see cref="HoldingsSurrogate"/> (ids 1–5 held the
    /// same figures as separate fields in an earlier format and are not reused).
    /// </summary>
    [Id(12)] public Portfolio Holdings { get; set; } = new();

    /// <summary>Status after the last step; a margin call is emitted only on a move away from Healthy.</summary>
    [Id(6)] public RiskStatus LastStatus { get; set; }

    // The lists below stay null until their first entry: most accounts are idle, and an empty list is still an object.
    [Id(7)] public List<GridEvent>? Recent { get; set; }
    [Id(8)] public List<StoredCommand>? Commands { get; set; }

    /// <summary>A liquidation applied to the holdings whose fund settlement is not yet confirmed (the outbox).</summary>
    [Id(9)] public PendingLiquidation? Pending { get; set; }

    [Id(10)] public List<string>? Liquidations { get; set; }

    /// <summary>Incremented on every persisted change; shown in views and results.</summary>
    [Id(11)] public long Version { get; set; }
}

[GenerateSerializer, Immutable, Alias("mg.StoredCommand")]
public sealed record StoredCommand(
    [property: Id(0)] string CommandId,
    [property: Id(1)] string Fingerprint,
    [property: Id(2)] CommandResult Result);

[GenerateSerializer, Immutable, Alias("mg.PendingLiquidation")]
public sealed record PendingLiquidation(
    [property: Id(0)] string LiquidationId,
    [property: Id(1)] decimal FundIncome,
    [property: Id(2)] decimal Deficit,
    [property: Id(3)] List<GridEvent> Events,
    [property: Id(4)] DateTimeOffset StartedAt)
{
    /// <summary>
    /// Begun for the coordinator, which holds the charge too and may still send it to the fund after this account has
    /// settled it itself; only the coordinator then tells the fund to forget the id.
    /// </summary>
    [Id(5)] public bool Coordinated { get; init; }

    public LiquidationCharge Charge(string account) => new(LiquidationId, account, FundIncome, Deficit);
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
