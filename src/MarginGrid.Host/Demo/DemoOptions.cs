using MarginGrid.Simulation;

namespace MarginGrid.Host.Demo;

public sealed class DemoOptions
{
    public int Accounts { get; init; } = 10_000;

    public int Markets { get; init; } = 4;

    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(25);

    public int Seed { get; init; } = 42;

    /// <summary>Ticks per second published to each market.</summary>
    public int TicksPerSecondPerMarket { get; init; } = 20;

    public bool Plain { get; init; }

    /// <summary>Log at information (the grid's own logs; Polly's per-call lines stay at warning) instead of warnings only.</summary>
    public bool Verbose { get; init; }

    /// <summary>Folder for the report (report.html and the PNG plots); relative to the current directory.</summary>
    public string Output { get; init; } = "demo-report";

    public string? Validate()
    {
        if (Accounts is < 1 or > 1_000_000)
        {
            return $"--accounts must be between 1 and 1000000, got {Accounts}";
        }

        if (Markets < 1 || Markets > SimulatedMarkets.All.Length)
        {
            return $"--markets must be between 1 and {SimulatedMarkets.All.Length}, got {Markets}";
        }

        if (Duration < TimeSpan.FromSeconds(2) || Duration > TimeSpan.FromHours(1))
        {
            return $"--duration must be between 2 and 3600 seconds, got {Duration.TotalSeconds}";
        }

        return null;
    }
}
