using System.Text.Json;
using MarginGrid.Host.Silo.Api;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Events;

/// <summary>
/// GET /v1/events/stream: the cluster's events as server-sent events (<c>text/event-stream</c>): <c>event:</c> is the
/// type (<c>margin_call</c>, <c>liquidation</c>, <c>collateral_liquidation</c>, <c>bankruptcy</c>, <c>rejected</c>, the v3
/// <c>adl</c>, <c>auction_start</c>, <c>auction_take</c>, <c>auction_end</c>, ...),
/// <c>data:</c> the event as JSON (decimals as strings). <c>?types=margin_call,liquidation</c> and
/// <c>?account=</c> filter. The stream opens with a comment line once the subscription is in place and sends a
/// comment every <see cref="KeepAlive"/> while idle.
/// </summary>
public static class EventStreamEndpoints
{
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    public static void Map(RouteGroupBuilder reading) =>
        reading.MapGet("/events/stream", (HttpContext http, GridEventHub hub, string? types, string? account) => StreamAsync(http, hub, types, account))
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .RequireApiRole(ApiRole.Reader);

    private static Task StreamAsync(HttpContext http, GridEventHub hub, string? types, string? account)
    {
        var wanted = types is { Length: > 0 }
            ? types.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal)
            : null;
        return StreamAsync(http, hub, e => (wanted is null || wanted.Contains(e.TypeName)) && (account is null || e.Account == account));
    }

    /// <summary>Streams the events that <paramref name="filter"/> keeps (called once per event, in order, on one thread).</summary>
    public static async Task StreamAsync(HttpContext http, GridEventHub hub, Func<GridEvent, bool> filter)
    {
        var cancellationToken = http.RequestAborted;
        if (!hub.Subscribed)
        {
            await Problems.Problem(StatusCodes.Status503ServiceUnavailable, "Service unavailable", "the event stream is not subscribed yet")
                .ExecuteAsync(http);
            return;
        }

        using var subscriber = hub.Subscribe();
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.WriteAsync(": subscribed\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);

        var events = subscriber.Events;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                idle.CancelAfter(KeepAlive);
                bool more;
                try
                {
                    more = await events.WaitToReadAsync(idle.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    await response.WriteAsync(": keep-alive\n\n", cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                    continue;
                }

                if (!more)
                {
                    return; // the silo is stopping
                }

                while (events.TryRead(out var e))
                {
                    if (filter(e))
                    {
                        var data = JsonSerializer.Serialize(EventBody.From(e), ApiJson.Options);
                        await response.WriteAsync($"event: {e.TypeName}\ndata: {data}\n\n", cancellationToken);
                    }
                }

                await response.Body.FlushAsync(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the client went away
        }
    }
}
