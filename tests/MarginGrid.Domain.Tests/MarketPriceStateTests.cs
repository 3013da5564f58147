namespace MarginGrid.Domain.Tests;

/// <summary>The price state of one market: oracle guard, circuit breaker, volatility multiplier, staleness, snapshot.</summary>
public sealed class MarketPriceStateTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.UnixEpoch;

    private static MarketSpec Btc(OracleSpec? oracle = null, VolatilitySpec? volatility = null) =>
        new("BTC-PERP", 0.001m, 0.002m, [new Bracket(0m, 0.01m, 0.02m)]) { Oracle = oracle, Volatility = volatility };

    private static DateTimeOffset At(decimal seconds) => T0.AddTicks((long)(seconds * 10_000_000m));

    [Fact]
    public void Without_an_oracle_the_mark_is_the_median_of_every_source_and_one_source_is_v1()
    {
        var state = new MarketPriceState(Btc());
        state.SetInitial(50_000m, At(0));
        Assert.Equal(49_000m, state.Apply("default", 49_000m, At(0)).Mark);
        Assert.Equal(49_500m, state.Apply("a", 50_000m, At(100)).Mark);
        Assert.Equal(50_000m, state.Apply("b", 51_000m, At(1000)).Mark);
        Assert.False(state.IsStale(At(1_000_000)));
    }

    [Fact]
    public void The_oracle_guard_goes_stale_holds_and_confirms_on_the_same_side()
    {
        var state = new MarketPriceState(Btc(new OracleSpec(MaxAge: 30m, MaxDeviation: 0.05m, MinSources: 2m, MaxMove: 0.08m)));
        state.SetInitial(50_000m, At(0));
        Assert.Equal(PriceStepKind.MarkSet, state.Apply("a", 49_900m, At(1)).Kind);
        Assert.Equal(49_950m, state.Mark);

        var stale = state.Apply("a", 48_800m, At(50)); // only "a" is fresh
        Assert.Equal(PriceStepKind.Stale, stale.Kind);
        Assert.Equal(ModelEventType.PriceStale, stale.Event!.Type);
        Assert.Equal(49_950m, state.Mark);

        var held = state.Apply("b", 44_000m, At(51)); // a 48,800 and b 44,000: 2 sources, median 46,400 → 2,400 off (> 5%)
        Assert.Equal(PriceStepKind.Stale, held.Kind);
        var h = state.Apply("a", 43_900m, At(52));
        Assert.Equal((PriceStepKind.Held, 43_950m), (h.Kind, h.Candidate!.Value));
        Assert.Equal(43_950m, h.Event!.Price);
        Assert.Equal(49_950m, state.Mark);

        var up = state.Apply("a", 60_000m, At(53)); // the candidate flips above: a new held price, not a confirmation
        Assert.Equal(PriceStepKind.Stale, up.Kind); // (44,000 and 60,000 deviate from their median)
        state.Apply("a", 44_100m, At(54));
        Assert.Equal(44_050m, state.Mark); // 43,950 held below, 44,050 below: confirmed
        Assert.Null(state.Held);
        Assert.True(state.IsStale(At(84.0000001m)));
        Assert.False(state.IsStale(At(84)));
    }

    [Fact]
    public void The_multiplier_is_the_mean_of_the_last_returns_over_the_reference_between_one_and_the_maximum()
    {
        var state = new MarketPriceState(Btc(volatility: new VolatilitySpec(2m, 0.01m, 3m)));
        state.SetInitial(100m, At(0));
        state.Apply("default", 102m, At(0)); // return 0.02
        Assert.Equal(1m, state.Multiplier); // fewer than n returns
        state.Apply("default", 102m, At(0)); // return 0
        Assert.Equal(1m, state.Multiplier); // mean 0.01 / 0.01
        state.Apply("default", 153m, At(0)); // return 0.5
        Assert.Equal(3m, state.Multiplier); // capped at K
        Assert.Equal([0m, 0.5m], state.Returns);
    }

    [Fact]
    public void A_snapshot_restores_the_same_state()
    {
        var spec = Btc(new OracleSpec(MaxAge: 30m, MaxMove: 0.01m), new VolatilitySpec(3m, 0.001m, 5m));
        var state = new MarketPriceState(spec);
        state.SetInitial(100m, At(0));
        state.Apply("a", 100.5m, At(1));
        state.Apply("b", 120m, At(2));

        var restored = MarketPriceState.Restore(spec, state.Snapshot());

        Assert.Equal(state.Snapshot().Sources, restored.Snapshot().Sources);
        Assert.Equal(state.Snapshot().Returns, restored.Snapshot().Returns);
        Assert.Equal((state.Mark, state.Held, state.Multiplier), (restored.Mark, restored.Held, restored.Multiplier));
        Assert.Equal(state.Apply("c", 121m, At(3)), restored.Apply("c", 121m, At(3)));
    }
}
