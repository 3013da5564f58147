using System.Collections.Immutable;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// A market's audit (issue 9, a durable audit): each price of a step is a record (<c>price</c>: what the source sent,
/// when the engine received it, the step it became), and so are the step's market events (price_stale, price_held; the
/// liquidation batches of its settlement are kept by the insurance fund, written with the step's charges). They are offered to the trail by the market itself — whoever published
/// the price, the HTTP API or the native client — after the step's write; with <see cref="GridOptions.AuditOutbox"/>
/// they wait in <see cref="MarketState.AuditPending"/>, written with the step (keys <c>*market/SYMBOL/#n</c>, n from
/// <see cref="MarketState.AuditSequence"/>), until the trail confirms them (<see cref="IMarketAuditGrain"/>); see
/// <see cref="GridAuditOutbox"/>.
/// </summary>
public sealed class MarketAudit(Grain grain, string market, IPersistentState<MarketState> state, IGridObserver observer, GridOptions options, ILogger logger)
{
    private readonly GridAuditOutbox _outbox = new(grain, () => state.State.AuditPending ??= [], observer, options, logger);

    /// <summary>This step's price records, offered when the step ends (<see cref="Offer"/>).</summary>
    private List<GridAuditEntry> _step = [];

    /// <summary>
    /// The step's write (<c>state.WriteStateAsync</c>), with its records: one per price of <paramref name="updates"/>
    /// and the market <paramref name="events"/>; returns the events keyed as the trail stores them.
    /// </summary>
    public async Task<List<GridEvent>> WriteAsync(
        IEnumerable<(PriceUpdate Update, DateTimeOffset ReceivedAt)> updates, string step, IReadOnlyList<GridEvent> events)
    {
        var prices = updates.Select(u => new GridAuditEntry(Key())
        {
            Price = new PriceAudit(market, u.Update.Source, u.Update.Price, u.Update.Timestamp, u.Update.ReceivedAt ?? u.ReceivedAt, step),
        }).ToList();
        var keyed = events.Select(e => _outbox.Enabled ? e with { AuditKey = Key() } : e).ToList();
        await _outbox.WriteAsync(
            _outbox.Enabled ? [.. prices, .. keyed.Select(e => new GridAuditEntry(e.AuditKey!) { Event = e })] : [],
            state.WriteStateAsync);
        _step = prices;
        return keyed;
    }

    /// <summary>The step ended: its price records, with its counts, to the trail. Returns <paramref name="outcome"/>.</summary>
    public StepOutcome Offer(StepOutcome outcome)
    {
        var step = _step;
        _step = [];
        foreach (var entry in step)
        {
            observer.GridRecord(entry with { Price = entry.Price! with { Evaluated = outcome.Evaluated, Events = outcome.Events.Length } });
        }

        return outcome;
    }

    /// <summary>On activation: what a crash may have lost.</summary>
    public void OfferAll() => _outbox.OfferAll();

    public void Audited(IEnumerable<string> keys) => _outbox.Audited(keys);

    public Task TickAsync(string reminderName) => _outbox.TickAsync(reminderName, write: null); // the next step writes

    private string Key() => _outbox.Enabled ? GridAuditKeys.Market(market, ++state.State.AuditSequence) : string.Empty;
}
