namespace MarginGrid.Grains;

/// <summary>
/// Runs steps one at a time. What is submitted while a step runs joins the next step, so a producer faster than the
/// steps is conflated instead of queued; every submitter gets the outcome of the step that included its item.
/// Not thread-safe: meant for a grain, whose turns never run in parallel.
/// </summary>
public sealed class StepConflator<TItem, TOutcome>(Func<IReadOnlyList<TItem>, Task<TOutcome>> step)
{
    private Batch? _next;
    private bool _running;

    public Task<TOutcome> SubmitAsync(TItem item)
    {
        var next = _next ??= new Batch();
        next.Items.Add(item);
        if (!_running)
        {
            _running = true;
            _ = RunAsync(); // completes only through the batches' outcomes, which carry any exception
        }

        return next.Outcome.Task;
    }

    private async Task RunAsync()
    {
        try
        {
            while (_next is { } batch)
            {
                _next = null;
                try
                {
                    batch.Outcome.SetResult(await step(batch.Items));
                }
                catch (Exception e)
                {
                    batch.Outcome.SetException(e);
                }
            }
        }
        finally
        {
            _running = false;
        }
    }

    private sealed class Batch
    {
        public List<TItem> Items { get; } = [];

        public TaskCompletionSource<TOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
