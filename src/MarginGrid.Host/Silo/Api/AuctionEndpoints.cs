using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Events;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// v3 Dutch auctions for external liquidators: <c>GET /v1/auctions</c> (the running auctions, priced by the domain at
/// one engine time), <c>POST /v1/auctions/{account}/{asset}/bids</c> (a bid: a command of the liquidator's own account,
/// idempotent by <c>commandId</c>, first come first served at the auctioned account) and
/// <c>GET /v1/auctions/events</c> (the auction events as server-sent events).
/// </summary>
public static class AuctionEndpoints
{
    /// <summary>How many auctioned accounts the listing asks at once.</summary>
    private const int QuoteConcurrency = 16;

    public static void Map(RouteGroupBuilder mutating, RouteGroupBuilder reading)
    {
        reading.MapGet("/auctions", ListAsync)
            .Produces<ImmutableArray<AuctionBodyView>>()
            .RequireApiRole(ApiRole.Reader, ApiRole.Liquidator);
        reading.MapGet("/auctions/events", (HttpContext http, GridEventHub hub) => EventStreamEndpoints.StreamAsync(http, hub, AuctionEventFilter()))
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .RequireApiRole(ApiRole.Reader, ApiRole.Liquidator);
        mutating.MapPost("/auctions/{account}/{asset}/bids", BidAsync)
            .Accepts<BidBody>("application/json")
            .Produces<CommandResultBody>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .RequireApiRole(ApiRole.Liquidator);
    }

    /// <summary>
    /// The auction events: <c>auction_start</c>, <c>auction_take</c>, <c>auction_end</c>, and the <c>collateral_liquidation</c>
    /// that follows an <c>auction_end</c> of the same account and asset at once (the expired lot sold to the system).
    /// One filter per connection: an account's events of a step arrive together and in order.
    /// </summary>
    public static Func<GridEvent, bool> AuctionEventFilter()
    {
        var justEnded = new Dictionary<string, string>(StringComparer.Ordinal);
        return e =>
        {
            var fallback = justEnded.Remove(e.Account, out var asset) && e.Type == GridEventType.CollateralLiquidation && e.Asset == asset;
            switch (e.Type)
            {
                case GridEventType.AuctionEnd:
                    if (e.Asset is { } ended)
                    {
                        justEnded[e.Account] = ended;
                    }

                    return true;
                case GridEventType.AuctionStart or GridEventType.AuctionTake:
                    return true;
                default:
                    return fallback;
            }
        };
    }

    private static async Task<IResult> ListAsync(IGrainFactory grains, ConfigLookup configs, GridClock clock)
    {
        var scheduled = await grains.GetGrain<IAuctionHouseGrain>(0).ListAsync();
        if (scheduled.IsEmpty)
        {
            return Results.Ok(ImmutableArray<AuctionBodyView>.Empty);
        }

        var config = (await configs.GetViewAsync())?.Config;
        var now = clock.UtcNow; // one engine time for every auction of the listing
        using var gate = new SemaphoreSlim(QuoteConcurrency);
        var views = await Task.WhenAll(scheduled.Select(async s =>
        {
            await gate.WaitAsync();
            try
            {
                var a = s.Auction;
                if (config is null || !config.TryGetCollateral(a.Asset, out var spec) || spec.Auction is not { } rule)
                {
                    return null;
                }

                // The lot and the debt are the account's (takes and deposits change them); the price and the time left
                // are the domain's at `now`.
                var quote = await grains.GetGrain<IAccountRiskGrain>(a.Account).AuctionQuoteAsync(a.Asset);
                if (!quote.Running)
                {
                    return null; // it ended since the house was asked
                }

                var price = DutchAuction.Price(a.Top, rule, DutchAuction.Elapsed(a.Start, now), out _);
                var left = DutchAuction.TimeLeft(a.Start, rule, now);
                return new AuctionBodyView(
                    a.Account, a.Asset, price, quote.Lot, quote.Debt, a.Top, a.Start, DutchAuction.Deadline(a.Start, rule),
                    (decimal)left.Ticks / TimeSpan.TicksPerSecond, now);
            }
            finally
            {
                gate.Release();
            }
        }));
        return Results.Ok(views.OfType<AuctionBodyView>().ToImmutableArray());
    }

    private static async Task<IResult> BidAsync(
        string account, string asset, HttpRequest request, IGrainFactory grains, ConfigLookup configs, AuditTrail audit,
        IGridObserver observer, ApiKeys keys, CancellationToken cancellationToken)
    {
        if (Identifiers.WhyNotId(account) is { } badAccount)
        {
            return Problems.Invalid("account", badAccount);
        }

        if (Identifiers.WhyNotSymbol(asset) is { } badAsset)
        {
            return Problems.Invalid("asset", badAsset);
        }

        var (body, error) = await JsonBody.ReadAsync<BidBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (Identifiers.WhyNotId(body.CommandId) is { } badId)
        {
            return Problems.Invalid("commandId", badId);
        }

        var key = request.HttpContext.Items[ApiRoleFilter.KeyItem] as ApiKey;
        var liquidator = body.Liquidator;
        if (liquidator is null)
        {
            if (key is { Role: ApiRole.Liquidator, Accounts: [var only] } && !only.EndsWith('*'))
            {
                liquidator = only; // the key's one liquidator account
            }
            else
            {
                return Problems.Invalid("liquidator", "required: name the buying account (this key is not bound to exactly one)");
            }
        }
        else if (Identifiers.WhyNotId(liquidator) is { } badLiquidator)
        {
            return Problems.Invalid("liquidator", badLiquidator);
        }

        if (keys.Enabled && key is { Role: ApiRole.Liquidator } && !key.MayActOn(liquidator))
        {
            return Problems.Problem(StatusCodes.Status403Forbidden, "Forbidden", $"liquidator: the key '{key.Name}' may not bid with account '{liquidator}'",
                new Dictionary<string, object?> { ["field"] = "liquidator" });
        }

        if (liquidator == account)
        {
            return Problems.Invalid("liquidator", "an account may not bid on its own auction");
        }

        var config = await configs.GetViewAsync();
        if (config is null || !config.Config.TryGetCollateral(asset, out var spec) || spec.Auction is null)
        {
            return Problems.Invalid("asset", $"'{asset}' is not an auctioned collateral asset", StatusCodes.Status404NotFound);
        }

        if (Limits.CheckQuantity(config.MaxQuantityOf(asset), body.Quantity, "quantity") is { } badQuantity)
        {
            return Problems.Invalid(badQuantity);
        }

        if (body.MaxPrice <= 0m || body.MaxPrice > Limits.PriceCeiling)
        {
            return Problems.Invalid("maxPrice", $"must be positive and at most {Limits.PriceCeiling}, got {body.MaxPrice}");
        }

        if (!await grains.GetGrain<IAccountGrain>(account).ExistsAsync())
        {
            return Problems.Invalid("account", $"unknown account '{account}'", StatusCodes.Status404NotFound);
        }

        var bidder = grains.GetGrain<IAccountGrain>(liquidator);
        if (!await bidder.ExistsAsync())
        {
            return Problems.Invalid("liquidator", $"unknown account '{liquidator}'", StatusCodes.Status404NotFound);
        }

        var command = new BidCommand(body.CommandId, account, asset, body.Quantity, body.MaxPrice);
        return await AccountEndpoints.RunAsync(
            liquidator, bidder, audit, observer, "bid", new { target = account, asset, body }, null,
            () => bidder.BidAsync(command), cancellationToken, Problems.RejectedBid);
    }
}
