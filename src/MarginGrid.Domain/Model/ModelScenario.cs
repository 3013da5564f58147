namespace MarginGrid.Domain.Model;

/// <summary>
/// A scenario as the pure model engine runs it (MARGIN-MODEL.md "Scenario files", already read and validated):
/// configuration, insurance fund, seeded accounts, one initial price per market, and the steps.
/// </summary>
public sealed record ModelScenario(
    RiskConfiguration Config,
    decimal InsuranceFund,
    IReadOnlyList<ModelAccountSeed> Accounts,
    IReadOnlyList<KeyValuePair<string, decimal>> InitialPrices,
    IReadOnlyList<ModelStep> Steps)
{
    /// <summary>The clock's start, in seconds (default 0); the initial prices arrive then, as source "default".</summary>
    public decimal StartTime { get; init; }
}

/// <summary>An account as seeded: balances (only USD may be negative) and positions.</summary>
public sealed record ModelAccountSeed(
    string Id,
    IReadOnlyDictionary<string, decimal> Collateral,
    IReadOnlyDictionary<string, Position> Positions)
{
    /// <summary>The seeded portfolio; the seeded USD counts as a deposit for the conservation check.</summary>
    public Portfolio ToPortfolio() =>
        Portfolio.Restore(Collateral, Positions, netUsdTransfers: Collateral.GetValueOrDefault(Assets.Usd));
}

/// <summary>One step of a scenario. v3 adds a bid step beside these.</summary>
public abstract record ModelStep;

/// <summary>
/// A price of one market from one source. <see cref="Time"/> (seconds) moves the clock (never backwards); null: the
/// step happens at the current time.
/// </summary>
public sealed record ModelPriceStep(string Market, decimal Price) : ModelStep
{
    public decimal? Time { get; init; }

    public string Source { get; init; } = MarketPriceState.DefaultSource;
}

/// <summary>A fill from the matching engine: signed size at a price.</summary>
public sealed record ModelFillStep(string Account, string Market, decimal Size, decimal Price) : ModelStep;

public sealed record ModelDepositStep(string Account, string Asset, decimal Quantity) : ModelStep;

public sealed record ModelWithdrawStep(string Account, string Asset, decimal Quantity) : ModelStep;

/// <summary>v3: liquidator <see cref="Account"/> bids on <see cref="Target"/>'s auction of <see cref="Asset"/>.</summary>
public sealed record ModelBidStep(string Account, string Target, string Asset, decimal Quantity, decimal MaxPrice) : ModelStep;

/// <summary>One account at the end of a run, at the final marks (and multipliers).</summary>
public sealed record ModelAccountResult(
    string Id,
    IReadOnlyDictionary<string, decimal> Collateral,
    IReadOnlyDictionary<string, Position> Positions,
    decimal Equity,
    decimal MaintenanceMargin,
    decimal InitialMargin,
    decimal? Health,
    AccountStatus Status);

/// <summary>The result of a run: accounts by id (ordinal), the fund, the socialized loss and every event in order.</summary>
public sealed record ModelResult(
    IReadOnlyList<ModelAccountResult> Accounts,
    decimal InsuranceFund,
    decimal SocializedLoss,
    IReadOnlyList<ModelEvent> Events);
