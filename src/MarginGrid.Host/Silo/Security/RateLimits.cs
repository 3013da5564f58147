using System.Threading.RateLimiting;
using MarginGrid.Host.Silo.Api;
using Microsoft.AspNetCore.RateLimiting;

namespace MarginGrid.Host.Silo.Security;

/// <summary>
/// Rate limiting of mutating routes: a fixed window per API key (or remote address without keys), configured by
/// <c>MarginGrid:RateLimit:PermitsPerSecond</c> (default 1000). Rejections are 429 problem details with <c>Retry-After</c>.
/// </summary>
public static class RateLimits
{
    public const string Mutating = "mutating";

    public static IServiceCollection AddMarginGridRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        var permits = configuration.GetValue("MarginGrid:RateLimit:PermitsPerSecond", 1000);
        if (permits <= 0)
        {
            throw new InvalidOperationException("MarginGrid:RateLimit:PermitsPerSecond must be positive");
        }

        services.AddSingleton(_ => AuthFailureLimiter.From(configuration));
        return services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, cancellationToken) =>
            {
                // Retry-After: what the limiter says, else the window (one second).
                var seconds = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter)
                    ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
                    : 1;
                context.HttpContext.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Problems.Problem(StatusCodes.Status429TooManyRequests, "Too many requests", "rate limit exceeded; retry later")
                    .ExecuteAsync(context.HttpContext);
            };
            o.AddPolicy(Mutating, http => RateLimitPartition.GetFixedWindowLimiter(
                PartitionKey(http),
                _ => new FixedWindowRateLimiterOptions { PermitLimit = permits, Window = TimeSpan.FromSeconds(1), QueueLimit = 0 }));
        });
    }

    private static string PartitionKey(HttpContext http) =>
        ApiKeys.Presented(http.Request) is { } key
            ? "key:" + ApiKeys.Hash(key)
            : "ip:" + http.Connection.RemoteIpAddress;
}
