using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>The market's conflation, driven step by step: what arrives while a step runs is decided together next.</summary>
public sealed class StepConflatorTests
{
    [Fact]
    public async Task Items_submitted_while_a_step_runs_join_the_next_step_and_share_its_outcome()
    {
        var steps = new List<IReadOnlyList<int>>();
        var firstStep = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var conflator = new StepConflator<int, string>(async items =>
        {
            steps.Add([.. items]);
            if (steps.Count == 1)
            {
                await firstStep.Task; // the first step is still running while the rest arrive
            }

            return $"step {steps.Count}: {string.Join(",", items)}";
        });

        var first = conflator.SubmitAsync(1);
        var rest = Enumerable.Range(2, 49).Select(conflator.SubmitAsync).ToList();
        Assert.False(first.IsCompleted);
        Assert.Single(steps);

        firstStep.SetResult();
        Assert.Equal("step 1: 1", await first);
        var outcomes = await Task.WhenAll(rest);

        Assert.Equal(2, steps.Count);
        Assert.Equal(Enumerable.Range(2, 49), steps[1]);
        Assert.All(outcomes, o => Assert.Equal($"step 2: {string.Join(",", Enumerable.Range(2, 49))}", o));
    }

    [Fact]
    public async Task Items_submitted_one_after_another_are_one_step_each()
    {
        var steps = new List<IReadOnlyList<int>>();
        var conflator = new StepConflator<int, int>(async items =>
        {
            await Task.Yield();
            steps.Add([.. items]);
            return items.Sum();
        });

        for (var i = 1; i <= 5; i++)
        {
            Assert.Equal(i, await conflator.SubmitAsync(i));
        }

        Assert.Equal([[1], [2], [3], [4], [5]], steps.Select(s => s.ToArray()));
    }

    [Fact]
    public async Task A_failed_step_fails_its_submitters_only_and_the_next_step_still_runs()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var conflator = new StepConflator<int, int>(async items =>
        {
            if (++calls == 1)
            {
                await gate.Task;
                throw new InvalidOperationException("storage down");
            }

            return items.Count;
        });

        var failing = conflator.SubmitAsync(1);
        var next = new[] { conflator.SubmitAsync(2), conflator.SubmitAsync(3) };
        gate.SetResult();

        await Assert.ThrowsAsync<InvalidOperationException>(() => failing);
        var counts = await Task.WhenAll(next);
        Assert.Equal(new[] { 2, 2 }, counts);
    }
}
