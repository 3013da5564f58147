namespace MarginGrid.Domain;

/// <summary>One account's side of the conservation check.</summary>
public readonly record struct ConservationEntry(decimal Usd, decimal NetUsdTransfers, decimal RealizedPnl, decimal CollateralSoldValue);

/// <summary>
/// Money conservation (MARGIN-MODEL.md): <c>Σ USD + fund − socialized</c> changes only by realized PnL, the value of
/// collateral sold, and USD deposits and withdrawals. Penalties, discounts and bankruptcies only move money.
/// </summary>
public static class Conservation
{
    public static ConservationReport Check(IEnumerable<ConservationEntry> accounts, decimal initialFund, decimal fund, decimal socialized)
    {
        var usd = 0m;
        var expected = initialFund;
        foreach (var a in accounts)
        {
            usd += a.Usd;
            expected += a.NetUsdTransfers + a.RealizedPnl + a.CollateralSoldValue;
        }

        var actual = usd + fund - socialized;
        return new ConservationReport(actual, expected);
    }
}

public sealed record ConservationReport(decimal Actual, decimal Expected)
{
    public decimal Difference => Actual - Expected;

    /// <summary>Exact up to decimal rounding of non-terminating quotients (entry averages, collateral sales).</summary>
    public bool Holds => Math.Abs(Difference) <= 0.000000001m * Math.Max(1m, Math.Abs(Expected));
}
