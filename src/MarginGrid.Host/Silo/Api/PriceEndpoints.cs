using System.Collections.Immutable;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>POST /v1/prices: a batch of prices, each one step of its market, in the order given.</summary>
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
        HttpRequest request, IGrainFactory grains, ConfigLookup configs, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<PriceBody[]>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (body.Length == 0)
        {
            return Problems.BadRequest("the batch holds no prices");
        }

        // The whole batch is checked before any price is published: a bad batch changes nothing.
        var config = await configs.GetAsync();
        for (var i = 0; i < body.Length; i++)
        {
            var price = body[i];
            if (string.IsNullOrWhiteSpace(price.Source))
            {
                return Problems.BadRequest($"[{i}].source must not be empty");
            }

            if (price.Price <= 0m)
            {
                return Problems.BadRequest($"[{i}].price must be positive, got {price.Price}");
            }

            if (config is null || !config.TryGetMarket(price.Market, out _))
            {
                return Problems.NotFound($"[{i}].market: unknown market '{price.Market}'");
            }
        }

        var steps = ImmutableArray.CreateBuilder<StepBody>(body.Length);
        foreach (var price in body)
        {
            var outcome = await grains.GetGrain<IMarketGrain>(price.Market)
                .PublishPriceAsync(new PriceUpdate(price.Price, price.Source, price.Timestamp));
            steps.Add(new StepBody(price.Market, outcome.Step, outcome.Evaluated, EventBody.From(outcome.Events)));
        }

        return Results.Ok(new PricesResultBody(steps.MoveToImmutable()));
    }
}
