using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Security;
using Microsoft.Extensions.Options;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// Risk configuration (admin), the insurance fund and the liquidation queue (readers). A configuration is checked
/// beyond the margin model's rules: symbols and asset names follow <see cref="Identifiers.SymbolPattern"/>, limits stay
/// within <see cref="Limits"/>' ceilings, at most <see cref="Limits.MaxMarkets"/> markets and
/// <see cref="Limits.MaxAssets"/> assets; and a change that would strand accounts — removing a market or a collateral
/// asset that accounts still hold, or emptying the markets — is refused with 409, naming how many accounts hold it.
/// </summary>
public static class ConfigEndpoints
{
    public static void Map(RouteGroupBuilder mutating, RouteGroupBuilder reading)
    {
        mutating.MapPost("/config", SetConfigAsync)
            .Accepts<ConfigBody>("application/json")
            .Produces<ConfigResultBody>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireApiRole(ApiRole.Admin);
        reading.MapGet("/insurance-fund", async (IGrainFactory grains) =>
                Results.Ok(await grains.GetGrain<IInsuranceFundGrain>(0).GetAsync()))
            .Produces<FundView>()
            .RequireApiRole(ApiRole.Reader, ApiRole.Trader, ApiRole.Venue);
        reading.MapGet("/markets/{symbol}", MarketAsync)
            .Produces<MarketView>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireApiRole(ApiRole.Reader, ApiRole.Trader, ApiRole.Venue, ApiRole.Feed, ApiRole.Liquidator);
        reading.MapGet("/liquidation-queue", async (IGrainFactory grains) =>
                Results.Ok(await grains.GetGrain<ILiquidationQueueGrain>(0).GetQueueAsync()))
            .Produces<LiquidationQueueView>()
            .RequireApiRole(ApiRole.Reader, ApiRole.Trader, ApiRole.Venue);
    }

    /// <summary>GET /v1/markets/{symbol}: mark, sources and their ages, held price, stale flag, multiplier, cap, queue length.</summary>
    private static async Task<IResult> MarketAsync(string symbol, IGrainFactory grains, ConfigLookup configs)
    {
        if (Identifiers.WhyNotSymbol(symbol) is { } bad)
        {
            return Problems.Invalid("symbol", bad);
        }

        var config = await configs.GetViewAsync();
        if (config is null || !config.Config.TryGetMarket(symbol, out _))
        {
            return Problems.Invalid("symbol", $"unknown market '{symbol}'", StatusCodes.Status404NotFound);
        }

        var view = await grains.GetGrain<IMarketGrain>(symbol).GetViewAsync();
        var queue = await grains.GetGrain<ILiquidationQueueGrain>(0).GetQueueAsync();
        return Results.Ok(view with { QueueLength = queue.Pending.Length });
    }

    private static async Task<IResult> SetConfigAsync(
        HttpRequest request, IGrainFactory grains, IOptions<GridOptions> grid, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<ConfigBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (CheckBounds(body) is { } invalid)
        {
            return Problems.Invalid(invalid);
        }

        var snapshot = ToSnapshot(body);
        try
        {
            _ = snapshot.ToDomain();
        }
        catch (ConfigurationException e)
        {
            return Problems.Problem(StatusCodes.Status400BadRequest, "Invalid configuration", e.Message,
                new Dictionary<string, object?> { ["field"] = e.Field });
        }

        var configGrain = grains.GetGrain<IRiskConfigGrain>(0);
        var current = await configGrain.GetAsync();
        if (current is not null && await StrandedAsync(current, snapshot, grains, grid.Value.ShardsPerMarket) is { } stranded)
        {
            return stranded;
        }

        if (snapshot.Markets.Length == 0)
        {
            // Nothing could be priced or traded: refused whether or not accounts exist yet.
            return current is null
                ? Problems.Invalid("markets", "at least one market is required")
                : Problems.Problem(StatusCodes.Status409Conflict, "Configuration would strand accounts",
                    "markets: the new configuration removes every market; at least one market is required",
                    new Dictionary<string, object?> { ["field"] = "markets", ["holders"] = new Dictionary<string, int>() });
        }

        if (body.InsuranceFund is { } fund)
        {
            try
            {
                await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(fund);
            }
            catch (InvalidOperationException e)
            {
                return Problems.Conflict(e.Message);
            }
        }

        var stored = await configGrain.SetAsync(snapshot); // audited by the grain, with the change (its audit outbox)
        return Results.Ok(new ConfigResultBody(stored.Version));
    }

    /// <summary>Names, counts and limits: what the margin model does not check but the engine's bounds need.</summary>
    private static (string Field, string Reason)? CheckBounds(ConfigBody body)
    {
        if (body.Markets.IsDefault)
        {
            return ("markets", "required member missing");
        }

        if (body.Markets.Length > Limits.MaxMarkets)
        {
            return ("markets", $"at most {Limits.MaxMarkets} markets, got {body.Markets.Length}");
        }

        for (var i = 0; i < body.Markets.Length; i++)
        {
            var market = body.Markets[i];
            if (Identifiers.WhyNotSymbol(market.Symbol) is { } badSymbol)
            {
                return ($"markets[{i}].symbol", badSymbol);
            }

            if (market.Brackets.IsDefault)
            {
                return ($"markets[{i}].brackets", "at least one bracket is required");
            }

            if (market.Limits is { } l && Limits.Validate(new MarketLimits(l.MaxPrice, l.MaxPositionSize, l.MaxNotional), $"markets[{i}].limits") is { } badLimit)
            {
                return badLimit;
            }
        }

        var collateral = body.Collateral ?? [];
        if (collateral.Length > Limits.MaxAssets)
        {
            return ("collateral", $"at most {Limits.MaxAssets} assets, got {collateral.Length}");
        }

        for (var i = 0; i < collateral.Length; i++)
        {
            var asset = collateral[i];
            if (Identifiers.WhyNotSymbol(asset.Asset) is { } badAsset)
            {
                return ($"collateral[{i}].asset", badAsset);
            }

            if (asset.PriceMarket is { } priceMarket && Identifiers.WhyNotSymbol(priceMarket) is { } badMarket)
            {
                return ($"collateral[{i}].priceMarket", badMarket);
            }

            if (asset.MaxQuantity is { } max && Limits.ValidateQuantityLimit(max, $"collateral[{i}].maxQuantity") is { } badMax)
            {
                return badMax;
            }
        }

        return body.InsuranceFund is { } fund
            ? Limits.CheckQuantity(Limits.DefaultMaxQuantity, fund, "insuranceFund", allowNegative: true)
              ?? (fund < 0m ? ("insuranceFund", $"must not be negative, got {fund}") : null)
            : null;
    }

    /// <summary>
    /// 409 when <paramref name="next"/> removes a market or collateral asset of <paramref name="current"/> that accounts
    /// still hold. Holders are counted from the market shards' registrations: a market's holders are the accounts
    /// registered with it (positions, or collateral priced by it); an asset's are those registered with its price
    /// market (an upper bound: they may hold the market rather than the asset). Registrations of accounts that no
    /// longer hold a market are dropped at its next tick, so the count may include such accounts until then.
    /// </summary>
    private static async Task<IResult?> StrandedAsync(RiskConfigSnapshot current, RiskConfigSnapshot next, IGrainFactory grains, int shards)
    {
        var nextMarkets = next.Markets.Select(m => m.Symbol).ToHashSet(StringComparer.Ordinal);
        var nextAssets = next.Collateral.Select(c => c.Asset).ToHashSet(StringComparer.Ordinal);
        var held = new List<string>();
        var holders = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var market in current.Markets.Where(m => !nextMarkets.Contains(m.Symbol)))
        {
            var count = await HoldersAsync(market.Symbol, grains, shards);
            if (count > 0)
            {
                held.Add($"market '{market.Symbol}' is held by {count} account(s)");
                holders[$"market:{market.Symbol}"] = count;
            }
        }

        foreach (var asset in current.Collateral.Where(c => !nextAssets.Contains(c.Asset) && c.PriceMarket is not null))
        {
            var count = await HoldersAsync(asset.PriceMarket!, grains, shards);
            if (count > 0)
            {
                held.Add($"collateral asset '{asset.Asset}' may be held by {count} account(s) (registered with its price market '{asset.PriceMarket}')");
                holders[$"asset:{asset.Asset}"] = count;
            }
        }

        return held.Count == 0
            ? null
            : Problems.Problem(
                StatusCodes.Status409Conflict, "Configuration would strand accounts",
                $"the new configuration removes what accounts still hold: {string.Join("; ", held)}",
                new Dictionary<string, object?> { ["holders"] = holders });
    }

    private static async Task<int> HoldersAsync(string market, IGrainFactory grains, int shards)
    {
        var counts = await Task.WhenAll(Enumerable.Range(0, shards)
            .Select(k => grains.GetGrain<IMarketShardGrain>(MarginGrid.Grains.StableHash.ShardKey(market, k)).CountAsync()));
        return counts.Sum();
    }

    private static RiskConfigSnapshot ToSnapshot(ConfigBody body) => new(
        0,
        [.. body.Markets.Select(m => new MarketConfig(
            m.Symbol, m.LotSize, m.LiquidationPenalty, [.. m.Brackets.Select(b => new BracketConfig(b.Floor, b.Mmr, b.Imr))])
        {
            Limits = m.Limits is { } l ? new MarketLimitsConfig(l.MaxPrice, l.MaxPositionSize, l.MaxNotional) : null,
            Oracle = m.Oracle is { } o ? new OracleConfig(o.MaxAge, o.MaxDeviation, o.MinSources, o.MaxMove) : null,
            Volatility = m.Volatility is { } v ? new VolatilityConfig(v.Window, v.Reference, v.MaxMultiplier) : null,
            LiquidationCap = m.LiquidationCap,
            Impact = m.Impact,
            MaxImpact = m.MaxImpact,
        })],
        [.. (body.Collateral ?? []).Select(c => new CollateralConfig(c.Asset, c.Weight, c.PriceMarket, c.LiquidationDiscount)
        {
            MaxQuantity = c.MaxQuantity,
            Auction = c.Auction is { } a ? new AuctionConfig(a.Buf, a.Step, a.Cut, a.Tail, a.Cusp) : null,
        })],
        body.Risk is { } r
            ? new RiskRatios(r.MarginCallRatio, r.LiquidationTargetRatio) { BankruptcyResolution = r.BankruptcyResolution }
            : new RiskRatios(RiskParameters.Default.MarginCallRatio, RiskParameters.Default.LiquidationTargetRatio));
}
