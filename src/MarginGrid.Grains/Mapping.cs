using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>Conversions between wire contracts and the domain model.</summary>
public static class Mapping
{
    public static RiskConfiguration ToDomain(this RiskConfigSnapshot snapshot) =>
        RiskConfiguration.Create(
            [.. snapshot.Markets.Select(ToDomain)],
            [.. snapshot.Collateral.Select(c => new CollateralSpec(c.Asset, c.Weight, c.PriceMarket, c.LiquidationDiscount)
            {
                Auction = c.Auction is { } a ? new AuctionSpec(a.Buf, a.Step, a.Cut, a.Tail, a.Cusp) : null,
            })],
            new RiskParameters(snapshot.Risk.MarginCallRatio, snapshot.Risk.LiquidationTargetRatio)
            {
                BankruptcyResolution = snapshot.Risk.BankruptcyResolution ?? BankruptcyResolutions.Socialize,
            });

    /// <summary>A market with its v2 knobs (each off when absent).</summary>
    public static MarketSpec ToDomain(this MarketConfig m) =>
        new(m.Symbol, m.LotSize, m.LiquidationPenalty, [.. m.Brackets.Select(b => new Bracket(b.Floor, b.Mmr, b.Imr))])
        {
            Oracle = m.Oracle is { } o ? new OracleSpec(o.MaxAge, o.MaxDeviation, o.MinSources ?? 1m, o.MaxMove) : null,
            Volatility = m.Volatility is { } v ? new VolatilitySpec(v.Window, v.Reference, v.MaxMultiplier) : null,
            LiquidationCap = m.LiquidationCap,
            Impact = m.Impact ?? 0m,
            MaxImpact = m.MaxImpact ?? MarketSpec.DefaultMaxImpact,
        };

    public static RiskStatus ToWire(this AccountStatus status) => (RiskStatus)(int)status;

    public static AccountStatus ToDomain(this RiskStatus status) => (AccountStatus)(int)status;

    public static Portfolio ToPortfolio(this AccountSeed seed) =>
        Portfolio.Restore(
            seed.Collateral,
            seed.Positions.Select(p => KeyValuePair.Create(p.Market, new Position(p.Size, p.EntryPrice))),
            netUsdTransfers: seed.Collateral.GetValueOrDefault(Assets.Usd));

    /// <summary>Markets whose price moves this portfolio: its positions and the price markets of its collateral.</summary>
    public static ImmutableSortedSet<string> PricedBy(this Portfolio portfolio, RiskConfiguration config)
    {
        var markets = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        markets.UnionWith(portfolio.Positions.Keys);
        foreach (var (asset, q) in portfolio.Balances)
        {
            if (q > 0m && config.TryGetCollateral(asset, out var spec) && spec.PriceMarket is { } m)
            {
                markets.Add(m);
            }
        }

        return markets.ToImmutable();
    }
}
