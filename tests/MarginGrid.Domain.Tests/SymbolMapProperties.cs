using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;

namespace MarginGrid.Domain.Tests;

/// <summary>The portfolio's compact map behaves as an ordinal sorted dictionary under any sequence of sets and removes.</summary>
public sealed class SymbolMapProperties
{
    private static readonly string[] Symbols = ["USD", "BTC", "ETH", "BTC-PERP", "ETH-PERP", "SOL-PERP", "a", "B", "btc"];

    private static readonly Gen<(bool Remove, string Key, int Value)> Operation =
        from remove in Gen.Frequency((1, Gen.Constant(true)), (3, Gen.Constant(false)))
        from key in Gen.Elements(Symbols)
        from value in Gen.Choose(-1000, 1000)
        select (remove, key, value);

    [Property(MaxTest = 500)]
    public Property AgreesWithAnOrdinalSortedDictionary() =>
        Prop.ForAll(Arb.From(Gen.ListOf(Operation, 40)), operations =>
        {
            var map = new SymbolMap<int>();
            var model = new SortedDictionary<string, int>(StringComparer.Ordinal);
            foreach (var (remove, key, value) in operations)
            {
                if (remove)
                {
                    Assert.Equal(model.Remove(key), map.Remove(key));
                }
                else
                {
                    map.Set(key, value);
                    model[key] = value;
                }

                Assert.Equal(model.ToList(), map.ToList());
                Assert.Equal(model.Count, map.Count);
                foreach (var symbol in Symbols)
                {
                    Assert.Equal(model.TryGetValue(symbol, out var expected), map.TryGetValue(symbol, out var actual));
                    Assert.Equal(expected, actual);
                }
            }
        });

    [Fact]
    public void A_new_key_is_stored_as_made_and_an_update_keeps_the_stored_instance()
    {
        var map = new SymbolMap<int>();
        var made = 0;
        string Make(string key)
        {
            made++;
            return string.Intern(key);
        }

        map.Set(new string("BTC".AsSpan()), 1, Make); // a copy, as a deserialized message brings it
        map.Set(new string("BTC".AsSpan()), 2, Make);

        Assert.Equal(1, made); // made once, when the key was added
        Assert.Same(string.Intern("BTC"), Assert.Single(map).Key);
        Assert.Equal(2, map["BTC"]);
    }

    [Fact]
    public void Changing_the_map_while_enumerating_it_throws()
    {
        var map = new SymbolMap<int>();
        map.Set("BTC", 1);
        map.Set("ETH", 2);
        Assert.Throws<InvalidOperationException>(() =>
        {
            foreach (var (key, _) in map)
            {
                map.Remove(key);
            }
        });
    }
}
