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
                MaxQuantity = c.MaxQuantity ?? Limits.DefaultMaxQuantity,
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
            Limits = m.Limits is { } l ? new MarketLimits(l.MaxPrice, l.MaxPositionSize, l.MaxNotional) : MarketLimits.Default,
        };

    public static RiskStatus ToWire(this AccountStatus status) => (RiskStatus)(int)status;

    public static AccountStatus ToDomain(this RiskStatus status) => (AccountStatus)(int)status;

    public static Portfolio ToPortfolio(this AccountSeed seed) =>
        Portfolio.Restore(
            seed.Collateral,
            seed.Positions.Select(p => KeyValuePair.Create(p.Market, new Position(p.Size, p.EntryPrice))),
            netUsdTransfers: seed.Collateral.GetValueOrDefault(Assets.Usd));

    public static LiquidationCharge ToCharge(this PendingLiquidation pending, string account) =>
        new(pending.LiquidationId, account, pending.FundIncome, pending.Deficit) { AdlRecovered = pending.AdlRecovered };

    public static BankruptcyCover ToDomain(this BankruptcyCoverView cover) =>
        new(cover.Deficit, cover.InsuranceCovered, cover.Socialized) { AdlRecovered = cover.AdlRecovered };

    public static BankruptcyCoverView ToView(this BankruptcyCover cover) =>
        new(cover.Deficit, cover.InsuranceCovered, cover.Socialized) { AdlRecovered = cover.AdlRecovered };

    /// <summary>A domain event as it is published: with the step that caused it and when.</summary>
    public static GridEvent ToGrid(this ModelEvent e, string step, DateTimeOffset timestamp) =>
        new((GridEventType)(int)e.Type, e.Account ?? string.Empty, step, timestamp)
        {
            Status = e.Status?.ToWire(),
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

    public static LiquidationResult ToDomain(this LiquidationOrder order) =>
        new([.. order.Closes.Select(c => new PositionClose(c.Market, c.Quantity, c.Price, c.Penalty, c.RealizedPnl))],
            [.. order.Sales.Select(s => new CollateralSale(s.Asset, s.Quantity, s.Price, s.Discount, s.Proceeds))],
            order.Deficit)
        {
            Auction = order.Auction is { } a ? new AuctionStart(a.Asset, a.Lot, a.Tab, a.Top) : null,
        };

    public static LiquidationOrder ToOrder(this AccountLiquidation decided, string liquidationId, long version) =>
        new(liquidationId,
            version,
            [.. decided.Result.Closes.Select(c => new CloseOrder(c.Market, c.Quantity, c.Price, c.Penalty, c.RealizedPnl))],
            [.. decided.Result.Sales.Select(s => new SaleOrder(s.Asset, s.Quantity, s.Price, s.Discount, s.Proceeds))],
            decided.Result.Deficit,
            decided.Result.Auction is { } a ? new AuctionOrder(a.Asset, a.Lot, a.Tab, a.Top) : null,
            decided.DeferReason,
            decided.Cover?.AdlRecovered,
            [.. decided.Adl.Select(c => c.ToOrder())]);

    public static AdlOrder ToOrder(this AdlClose close) => new(close.Account, close.Market, close.Quantity, close.Price, close.Counterparty);

    public static Portfolio ToPortfolio(this AccountSnapshot snapshot) => snapshot.Holdings.ToPortfolio();

    /// <summary>A published event back in the domain's terms (its step and time dropped).</summary>
    public static ModelEvent ToModel(this GridEvent e) =>
        new((ModelEventType)(int)e.Type, e.IsMarketEvent ? null : e.Account)
        {
            Status = e.Status?.ToDomain(),
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

    /// <summary>The holdings a liquidation is planned on (balances and positions).</summary>
    public static AccountSeed ToSeed(this Portfolio portfolio) =>
        new(portfolio.Balances.ToImmutableDictionary(StringComparer.Ordinal),
            [.. portfolio.Positions.Select(p => new PositionSnapshot(p.Key, p.Value.Size, p.Value.Entry))]);

    /// <summary>What a client sees of an account at the given marks.</summary>
    public static AccountView ToView(this Account account, IMarks marks, RiskConfiguration config)
    {
        var holdings = account.Holdings;
        var health = MarginCalculator.Evaluate(holdings, marks, config);
        var positions = holdings.Positions
            .Select(p =>
            {
                var hasMark = marks.TryGetMark(p.Key, out var mark);
                return new PositionView(
                    p.Key,
                    p.Value.Size,
                    p.Value.Entry,
                    hasMark ? mark : null,
                    hasMark ? LiquidationPrice.For(holdings, p.Key, marks, config) : null,
                    hasMark ? MarginCalculator.PositionMaintenance(config.Market(p.Key), p.Value, mark) : null);
            })
            .ToImmutableArray();
        return new AccountView(
            account.Id,
            holdings.Balances.ToImmutableSortedDictionary(StringComparer.Ordinal),
            positions,
            health.Equity,
            health.MaintenanceMargin,
            health.InitialMargin,
            health.Health,
            health.Status.ToWire(),
            account.Version)
        {
            RealizedPnl = holdings.RealizedPnl,
            CollateralSoldValue = holdings.CollateralSoldValue,
            NetUsdTransfers = holdings.NetUsdTransfers,
        };
    }

    public static AdlStandingView ToWire(this AdlStanding standing) => new(standing.Holdings.ToSeed(), standing.Version, standing.InAuction);

    public static AdlStanding ToDomain(this AdlStandingView standing) => new(standing.Holdings.ToPortfolio(), standing.Version, standing.InAuction);
}
