using System.Collections.Immutable;
using MarginGrid.Grains;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Xunit;

namespace MarginGrid.Grains.Tests;

/// <summary>
/// The account's recent events kept encoded (<see cref="EventHistory"/>): the same events, in the same order, with the
/// same trimming as the list it replaced; a failed write's events taken back; a state of the earlier format converted.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class EventHistoryTests(ClusterFixture fixture)
{
    private EventHistory Codec => new(fixture.Cluster.ServiceProvider.GetRequiredService<Serializer<GridEvent>>());

    private static GridEvent Event(int n, bool marks = true) => new(GridEventType.MarginCall, $"acct-{n % 7}", $"BTC#{n}", DateTimeOffset.UnixEpoch.AddSeconds(n))
    {
        Status = RiskStatus.MarginCall,
        Equity = 1_000m - n,
        MaintenanceMargin = 900.5m,
        Marks = marks ? ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [new KeyValuePair<string, decimal>("BTC-USD", 50_000m + n), new("ETH-USD", 3_000.25m)]) : null,
        AuditKey = n % 3 == 0 ? $"acct/#{n}" : null,
    };

    /// <summary>What a test compares: every field, the marks by content (a decoded dictionary is another instance).</summary>
    private static string Show(GridEvent e) =>
        $"{e with { Marks = null }} marks={(e.Marks is null ? "none" : string.Join(",", e.Marks.Select(m => $"{m.Key}={m.Value}")))}";

    [Fact]
    public void Appending_keeps_the_newest_events_in_order_like_the_list_it_replaced()
    {
        var codec = Codec;
        var random = new Random(20261130);
        for (var run = 0; run < 40; run++)
        {
            var keep = random.Next(1, 12);
            var expected = new List<GridEvent>();
            byte[]? history = null;
            var n = 0;
            for (var step = 0; step < 30; step++)
            {
                var batch = Enumerable.Range(0, random.Next(0, 2 * keep)).Select(_ => Event(n++, marks: random.Next(2) == 0)).ToList();
                history = EventHistory.Append(history, [.. batch.Select(codec.Encode)], keep);
                expected.AddRange(batch);
                if (expected.Count > keep)
                {
                    expected.RemoveRange(0, expected.Count - keep);
                }

                Assert.Equal(expected.Select(Show), codec.Decode(history).Select(Show));
                Assert.Equal(expected.Count == 0, history is null);
            }
        }
    }

    [Fact]
    public void A_failed_writes_events_are_taken_back_and_nothing_else()
    {
        var codec = Codec;
        var before = EventHistory.Append(null, [.. Enumerable.Range(0, 5).Select(i => codec.Encode(Event(i)))], 50);
        var failed = new[] { Event(5), Event(6) };
        var after = EventHistory.Append(before, [.. failed.Select(codec.Encode)], 50);

        var takenBack = EventHistory.Remove(after, [.. failed.Select(codec.Encode)]);

        Assert.Equal(before, takenBack);
        Assert.Same(before, EventHistory.Remove(before, [codec.Encode(Event(99))])); // not in it: unchanged

        // Equal events (a step recording the same event twice): the newest one goes, the older stays.
        var twice = EventHistory.Append(before, [codec.Encode(Event(4))], 50);
        Assert.Equal(before, EventHistory.Remove(twice, [codec.Encode(Event(4))]));
    }

    [Fact]
    public void A_damaged_history_is_an_error_not_a_shorter_history()
    {
        var codec = Codec;
        var history = EventHistory.Append(null, [codec.Encode(Event(1)), codec.Encode(Event(2))], 50)!;

        Assert.Throws<InvalidDataException>(() => codec.Decode(history[..^3])); // cut inside the last event
        var lengthTooLarge = (byte[])history.Clone();
        lengthTooLarge[3] = 0x7f;
        Assert.Throws<InvalidDataException>(() => codec.Decode(lengthTooLarge));
    }

    [Fact]
    public void A_state_written_in_the_earlier_format_is_read_converted_and_written_in_the_new_one()
    {
        var codec = Codec;
        var states = fixture.Cluster.ServiceProvider.GetRequiredService<Serializer<AccountState>>();
        var earlier = new AccountState { Recent = [.. Enumerable.Range(0, 4).Select(i => Event(i))] };

        var stored = states.Deserialize(states.SerializeToArray(earlier))!; // as storage gives it back
        var history = codec.Of(stored, keep: 3);

        Assert.Null(stored.Recent);
        Assert.Equal(earlier.Recent!.Skip(1).Select(Show), codec.Decode(history).Select(Show));
        var rewritten = states.Deserialize(states.SerializeToArray(stored))!;
        Assert.Null(rewritten.Recent);
        Assert.Equal(earlier.Recent!.Skip(1).Select(Show), codec.Decode(rewritten.History).Select(Show));
        Assert.Same(rewritten.History, codec.Of(rewritten, keep: 3)); // nothing left to convert
    }
}
