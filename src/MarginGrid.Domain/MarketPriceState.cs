namespace MarginGrid.Domain;

/// <summary>How a price step of one market ended (MARGIN-MODEL.md v2, "Oracle guard").</summary>
public enum PriceStepKind
{
    /// <summary>The mark was set (possibly to its old value): the step goes on as a v1 price step.</summary>
    MarkSet,

    /// <summary>Fewer than <c>minSources</c> kept prices: <c>price_stale</c>, mark unchanged, nobody evaluated.</summary>
    Stale,

    /// <summary>The circuit breaker held the candidate: <c>price_held</c>, mark unchanged, nobody evaluated.</summary>
    Held,
}

/// <summary>The outcome of one price step of a market.</summary>
public sealed record PriceStepOutcome(string Market, PriceStepKind Kind, decimal? Mark, decimal? Candidate)
{
    /// <summary>True when the mark was set and the step evaluates accounts.</summary>
    public bool GoesOn => Kind == PriceStepKind.MarkSet;

    /// <summary>The market-level event that ended the step early (<c>price_stale</c> or <c>price_held</c>), else null.</summary>
    public ModelEvent? Event => Kind switch
    {
        PriceStepKind.Stale => new ModelEvent(ModelEventType.PriceStale, null) { Market = Market },
        PriceStepKind.Held => new ModelEvent(ModelEventType.PriceHeld, null) { Market = Market, Price = Candidate },
        _ => null,
    };
}

/// <summary>A price from one source and the time it arrived (on the engine's clock).</summary>
public readonly record struct SourcePrice(decimal Price, DateTimeOffset Timestamp);

/// <summary>One source's latest price and when it arrived, as persisted.</summary>
public sealed record SourcePriceSnapshot(string Source, decimal Price, DateTimeOffset Time);

/// <summary>Everything a <see cref="MarketPriceState"/> remembers, as plain data a grain can persist.</summary>
public sealed record MarketPriceSnapshot(
    string Market,
    decimal? Mark,
    decimal? Held,
    IReadOnlyList<SourcePriceSnapshot> Sources,
    IReadOnlyList<decimal> Returns);

/// <summary>
/// The price state of one market (MARGIN-MODEL.md v2, "Time and price sources", "Oracle guard", "Volatility-scaled
/// margin"): per source the latest price and the time it arrived, the mark, the held price of the circuit breaker and
/// the recent returns of the mark with the multiplier k they give. Pure: the caller supplies <c>now</c> (a grain from
/// its <see cref="TimeProvider"/>, replay from the scenario clock). Not thread-safe.
/// </summary>
public sealed class MarketPriceState
{
    /// <summary>The source of the initial prices and of price steps that name none.</summary>
    public const string DefaultSource = "default";

    private const decimal TicksPerSecond = 10_000_000m;

    private readonly Dictionary<string, SourcePrice> _sources = new(StringComparer.Ordinal);
    private readonly List<decimal> _returns = [];

    public MarketPriceState(MarketSpec spec)
    {
        Spec = spec;
    }

    public MarketSpec Spec { get; private set; }

    public string Market => Spec.Symbol;

    /// <summary>The current mark; null before the first price.</summary>
    public decimal? Mark { get; private set; }

    /// <summary>The circuit breaker's held price, if any.</summary>
    public decimal? Held { get; private set; }

    public IReadOnlyDictionary<string, SourcePrice> Sources => _sources;

    /// <summary>The recorded returns <c>|M_new / M_old − 1|</c>, oldest first (at most the volatility window).</summary>
    public IReadOnlyList<decimal> Returns => _returns;

    /// <summary>
    /// The margin multiplier <c>k = min(K, max(1, mean of the last n returns / r))</c>; 1 without <c>volatility</c> or
    /// while fewer than n returns exist.
    /// </summary>
    public decimal Multiplier
    {
        get
        {
            if (Spec.Volatility is not { } v)
            {
                return 1m;
            }

            var n = (int)v.Window;
            if (_returns.Count < n)
            {
                return 1m;
            }

            var sum = 0m;
            for (var i = _returns.Count - n; i < _returns.Count; i++)
            {
                sum += _returns[i];
            }

            var ratio = sum / n / v.Reference;
            return Math.Min(v.MaxMultiplier, Math.Max(1m, ratio));
        }
    }

    /// <summary>The newest arrival time over all sources; null before any price.</summary>
    public DateTimeOffset? NewestTime => _sources.Count == 0 ? null : _sources.Values.Max(s => s.Timestamp);

    /// <summary>Takes a new configuration of the same market (the remembered prices and returns stay).</summary>
    public void Reconfigure(MarketSpec spec)
    {
        if (spec.Symbol != Spec.Symbol)
        {
            throw new ArgumentException($"spec of {spec.Symbol} given to the price state of {Spec.Symbol}", nameof(spec));
        }

        Spec = spec;
        TrimReturns();
    }

    /// <summary>
    /// An initial price: recorded as <paramref name="source"/> (default "default") at <paramref name="time"/>; the mark
    /// is set to it directly (no oracle, no breaker) and no return is recorded.
    /// </summary>
    public PriceStepOutcome SetInitial(decimal price, DateTimeOffset time, string source = DefaultSource)
    {
        Record(source, price, time);
        Mark = price;
        Held = null;
        return new PriceStepOutcome(Market, PriceStepKind.MarkSet, price, price);
    }

    /// <summary>
    /// One price step: records the source's price at <paramref name="now"/>, forms the candidate (median of all sources
    /// without <c>oracle</c>; fresh, deviation-filtered, at least <c>minSources</c> with it), applies the circuit breaker,
    /// and sets the mark (recording a return) when the step goes on. Before any mark exists the candidate becomes the
    /// mark without the breaker and without a return.
    /// </summary>
    public PriceStepOutcome Apply(string source, decimal price, DateTimeOffset now)
    {
        Record(source, price, now);
        var oracle = Spec.Oracle;
        decimal candidate;
        if (oracle is null)
        {
            candidate = Median([.. _sources.Values.Select(s => s.Price)]);
        }
        else
        {
            var fresh = _sources.Values
                .Where(s => oracle.MaxAge is not { } maxAge || AgeSeconds(now, s.Timestamp) <= maxAge)
                .Select(s => s.Price)
                .ToList();
            var kept = fresh;
            if (oracle.MaxDeviation is { } d && fresh.Count > 0)
            {
                var m0 = Median(fresh);
                kept = [.. fresh.Where(p => Math.Abs(p - m0) <= d * m0)];
            }

            if (kept.Count < oracle.MinSources || kept.Count == 0)
            {
                return new PriceStepOutcome(Market, PriceStepKind.Stale, Mark, null);
            }

            candidate = Median(kept);
            if (oracle.MaxMove is { } x && Mark is { } m)
            {
                if (Math.Abs(candidate - m) > x * m)
                {
                    var confirmed = Held is { } h && Math.Sign(h - m) == Math.Sign(candidate - m);
                    if (!confirmed)
                    {
                        Held = candidate;
                        return new PriceStepOutcome(Market, PriceStepKind.Held, Mark, candidate);
                    }
                }

                Held = null;
            }
        }

        SetMark(candidate);
        return new PriceStepOutcome(Market, PriceStepKind.MarkSet, candidate, candidate);
    }

    /// <summary>
    /// With <c>oracle.maxAge</c>, the market is stale when the newest of its sources' times is older than
    /// <c>now − maxAge</c>. Never stale without <c>maxAge</c>.
    /// </summary>
    public bool IsStale(DateTimeOffset now) =>
        Spec.Oracle?.MaxAge is { } maxAge && NewestTime is { } newest && AgeSeconds(now, newest) > maxAge;

    public MarketPriceSnapshot Snapshot() =>
        new(
            Market,
            Mark,
            Held,
            [.. _sources.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => new SourcePriceSnapshot(s.Key, s.Value.Price, s.Value.Timestamp))],
            [.. _returns]);

    public static MarketPriceState Restore(MarketSpec spec, MarketPriceSnapshot snapshot)
    {
        if (snapshot.Market != spec.Symbol)
        {
            throw new ArgumentException($"snapshot of {snapshot.Market} restored with the spec of {spec.Symbol}", nameof(snapshot));
        }

        var state = new MarketPriceState(spec) { Mark = snapshot.Mark, Held = snapshot.Held };
        foreach (var s in snapshot.Sources)
        {
            state._sources[s.Source] = new SourcePrice(s.Price, s.Time);
        }

        state._returns.AddRange(snapshot.Returns);
        state.TrimReturns();
        return state;
    }

    /// <summary>The median; of an even count, the mean of the middle two.</summary>
    public static decimal Median(IReadOnlyCollection<decimal> prices)
    {
        if (prices.Count == 0)
        {
            throw new ArgumentException("the median of no prices", nameof(prices));
        }

        var sorted = prices.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2m;
    }

    /// <summary><c>now − time</c> in seconds, exactly (TimeSpan ticks are 100 ns).</summary>
    public static decimal AgeSeconds(DateTimeOffset now, DateTimeOffset time) => (now - time).Ticks / TicksPerSecond;

    private void Record(string source, decimal price, DateTimeOffset time)
    {
        ArgumentException.ThrowIfNullOrEmpty(source);
        if (price <= 0m)
        {
            throw new ArgumentOutOfRangeException(nameof(price), $"a price must be positive, got {price}");
        }

        _sources[source] = new SourcePrice(price, time);
    }

    private void SetMark(decimal mark)
    {
        if (Mark is { } old && Spec.Volatility is not null)
        {
            _returns.Add(Math.Abs((mark / old) - 1m));
            TrimReturns();
        }

        Mark = mark;
    }

    private void TrimReturns()
    {
        var keep = Spec.Volatility is { } v ? (int)v.Window : 0;
        if (_returns.Count > keep)
        {
            _returns.RemoveRange(0, _returns.Count - keep);
        }
    }
}
