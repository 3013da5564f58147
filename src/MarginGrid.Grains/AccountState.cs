namespace MarginGrid.Grains;

/// <summary>The persisted state of an account. Field ids are part of the storage format: never reuse or reorder them.</summary>
[GenerateSerializer, Alias("mg.AccountState")]
public sealed class AccountState
{
    [Id(0)] public bool Opened { get; set; }
    [Id(1)] public Dictionary<string, decimal> Balances { get; set; } = [];
    [Id(2)] public List<PositionSnapshot> Positions { get; set; } = [];
    [Id(3)] public decimal RealizedPnl { get; set; }
    [Id(4)] public decimal CollateralSoldValue { get; set; }
    [Id(5)] public decimal NetUsdTransfers { get; set; }

    /// <summary>Status after the last step; a margin call is emitted only on a move away from Healthy.</summary>
    [Id(6)] public RiskStatus LastStatus { get; set; }

    [Id(7)] public List<GridEvent> Recent { get; set; } = [];
    [Id(8)] public List<StoredCommand> Commands { get; set; } = [];

    /// <summary>A liquidation applied to the holdings whose fund settlement is not yet confirmed (the outbox).</summary>
    [Id(9)] public PendingLiquidation? Pending { get; set; }

    [Id(10)] public List<string> Liquidations { get; set; } = [];

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
    public LiquidationCharge Charge(string account) => new(LiquidationId, account, FundIncome, Deficit);
}
