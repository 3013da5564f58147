using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// POST /v1/prices: a batch of prices, each one step of its market, in the order given. The whole batch is checked
/// first (a bad batch changes nothing): known market, a valid source id, a positive price within the market's
/// <c>maxPrice</c>, and a timestamp at most <see cref="PriceClock.MaxFutureSkew"/> ahead of the engine's clock. Each
/// price is stamped with its receipt time on that clock and audited with the step it became.
/// </summary>
public static class PriceEndpoints
{
    public static void Map(RouteGroupBuilder mutating) =>
        mutating.MapPost("/prices", PublishAsync)
            .Accepts<ImmutableArray<PriceBody>>("application/json")
            .Produces<PricesResultBody>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireApiRole(ApiRole.Feed);

    private static async Task<IResult> PublishAsync(
        HttpRequest request, IGrainFactory grains, ConfigLookup configs, PriceClock clock, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<PriceBody[]>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (body.Length == 0)
        {
            return Problems.Invalid("body", "the batch holds no prices");
        }

        var receivedAt = clock.Now;
        var config = await configs.GetViewAsync();
        for (var i = 0; i < body.Length; i++)
        {
            var price = body[i];
            if (Identifiers.WhyNotSymbol(price.Market) is { } badMarket)
            {
                return Problems.Invalid($"[{i}].market", badMarket);
            }

            if (Identifiers.WhyNotId(price.Source) is { } badSource)
            {
                return Problems.Invalid($"[{i}].source", badSource);
            }

            if (config is null || !config.Config.TryGetMarket(price.Market, out _))
            {
                return Problems.Invalid($"[{i}].market", $"unknown market '{price.Market}'", StatusCodes.Status404NotFound);
            }

            if (Limits.CheckPrice(config.LimitsOf(price.Market), price.Price, $"[{i}].price") is { } badPrice)
            {
                return Problems.Invalid(badPrice);
            }

            if (price.Timestamp > receivedAt + clock.MaxFutureSkew)
            {
                return Problems.Invalid(
                    $"[{i}].timestamp",
                    $"{price.Timestamp:O} is more than {clock.MaxFutureSkew.TotalSeconds:0.###} s ahead of the engine's clock ({receivedAt:O})");
            }
        }

        var steps = ImmutableArray.CreateBuilder<StepBody>(body.Length);
        foreach (var price in body)
        {
            var outcome = await grains.GetGrain<IMarketGrain>(price.Market)
                .PublishPriceAsync(new PriceUpdate(price.Price, price.Source, price.Timestamp) { ReceivedAt = receivedAt });
            steps.Add(new StepBody(price.Market, outcome.Step, outcome.Evaluated, EventBody.From(outcome.Events)));
        }

        return Results.Ok(new PricesResultBody(steps.MoveToImmutable()));
    }
}
