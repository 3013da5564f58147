using System.Diagnostics;

namespace MarginGrid.Cluster.Tests;

/// <summary>Waiting for a condition with a deadline: the only way these tests wait.</summary>
public static class Poll
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan deadline, Func<string>? state = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > deadline)
            {
                Assert.Fail($"{what}: not reached within {deadline}{(state is null ? "" : ": " + state())}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval of a condition with a deadline
        }
    }

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan deadline, Func<string>? state = null)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > deadline)
            {
                Assert.Fail($"{what}: not reached within {deadline}{(state is null ? "" : ": " + state())}");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200)); // polling interval of a condition with a deadline
        }
    }
}
