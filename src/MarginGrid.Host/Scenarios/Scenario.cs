using System.Collections.Immutable;

namespace MarginGrid.Host.Scenarios;

/// <summary>A scenario file, read and validated (MARGIN-MODEL.md, "Scenario files").</summary>
public sealed record Scenario(
    RiskConfigSnapshot Config,
    decimal InsuranceFund,
    ImmutableArray<ScenarioAccount> Accounts,
    ImmutableArray<KeyValuePair<string, decimal>> InitialPrices,
    ImmutableArray<ScenarioStep> Steps)
{
    /// <summary>The clock's start in seconds (v2, default 0).</summary>
    public decimal StartTime { get; init; }
}

public sealed record ScenarioAccount(string Id, AccountSeed Seed);

public abstract record ScenarioStep;

public sealed record PriceStep(string Market, decimal Price) : ScenarioStep
{
    /// <summary>v2: the time (seconds) the clock moves to; null: the current time.</summary>
    public decimal? Time { get; init; }

    /// <summary>v2: the price source (default "default").</summary>
    public string Source { get; init; } = "default";
}

public sealed record FillStep(string Account, string Market, decimal Size, decimal Price) : ScenarioStep;

public sealed record DepositStep(string Account, string Asset, decimal Quantity) : ScenarioStep;

public sealed record WithdrawStep(string Account, string Asset, decimal Quantity) : ScenarioStep;

/// <summary>v3: liquidator <see cref="Account"/> bids on <see cref="Target"/>'s auction.</summary>
public sealed record BidStep(string Account, string Target, string Asset, decimal Quantity, decimal MaxPrice) : ScenarioStep;

/// <summary>A scenario that cannot be read as written; <see cref="Field"/> names where.</summary>
public sealed class ScenarioException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}
