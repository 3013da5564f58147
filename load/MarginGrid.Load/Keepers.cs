using System.Collections.Immutable;
using System.Globalization;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;

namespace MarginGrid.Load;

/// <summary>
/// A simulated external liquidator ("keeper", as in Maker's LIQ-2.0): it watches the running auctions and, once one has
/// run <see cref="ReactionSeconds"/> and its price is at most the oracle's mark × (1 − <see cref="RequiredDiscount"/>),
/// bids for the whole remaining lot at the current price.
/// </summary>
public sealed record Keeper(string Id, decimal ReactionSeconds, decimal RequiredDiscount, decimal Usd)
{
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Id} (reacts after {ReactionSeconds} s, wants {RequiredDiscount:P1} off)");
}

/// <summary>A seeded population of keepers, and the bids they place at one moment of a run.</summary>
public static class KeeperPopulation
{
    /// <summary>Each keeper's USD: deep enough that the initial margin never refuses its purchases in these scenarios.</summary>
    public const decimal UsdEach = 200_000_000m;

    /// <summary>
    /// <paramref name="count"/> keepers, the same for the same <paramref name="seed"/>: reaction time uniform in
    /// [0.5, 5] s (0.1 s steps) and required discount uniform in [0.5 %, 6 %] (0.1 % steps).
    /// </summary>
    public static ImmutableArray<Keeper> Create(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var random = new Random(seed ^ 0x6b65_6570);
        return [.. Enumerable.Range(0, count).Select(i => new Keeper(
            $"keeper-{i}",
            (5 + random.Next(46)) / 10m,
            (5 + random.Next(56)) / 1000m,
            UsdEach))];
    }

    public static ModelAccountSeed Seed(Keeper keeper) =>
        new(keeper.Id, new Dictionary<string, decimal> { [Assets.Usd] = keeper.Usd }, new Dictionary<string, Position>());

    public static AccountSeed AccountSeed(Keeper keeper) =>
        new(ImmutableDictionary<string, decimal>.Empty.Add(Assets.Usd, keeper.Usd), []);

    /// <summary>
    /// The next bid at this moment: over the running auctions by account id, the fastest keeper (reaction time, then id)
    /// whose conditions hold and who has not bid on that auction at this moment yet. Null when nobody bids. The price is
    /// the domain's (<see cref="DutchAuction.Price"/>); the lot is what is left, so a slower keeper finds less or none.
    /// </summary>
    public static ModelBidStep? NextBid(ModelEngine model, IReadOnlyList<Keeper> keepers, ISet<(string Keeper, string Target)> tried)
    {
        foreach (var (target, a) in model.Auctions.OrderBy(x => x.Key, StringComparer.Ordinal))
        {
            if (!model.Config.TryGetCollateral(a.Asset, out var spec) || spec.Auction is not { } auction || spec.PriceMarket is not { } market)
            {
                continue;
            }

            var elapsed = model.Now - a.Start;
            var price = DutchAuction.Price(a.Top, auction, elapsed, out _);
            var mark = MarginCalculator.Mark(model.Marks, market);
            foreach (var k in keepers.OrderBy(k => k.ReactionSeconds).ThenBy(k => k.Id, StringComparer.Ordinal))
            {
                if (elapsed >= k.ReactionSeconds && price <= mark * (1m - k.RequiredDiscount) && tried.Add((k.Id, target)))
                {
                    return new ModelBidStep(k.Id, target, a.Asset, a.Lot, price);
                }
            }
        }

        return null;
    }
}
