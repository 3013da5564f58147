using MarginGrid.Host.Silo.Events;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>The HTTP API, version 1: every route under <c>/v1</c>.</summary>
public static class ApiEndpoints
{
    public static IEndpointRouteBuilder MapMarginGridApi(this IEndpointRouteBuilder app)
    {
        var v1 = app.MapGroup("/v1");
        var mutating = v1.MapGroup("").RequireRateLimiting(RateLimits.Mutating);
        ConfigEndpoints.Map(mutating, v1);
        PriceEndpoints.Map(mutating);
        AccountEndpoints.Map(mutating, v1);
        AuctionEndpoints.Map(mutating, v1);
        EventStreamEndpoints.Map(v1);
        return app;
    }
}
