namespace MarginGrid.Domain;

/// <summary>One leverage bracket of a market: applies from <see cref="Floor"/> (notional, USD) upwards.</summary>
public sealed record Bracket(decimal Floor, decimal Mmr, decimal Imr);

/// <summary>A collateral asset and how it counts towards equity.</summary>
public sealed record CollateralSpec(string Asset, decimal Weight, string? PriceMarket, decimal LiquidationDiscount)
{
    /// <summary>v3 Dutch auction of this asset in liquidations; null: sold to the system at the discount (v1).</summary>
    public AuctionSpec? Auction { get; init; }

    /// <summary>The largest quantity of the asset in a command or a balance (issue 9); default and ceiling 1e13.</summary>
    public decimal MaxQuantity { get; init; } = Limits.DefaultMaxQuantity;

    public static CollateralSpec Usd { get; } = new(Assets.Usd, 1m, null, 0m);
}

/// <summary>
/// The oracle guard of a market (MARGIN-MODEL.md v2): sources older than <see cref="MaxAge"/> seconds are not fresh,
/// prices further than <see cref="MaxDeviation"/> from the fresh median are dropped, fewer than
/// <see cref="MinSources"/> kept prices make the step stale, and a move beyond <see cref="MaxMove"/> is held until
/// confirmed. Each part is off when null; <see cref="MinSources"/> is a whole number (kept as a decimal so that
/// validation can name it).
/// </summary>
public sealed record OracleSpec(decimal? MaxAge = null, decimal? MaxDeviation = null, decimal MinSources = 1m, decimal? MaxMove = null);

/// <summary>
/// Volatility-scaled margin (v2): with at least <see cref="Window"/> recorded returns, the multiplier is
/// <c>k = min(K, max(1, mean of the last n returns / r))</c>. <see cref="Window"/> is a whole number.
/// </summary>
public sealed record VolatilitySpec(decimal Window, decimal Reference, decimal MaxMultiplier);

/// <summary>
/// A Dutch auction of collateral (MARGIN-MODEL.md v3): starts at <c>top = P × Buf</c>, its price is
/// <c>top × Cut^k</c> with <c>k = ⌊(t − t0) / Step⌋</c>, and it ends when <c>t − t0 &gt; Tail</c> or <c>Cut^k &lt; Cusp</c>.
/// </summary>
public sealed record AuctionSpec(decimal Buf, decimal Step, decimal Cut, decimal Tail, decimal Cusp);

/// <summary>What happens to the part of a bankruptcy deficit that the insurance fund does not cover (v3).</summary>
public static class BankruptcyResolutions
{
    public const string Socialize = "socialize";

    /// <summary>Auto-deleveraging: the bankrupt account's counterparties close at the bankruptcy price.</summary>
    public const string Adl = "adl";
}

/// <summary>Account-wide risk ratios: margin call at <c>E &lt; c·MM</c>, liquidation target <c>E ≥ γ·MM</c>.</summary>
public sealed record RiskParameters(decimal MarginCallRatio = 1.25m, decimal LiquidationTargetRatio = 1.10m)
{
    /// <summary>v3: <see cref="BankruptcyResolutions.Socialize"/> (default) or <see cref="BankruptcyResolutions.Adl"/>.</summary>
    public string BankruptcyResolution { get; init; } = BankruptcyResolutions.Socialize;

    public bool AutoDeleveraging => BankruptcyResolution == BankruptcyResolutions.Adl;

    public static RiskParameters Default { get; } = new();
}

public static class Assets
{
    /// <summary>The quote and settlement asset.</summary>
    public const string Usd = "USD";
}

/// <summary>A configuration that breaks a rule of the margin model; <see cref="Field"/> names the offending field.</summary>
public sealed class ConfigurationException(string field, string message)
    : Exception($"{field}: {message}")
{
    public string Field { get; } = field;

    public string Reason { get; } = message;
}

/// <summary>
/// The validated risk configuration: markets, collateral assets and risk ratios.
/// Construct it only through <see cref="Create"/>, which enforces every rule of the model.
/// </summary>
public sealed class RiskConfiguration
{
    private readonly Dictionary<string, MarketSpec> _markets;
    private readonly Dictionary<string, CollateralSpec> _collateral;

    private RiskConfiguration(
        IReadOnlyList<MarketSpec> markets,
        IReadOnlyList<CollateralSpec> collateral,
        RiskParameters risk)
    {
        Markets = markets;
        Collateral = collateral;
        Risk = risk;
        _markets = markets.ToDictionary(m => m.Symbol, StringComparer.Ordinal);
        _collateral = collateral.ToDictionary(c => c.Asset, StringComparer.Ordinal);
        _collateral.TryAdd(Assets.Usd, CollateralSpec.Usd);
    }

    public IReadOnlyList<MarketSpec> Markets { get; }

    /// <summary>Collateral assets as configured (USD is always allowed, listed or not).</summary>
    public IReadOnlyList<CollateralSpec> Collateral { get; }

    public RiskParameters Risk { get; }

    public MarketSpec Market(string symbol) =>
        _markets.TryGetValue(symbol, out var market)
            ? market
            : throw new KeyNotFoundException($"unknown market '{symbol}'");

    public bool TryGetMarket(string symbol, out MarketSpec market) => _markets.TryGetValue(symbol, out market!);

    public bool TryGetCollateral(string asset, out CollateralSpec spec) => _collateral.TryGetValue(asset, out spec!);

    /// <summary>True when the asset is configured and, unless it is USD, its price market exists.</summary>
    public bool IsPricedAsset(string asset) =>
        _collateral.TryGetValue(asset, out var spec)
        && (spec.PriceMarket is null || _markets.ContainsKey(spec.PriceMarket));

    /// <summary>Validates and builds a configuration; throws <see cref="ConfigurationException"/> naming the field.</summary>
    public static RiskConfiguration Create(
        IReadOnlyList<MarketSpec> markets,
        IReadOnlyList<CollateralSpec> collateral,
        RiskParameters? risk = null)
    {
        risk ??= RiskParameters.Default;
        ValidateRisk(risk);
        var symbols = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < markets.Count; i++)
        {
            ValidateMarket(markets[i], $"markets[{i}]", risk);
            if (!symbols.Add(markets[i].Symbol))
            {
                throw new ConfigurationException($"markets[{i}].symbol", $"duplicate market '{markets[i].Symbol}'");
            }
        }

        var assets = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < collateral.Count; i++)
        {
            ValidateCollateral(collateral[i], $"collateral[{i}]");
            if (!assets.Add(collateral[i].Asset))
            {
                throw new ConfigurationException($"collateral[{i}].asset", $"duplicate asset '{collateral[i].Asset}'");
            }
        }

        return new RiskConfiguration(markets, collateral, risk);
    }

    private static void ValidateRisk(RiskParameters risk)
    {
        if (risk.MarginCallRatio < 1m)
        {
            throw new ConfigurationException("risk.marginCallRatio", $"must be at least 1, got {risk.MarginCallRatio}");
        }

        if (risk.LiquidationTargetRatio < 1m)
        {
            throw new ConfigurationException(
                "risk.liquidationTargetRatio", $"must be at least 1, got {risk.LiquidationTargetRatio}");
        }

        if (risk.BankruptcyResolution is not (BankruptcyResolutions.Socialize or BankruptcyResolutions.Adl))
        {
            throw new ConfigurationException(
                "risk.bankruptcyResolution", $"must be \"socialize\" or \"adl\", got \"{risk.BankruptcyResolution}\"");
        }
    }

    private static void ValidateMarket(MarketSpec market, string path, RiskParameters risk)
    {
        if (string.IsNullOrWhiteSpace(market.Symbol))
        {
            throw new ConfigurationException($"{path}.symbol", "must not be empty");
        }

        if (market.LotSize <= 0m)
        {
            throw new ConfigurationException($"{path}.lotSize", $"must be positive, got {market.LotSize}");
        }

        if (market.LiquidationPenalty < 0m)
        {
            throw new ConfigurationException(
                $"{path}.liquidationPenalty", $"must not be negative, got {market.LiquidationPenalty}");
        }

        var brackets = market.Brackets;
        if (brackets.Count == 0)
        {
            throw new ConfigurationException($"{path}.brackets", "at least one bracket is required");
        }

        for (var k = 0; k < brackets.Count; k++)
        {
            var b = brackets[k];
            var at = $"{path}.brackets[{k}]";
            if (k == 0 && b.Floor != 0m)
            {
                throw new ConfigurationException($"{at}.floor", $"the first bracket must start at 0, got {b.Floor}");
            }

            if (k > 0 && b.Floor <= brackets[k - 1].Floor)
            {
                throw new ConfigurationException($"{at}.floor", "brackets must be ordered by strictly increasing floor");
            }

            if (b.Mmr <= 0m)
            {
                throw new ConfigurationException($"{at}.mmr", $"must be positive, got {b.Mmr}");
            }

            if (b.Imr > 1m)
            {
                throw new ConfigurationException($"{at}.imr", $"must be at most 1 (leverage ≥ 1), got {b.Imr}");
            }

            if (b.Mmr >= b.Imr)
            {
                throw new ConfigurationException($"{at}.mmr", $"mmr ({b.Mmr}) must be below imr ({b.Imr})");
            }

            if (k > 0 && b.Mmr < brackets[k - 1].Mmr)
            {
                throw new ConfigurationException($"{at}.mmr", "mmr must not decrease from bracket to bracket");
            }

            if (k > 0 && b.Imr < brackets[k - 1].Imr)
            {
                throw new ConfigurationException($"{at}.imr", "imr must not decrease from bracket to bracket");
            }
        }

        var bound = risk.LiquidationTargetRatio * brackets[0].Mmr;
        if (market.LiquidationPenalty >= bound)
        {
            throw new ConfigurationException(
                $"{path}.liquidationPenalty",
                $"must be below liquidationTargetRatio × mmr of the first bracket ({bound}), got {market.LiquidationPenalty}");
        }

        ValidateRiskDepth(market, path);
        if (Limits.Validate(market.Limits, $"{path}.limits") is { } badLimit)
        {
            throw new ConfigurationException(badLimit.Field, badLimit.Reason);
        }
    }

    /// <summary>The rules of MARGIN-MODEL.md "Validation (v2)".</summary>
    private static void ValidateRiskDepth(MarketSpec market, string path)
    {
        if (market.Oracle is { } oracle)
        {
            var at = $"{path}.oracle";
            if (oracle.MaxAge is { } maxAge && maxAge <= 0m)
            {
                throw new ConfigurationException($"{at}.maxAge", $"must be positive, got {maxAge}");
            }

            if (oracle.MaxDeviation is { } d && (d <= 0m || d >= 1m))
            {
                throw new ConfigurationException($"{at}.maxDeviation", $"must be in (0, 1), got {d}");
            }

            if (oracle.MinSources < 1m || oracle.MinSources != decimal.Truncate(oracle.MinSources) || oracle.MinSources > int.MaxValue)
            {
                throw new ConfigurationException($"{at}.minSources", $"must be a whole number of at least 1, got {oracle.MinSources}");
            }

            if (oracle.MaxMove is { } x && x <= 0m)
            {
                throw new ConfigurationException($"{at}.maxMove", $"must be positive, got {x}");
            }
        }

        if (market.Volatility is { } v)
        {
            var at = $"{path}.volatility";
            if (v.Window < 1m || v.Window != decimal.Truncate(v.Window) || v.Window > 1_000_000m)
            {
                throw new ConfigurationException($"{at}.window", $"must be a whole number of at least 1, got {v.Window}");
            }

            if (v.Reference <= 0m)
            {
                throw new ConfigurationException($"{at}.reference", $"must be positive, got {v.Reference}");
            }

            if (v.MaxMultiplier < 1m)
            {
                throw new ConfigurationException($"{at}.maxMultiplier", $"must be at least 1, got {v.MaxMultiplier}");
            }
        }

        if (market.LiquidationCap is { } cap && cap <= 0m)
        {
            throw new ConfigurationException($"{path}.liquidationCap", $"must be positive, got {cap}");
        }

        if (market.Impact < 0m)
        {
            throw new ConfigurationException($"{path}.impact", $"must not be negative, got {market.Impact}");
        }

        if (market.MaxImpact <= 0m || market.MaxImpact >= 1m)
        {
            throw new ConfigurationException($"{path}.maxImpact", $"must be in (0, 1), got {market.MaxImpact}");
        }
    }

    private static void ValidateCollateral(CollateralSpec spec, string path)
    {
        if (string.IsNullOrWhiteSpace(spec.Asset))
        {
            throw new ConfigurationException($"{path}.asset", "must not be empty");
        }

        if (spec.Weight <= 0m || spec.Weight > 1m)
        {
            throw new ConfigurationException($"{path}.weight", $"must be in (0, 1], got {spec.Weight}");
        }

        if (spec.LiquidationDiscount < 0m || spec.LiquidationDiscount >= 1m)
        {
            throw new ConfigurationException(
                $"{path}.liquidationDiscount", $"must be in [0, 1), got {spec.LiquidationDiscount}");
        }

        if (spec.Asset == Assets.Usd)
        {
            if (spec.Weight != 1m || spec.PriceMarket is not null || spec.LiquidationDiscount != 0m)
            {
                throw new ConfigurationException($"{path}.asset", "USD is the settlement asset: weight 1, no price market, no discount");
            }
        }
        else if (string.IsNullOrWhiteSpace(spec.PriceMarket))
        {
            throw new ConfigurationException($"{path}.priceMarket", $"asset '{spec.Asset}' needs a price market");
        }

        if (spec.Auction is { } a)
        {
            var at = $"{path}.auction";
            if (spec.Asset == Assets.Usd)
            {
                throw new ConfigurationException(at, "USD is not auctioned");
            }

            if (a.Buf < 1m)
            {
                throw new ConfigurationException($"{at}.buf", $"must be at least 1, got {a.Buf}");
            }

            if (a.Step <= 0m)
            {
                throw new ConfigurationException($"{at}.step", $"must be positive, got {a.Step}");
            }

            if (a.Cut <= 0m || a.Cut >= 1m)
            {
                throw new ConfigurationException($"{at}.cut", $"must be in (0, 1), got {a.Cut}");
            }

            if (a.Tail <= 0m)
            {
                throw new ConfigurationException($"{at}.tail", $"must be positive, got {a.Tail}");
            }

            if (a.Cusp <= 0m || a.Cusp >= 1m)
            {
                throw new ConfigurationException($"{at}.cusp", $"must be in (0, 1), got {a.Cusp}");
            }
        }

        if (Limits.ValidateQuantityLimit(spec.MaxQuantity, $"{path}.maxQuantity") is { } badMax)
        {
            throw new ConfigurationException(badMax.Field, badMax.Reason);
        }
    }
}
