using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace MarginGrid.Domain.Tests;

/// <summary>
/// What the ADL index costs (docs/load-report.md, "Auto-deleveraging ranking"): the time to set a standing (what a shard
/// does when an account re-bands after its holdings changed), to ask for the top-k counterparties at a mark, and to place
/// one position (the API's quantile), for N holders in one book. A measurement that prints its numbers, not a timed
/// assertion. Run it alone:
/// <c>dotnet test tests/MarginGrid.Domain.Tests -c Release --filter "FullyQualifiedName~AdlBookCost" --logger "console;verbosity=detailed"</c>.
/// </summary>
public sealed class AdlBookCost(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1_000)]
    [InlineData(10_000)]
    [InlineData(100_000)]
    [Trait("Category", "Measurement")]
    public void Prints_the_cost_of_updates_and_queries(int holders)
    {
        var config = RiskConfiguration.Create(
            [new MarketSpec("BTC", 0.001m, 0.002m, [new Bracket(0m, 0.01m, 0.02m), new Bracket(1_000_000m, 0.05m, 0.10m)])],
            [],
            new RiskParameters(1.25m, 1.1m));
        var mark = 50_000m;
        var marks = new MarkBook([KeyValuePair.Create("BTC", mark)]);
        var random = new Random(holders);
        AdlStanding Standing(long version) => new(
            Portfolio.Restore(
                [KeyValuePair.Create(Assets.Usd, random.Next(1_000, 100_000) * 1m)],
                [KeyValuePair.Create("BTC", new Position((random.Next(2) == 0 ? -1m : 1m) * random.Next(1, 2_000) * 0.001m, mark * random.Next(80, 121) / 100m))]),
            version,
            false);
        var ids = Enumerable.Range(0, holders).Select(i => $"acct-{i:D7}").ToArray();
        var standings = ids.Select(_ => Standing(1)).ToArray();
        var updates = ids.Select(_ => Standing(2)).ToArray();
        var book = new AdlBook();

        var clock = Stopwatch.StartNew();
        for (var i = 0; i < holders; i++)
        {
            book.Set(ids[i], standings[i]);
        }

        var insert = clock.Elapsed;
        clock.Restart();
        for (var i = 0; i < holders; i++)
        {
            book.Set(ids[i], updates[i]); // a re-band after a change: the old index entries out, the new ones in
        }

        var update = clock.Elapsed;

        const int queries = 10;
        var quantity = 5m; // a bankruptcy of 5 BTC: the prefix covering it
        var top = book.Top("BTC", shorts: true, quantity, marks, config); // warm-up (JIT)
        book.Place("BTC", shorts: true, top.Ranked[0].Key, marks, config);
        AutoDeleveraging.Rank("BTC", true, ids.Take(10).Zip(updates, (id, s) => KeyValuePair.Create(id, s.Holdings)), marks, config);
        GC.Collect();
        clock.Restart();
        for (var q = 0; q < queries; q++)
        {
            top = book.Top("BTC", shorts: q % 2 == 0, quantity, marks, config);
        }

        var topTime = clock.Elapsed / queries;
        var eligible = book.Ranked("BTC", shorts: true, marks, config).Count;

        var probe = book.Ranked("BTC", shorts: true, marks, config)[eligible / 2].Key;
        clock.Restart();
        for (var q = 0; q < queries; q++)
        {
            book.Place("BTC", shorts: true, probe, marks, config, except: probe.Account);
        }

        var placeTime = clock.Elapsed / queries;

        // The compute part of what the index replaces: the domain's ranking of every holder's portfolio (the scan also
        // fetched every holder's snapshot through a grain call first).
        clock.Restart();
        var all = AutoDeleveraging.Rank("BTC", true, ids.Zip(updates, (id, s) => KeyValuePair.Create(id, s.Holdings)), marks, config);
        var scan = clock.Elapsed;

        Assert.Equal(eligible, all.Count);
        output.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"holders={holders}: insert {insert.TotalMicroseconds / holders:F2} µs/standing, update {update.TotalMicroseconds / holders:F2} µs/standing; "
            + $"top-k (k={top.Ranked.Count} covering {quantity} BTC, {eligible} eligible shorts) {topTime.TotalMilliseconds:F3} ms; "
            + $"place {placeTime.TotalMilliseconds:F3} ms; domain ranking of all holders {scan.TotalMilliseconds:F3} ms"));
    }
}
