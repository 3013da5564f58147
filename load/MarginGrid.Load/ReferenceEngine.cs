using System.Globalization;
using MarginGrid.Domain;
using MarginGrid.Domain.Model;
using MarginGrid.Grains;

namespace MarginGrid.Load;

/// <summary>
/// The sequential baseline: one thread, the domain's own step code (<see cref="ModelEngine"/>: MarketPriceState,
/// MarginCalculator, StepLiquidation, the insurance ledger — what the grains run), every holder of the updated market
/// evaluated on every update, no safe bands. It is the per-core figure the grid is compared with and the oracle of its
/// zero-miss check; it holds no rule of its own, only the translation of the load plan into model steps and of model
/// events into <see cref="EventKeys"/>.
/// </summary>
public sealed class ReferenceEngine
{
    private readonly ModelEngine _engine;

    /// <param name="start">The clock's start: the time of the initial prices.</param>
    /// <param name="netting">Other than Batch only for the comparisons of issue 11 (not the model).</param>
    public ReferenceEngine(
        RiskConfiguration config, IEnumerable<ModelAccountSeed> accounts, decimal fund, DateTimeOffset start, LiquidationNetting netting = LiquidationNetting.Batch)
    {
        _engine = new ModelEngine(config, fund, accounts, Seconds(start)) { Netting = netting };
    }

    public ModelEngine Engine => _engine;

    public InsuranceLedger Ledger => _engine.Ledger;

    public long Evaluations => _engine.Evaluations;

    /// <summary>The model's events of the latest step (initial or price).</summary>
    public IReadOnlyList<ModelEvent> LastEvents { get; private set; } = [];

    /// <summary>The initial step: every market priced by <paramref name="source"/> at the start, every account evaluated once.</summary>
    public List<string> Initialize(IEnumerable<KeyValuePair<string, decimal>> prices, string source) =>
        Keys(_engine.Initialize(prices, source));

    /// <summary>One price update as one step at its timestamp; returns its events in order.</summary>
    public List<string> Step(string market, string source, decimal price, DateTimeOffset timestamp) =>
        Keys(_engine.Apply(new ModelPriceStep(market, price) { Source = source, Time = Seconds(timestamp) }));

    /// <summary>A v3 bid as a step at the current time; returns its events.</summary>
    public List<string> Bid(ModelBidStep bid) => Keys(_engine.Apply(bid));

    /// <summary>A load-plan tick as a model step.</summary>
    public List<string> Step(PlannedTick tick) => Step(tick.Market, tick.Source, tick.Price, tick.Timestamp);

    /// <summary>An instant as the model's clock: seconds since the Unix epoch (100 ns resolution, exact).</summary>
    public static decimal Seconds(DateTimeOffset time) => (time - DateTimeOffset.UnixEpoch).Ticks / 10_000_000m;

    /// <summary>A load tool's account seed as the model's.</summary>
    public static ModelAccountSeed Seed(string id, AccountSeed seed) => new(
        id,
        seed.Collateral,
        seed.Positions.ToDictionary(p => p.Market, p => new Position(p.Size, p.EntryPrice), StringComparer.Ordinal));

    private List<string> Keys(IReadOnlyList<ModelEvent> events)
    {
        LastEvents = events;
        return [.. events.Select(EventKeys.Of)];
    }
}

/// <summary>One canonical text per event, so the grid's and the baseline's events compare exactly.</summary>
public static class EventKeys
{
    public static string MarginCall(string account, string status) => $"margin_call|{account}|{status}";

    public static string Liquidation(string account, string market, decimal q, decimal p, decimal penalty) =>
        $"liquidation|{account}|{market}|{D(q)}|{D(p)}|{D(penalty)}";

    public static string CollateralSale(string account, string asset, decimal q, decimal p, decimal discount) =>
        $"collateral_liquidation|{account}|{asset}|{D(q)}|{D(p)}|{D(discount)}";

    public static string Bankruptcy(string account, decimal deficit, decimal covered, decimal socialized) =>
        $"bankruptcy|{account}|{D(deficit)}|{D(covered)}|{D(socialized)}";

    /// <summary>A grid event's key: the key of the model event it maps to (one key function for both sides).</summary>
    public static string Of(GridEvent e) => Of(e.ToModel());

    public static string Of(ModelEvent e) => e.Type switch
    {
        ModelEventType.MarginCall => MarginCall(e.Account!, e.Status!.Value.ToString()),
        ModelEventType.Liquidation => Liquidation(e.Account!, e.Market!, e.Quantity!.Value, e.Price!.Value, e.Penalty!.Value),
        ModelEventType.CollateralLiquidation => CollateralSale(e.Account!, e.Asset!, e.Quantity!.Value, e.Price!.Value, e.Discount!.Value),
        ModelEventType.Bankruptcy => Bankruptcy(e.Account!, e.Deficit!.Value, e.InsuranceCovered!.Value, e.Socialized!.Value)
            + (e.AdlRecovered is { } r ? $"|adl={D(r)}" : ""),
        ModelEventType.Adl => $"adl|{e.Account}|{e.Market}|{D(e.Quantity!.Value)}|{D(e.Price!.Value)}|{e.Counterparty}",
        ModelEventType.AuctionStart => $"auction_start|{e.Account}|{e.Asset}|{D(e.Quantity!.Value)}|{D(e.Price!.Value)}|{D(e.Tab!.Value)}",
        ModelEventType.AuctionTake => $"auction_take|{e.Account}|{e.Asset}|{D(e.Quantity!.Value)}|{D(e.Price!.Value)}|{e.Liquidator}",
        ModelEventType.AuctionEnd => $"auction_end|{e.Account}|{e.Asset}|{D(e.Quantity!.Value)}",
        _ => $"{e.TypeName}|{e.Account}|{e.Reason}",
    };

    /// <summary>The model's events the grid missed and the grid's the model has not; the same events in another order count one miss.</summary>
    public static (long Misses, long Extras) Differences(IReadOnlyList<string> model, IReadOnlyList<string> grid)
    {
        if (model.SequenceEqual(grid))
        {
            return (0, 0);
        }

        var missing = Without(model, grid);
        var extra = Without(grid, model);
        return (missing == 0 && extra == 0 ? 1 : missing, extra);
    }

    /// <summary>How many of <paramref name="a"/> are not matched in <paramref name="b"/>, as multisets.</summary>
    private static long Without(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var left = b.GroupBy(x => x, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        long unmatched = 0;
        foreach (var x in a)
        {
            if (left.TryGetValue(x, out var n) && n > 0)
            {
                left[x] = n - 1;
            }
            else
            {
                unmatched++;
            }
        }

        return unmatched;
    }

    private static string D(decimal value) => DecimalMath.Normalize(value).ToString(CultureInfo.InvariantCulture);
}
