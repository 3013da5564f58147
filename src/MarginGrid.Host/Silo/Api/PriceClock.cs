namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// The engine's clock for prices: a price stamped more than <see cref="MaxFutureSkew"/>
/// (<c>MarginGrid:Prices:MaxFutureSkew</c>, default 5 s) ahead of it is refused, so that no source can freeze a
/// market by stamping a price in the far future; each accepted price carries its receipt time on this clock.
/// </summary>
public sealed class PriceClock(TimeProvider time, TimeSpan maxFutureSkew)
{
    public const string SkewKey = "MarginGrid:Prices:MaxFutureSkew";

    public static readonly TimeSpan DefaultSkew = TimeSpan.FromSeconds(5);

    public TimeSpan MaxFutureSkew { get; } = maxFutureSkew >= TimeSpan.Zero
        ? maxFutureSkew
        : throw new InvalidOperationException($"{SkewKey} must not be negative");

    public DateTimeOffset Now => time.GetUtcNow();
}
