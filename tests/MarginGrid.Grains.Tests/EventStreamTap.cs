using Orleans.Streams;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>
/// A subscription to the cluster's event stream that keeps the events a test is about, in arrival order, and lets it wait
/// (with a deadline) until enough of them have arrived.
/// </summary>
public sealed class EventStreamTap : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private readonly Func<GridEvent, bool> _keep;
    private readonly List<GridEvent> _events = [];
    private readonly List<(int Count, TaskCompletionSource Reached)> _waits = [];
    private StreamSubscriptionHandle<GridEvent>? _handle;

    private EventStreamTap(Func<GridEvent, bool> keep) => _keep = keep;

    public static async Task<EventStreamTap> SubscribeAsync(IClusterClient client, Func<GridEvent, bool> keep)
    {
        var tap = new EventStreamTap(keep);
        tap._handle = await client.GetStreamProvider(GridStreams.Provider).GetStream<GridEvent>(EventStream.Id)
            .SubscribeAsync((e, _) =>
            {
                tap.Add(e);
                return Task.CompletedTask;
            });
        return tap;
    }

    /// <summary>Every event kept so far, once at least <paramref name="count"/> have arrived; fails the test after 30 s.</summary>
    public async Task<IReadOnlyList<GridEvent>> WaitForAsync(int count, string what)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_events)
        {
            if (_events.Count >= count)
            {
                return [.. _events];
            }

            _waits.Add((count, reached));
        }

        try
        {
            await reached.Task.WaitAsync(Deadline);
        }
        catch (TimeoutException)
        {
            lock (_events)
            {
                Assert.Fail($"{_events.Count} of {count} {what} reached the event stream within {Deadline.TotalSeconds:F0} s");
            }
        }

        lock (_events)
        {
            return [.. _events];
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_handle is not null)
        {
            await _handle.UnsubscribeAsync();
        }
    }

    private void Add(GridEvent e)
    {
        if (!_keep(e))
        {
            return;
        }

        lock (_events)
        {
            _events.Add(e);
            foreach (var (count, reached) in _waits.Where(w => _events.Count >= w.Count))
            {
                reached.TrySetResult();
            }
        }
    }
}
