using System.Collections.Immutable;

namespace MarginGrid.Host.Scenarios;

/// <summary>A scenario file, read and validated (MARGIN-MODEL.md, "Scenario files").</summary>
public sealed record Scenario(
    RiskConfigSnapshot Config,
    decimal InsuranceFund,
    ImmutableArray<ScenarioAccount> Accounts,
    ImmutableArray<KeyValuePair<string, decimal>> InitialPrices,
    ImmutableArray<ScenarioStep> Steps);

public sealed record ScenarioAccount(string Id, AccountSeed Seed);

public abstract record ScenarioStep;

public sealed record PriceStep(string Market, decimal Price) : ScenarioStep;

public sealed record FillStep(string Account, string Market, decimal Size, decimal Price) : ScenarioStep;

public sealed record DepositStep(string Account, string Asset, decimal Quantity) : ScenarioStep;

public sealed record WithdrawStep(string Account, string Asset, decimal Quantity) : ScenarioStep;

/// <summary>A scenario that cannot be read as written; <see cref="Field"/> names where.</summary>
public sealed class ScenarioException(string field, string message) : Exception($"{field}: {message}")
{
    public string Field { get; } = field;
}
