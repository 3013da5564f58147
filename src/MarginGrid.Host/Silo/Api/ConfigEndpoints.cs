using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>Risk configuration (admin), the insurance fund and the liquidation queue (readers).</summary>
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
            .RequireApiRole(ApiRole.Reader, ApiRole.Trader);
        reading.MapGet("/liquidation-queue", async (IGrainFactory grains) =>
                Results.Ok(await grains.GetGrain<ILiquidationQueueGrain>(0).GetQueueAsync()))
            .Produces<LiquidationQueueView>()
            .RequireApiRole(ApiRole.Reader, ApiRole.Trader);
    }

    private static async Task<IResult> SetConfigAsync(HttpRequest request, IGrainFactory grains, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<ConfigBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
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

        if (body.InsuranceFund is { } fund)
        {
            if (fund < 0m)
            {
                return Problems.BadRequest($"insuranceFund must not be negative, got {fund}");
            }

            try
            {
                await grains.GetGrain<IInsuranceFundGrain>(0).SeedAsync(fund);
            }
            catch (InvalidOperationException e)
            {
                return Problems.Conflict(e.Message);
            }
        }

        var stored = await grains.GetGrain<IRiskConfigGrain>(0).SetAsync(snapshot);
        return Results.Ok(new ConfigResultBody(stored.Version));
    }

    private static RiskConfigSnapshot ToSnapshot(ConfigBody body) => new(
        0,
        [.. body.Markets.Select(m => new MarketConfig(
            m.Symbol, m.LotSize, m.LiquidationPenalty, [.. m.Brackets.Select(b => new BracketConfig(b.Floor, b.Mmr, b.Imr))]))],
        [.. (body.Collateral ?? []).Select(c => new CollateralConfig(c.Asset, c.Weight, c.PriceMarket, c.LiquidationDiscount))],
        body.Risk is { } r
            ? new RiskRatios(r.MarginCallRatio, r.LiquidationTargetRatio)
            : new RiskRatios(RiskParameters.Default.MarginCallRatio, RiskParameters.Default.LiquidationTargetRatio));
}
