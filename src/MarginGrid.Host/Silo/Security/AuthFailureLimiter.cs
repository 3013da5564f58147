using System.Globalization;
using System.Threading.RateLimiting;
using MarginGrid.Host.Silo.Api;

namespace MarginGrid.Host.Silo.Security;

/// <summary>
/// Limits failed authentication per client address: after <c>MarginGrid:RateLimit:FailedAuthPerMinute</c> (default 20)
/// requests without a valid key in one minute, every request from that address answers 429 with <c>Retry-After</c>
/// until the window ends — valid keys included, so a guesser cannot tell a hit from the lockout.
/// </summary>
public sealed class AuthFailureLimiter : IDisposable
{
    public const string PermitsKey = "MarginGrid:RateLimit:FailedAuthPerMinute";

    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);

    private readonly PartitionedRateLimiter<string> _limiter;

    public AuthFailureLimiter(int permitsPerMinute)
    {
        if (permitsPerMinute <= 0)
        {
            throw new InvalidOperationException($"{PermitsKey} must be positive");
        }

        _limiter = PartitionedRateLimiter.Create<string, string>(address => RateLimitPartition.GetFixedWindowLimiter(
            address,
            _ => new FixedWindowRateLimiterOptions { PermitLimit = permitsPerMinute, Window = Window, QueueLimit = 0, AutoReplenishment = true }));
    }

    public static AuthFailureLimiter From(IConfiguration configuration) => new(configuration.GetValue(PermitsKey, 20));

    public static string ClientAddress(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>True while <paramref name="address"/> has used up its failures for the current window.</summary>
    public bool IsLockedOut(string address) => _limiter.GetStatistics(address)?.CurrentAvailablePermits == 0;

    /// <summary>Counts one failed authentication; false when it was over the limit.</summary>
    public bool RecordFailure(string address)
    {
        using var lease = _limiter.AttemptAcquire(address);
        return lease.IsAcquired;
    }

    /// <summary>The 429 answer, with <c>Retry-After</c> (the window, in seconds).</summary>
    public IResult TooMany(HttpContext http)
    {
        http.Response.Headers.RetryAfter = ((int)Window.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        return Problems.Problem(
            StatusCodes.Status429TooManyRequests, "Too many requests",
            "too many requests without a valid API key from this address; retry later");
    }

    public void Dispose() => _limiter.Dispose();
}
