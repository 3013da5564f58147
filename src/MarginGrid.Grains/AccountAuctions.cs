using System.Collections.Immutable;
using MarginGrid.Domain;

namespace MarginGrid.Grains;

/// <summary>
/// v3, the auction protocol of one account: as the account in auction (quotes, takes, its own expiry) and as a bidder
/// (the quote and take on the target's grain). The aggregate and <see cref="DutchAuction"/> decide every price and
/// quantity; this only carries them between the bidder's and the target's grains.
/// </summary>
public sealed class AccountAuctions(AccountSession session, AccountLiquidations liquidations, AccountSteps steps)
{
    private Account Account => session.Account;

    /// <summary>This account's running auction of <paramref name="asset"/>, at the engine's clock.</summary>
    public AuctionQuote Quote(string asset)
    {
        if (!Account.Opened)
        {
            return new AuctionQuote(false, false, 0m, 0m, 0m);
        }

        return Account.AuctionQuote(asset, session.Clock.UtcNow, session.Config) is { } q
            ? new AuctionQuote(true, true, q.Price, q.Lot, q.Debt)
            : new AuctionQuote(true, false, 0m, 0m, 0m);
    }

    /// <summary>A bidder's take of this account's lot, idempotent by bid id; not taken when the auction has ended or changed.</summary>
    public async Task<AuctionTakeResult> TakeAsync(AuctionTakeOrder order)
    {
        if (!Account.Opened)
        {
            return new AuctionTakeResult(false, []);
        }

        if (Account.RecentLiquidations.Contains(order.BidId, StringComparer.Ordinal))
        {
            // A retry of this very bid: its events as published.
            return new AuctionTakeResult(true, [.. session.Recent.Where(e => e.Step == order.BidId || e.Step == $"{order.BidId}/end").Select(e => e.ToModel())]);
        }

        await liquidations.SettlePendingAsync(force: true);
        await session.Markets.LinkAsync(Account.PricedBy(session.Config), refresh: true);
        var undo = Account.Save();
        var events = Account.TakeAtAuction(order.BidId, order.Liquidator, order.Asset, order.Quantity, order.Payment, order.Price, session.Marks, session.Config, session.Clock.UtcNow);
        if (events is null)
        {
            return new AuctionTakeResult(false, []);
        }

        await session.PersistAsync(undo, session.Events.Record(events, order.BidId)); // the take's events with the take
        var settled = await liquidations.SettlePendingAsync(force: true);
        await steps.RebandAsync();
        return new AuctionTakeResult(true, [.. events, .. settled]);
    }

    /// <summary>The registry's call at the start of another account's step: ends this account's auction if it has expired.</summary>
    public async Task<ImmutableArray<ModelEvent>> EndIfExpiredAsync(string step)
    {
        if (!Account.Opened || Account.Auction is null || !Account.AuctionExpired(session.Clock.UtcNow, session.Config))
        {
            return [];
        }

        return [.. await EndOwnAsync(step)];
    }

    /// <summary>
    /// v3, at the start of a command step: every expired auction ends, by account id — this account's here, the others'
    /// through the registry (which never calls this account back). Nothing when no collateral is auctioned.
    /// </summary>
    public async Task<List<ModelEvent>> EndExpiredAsync(string step)
    {
        if (!session.AuctionsConfigured)
        {
            return [];
        }

        var own = Account.AuctionExpired(session.Clock.UtcNow, session.Config) ? await EndOwnAsync(step) : [];
        var others = await session.House.EndExpiredAsync(step, except: session.Id);
        return [.. others.Select(o => (o.Account, Events: (IReadOnlyList<ModelEvent>)o.Events))
            .Append((Account: session.Id, Events: own))
            .OrderBy(o => o.Account, StringComparer.Ordinal)
            .SelectMany(o => o.Events)];
    }

    /// <summary>
    /// As the bidder: the target's quote, the checks of the model (own auction, price above maximum, the bidder's
    /// initial margin after the purchase) and the take on the target. Returns the refusal's reason, or the quantity
    /// and payment taken (the target's events appended to <paramref name="before"/>).
    /// </summary>
    public async Task<(string? Reason, decimal Quantity, decimal Payment)> BuyAsync(AccountCommand.Bid command, List<ModelEvent> before)
    {
        if (command.Target == session.Id)
        {
            return (DutchAuction.OwnAuction, 0m, 0m);
        }

        var target = session.Grains.Ref<IAccountRiskGrain>(command.Target);
        var quote = await target.AuctionQuoteAsync(command.Asset);
        var reason = !quote.Exists ? RejectReasons.UnknownAccount
            : command.Quantity <= 0m ? RejectReasons.InvalidQuantity
            : command.MaxPrice <= 0m ? RejectReasons.InvalidPrice
            : !quote.Running ? DutchAuction.NoRunningAuction
            : quote.Price > command.MaxPrice ? DutchAuction.PriceAboveMaximum
            : null;
        if (reason is not null)
        {
            return (reason, 0m, 0m);
        }

        var (quantity, payment) = DutchAuction.Take(quote.Debt, quote.Price, command.Quantity, quote.Lot);
        if (Account.PurchaseRefusal(command.Asset, quantity, payment, session.Marks, session.Config) is { } refused)
        {
            return (refused, 0m, 0m); // beyond a limit, or short of initial margin
        }

        var taken = await target.TakeAtAuctionAsync(
            new AuctionTakeOrder($"{session.Id}/{command.CommandId}", session.Id, command.Asset, quantity, payment, quote.Price));
        if (!taken.Taken)
        {
            return (DutchAuction.NoRunningAuction, 0m, 0m); // it changed since the quote
        }

        before.AddRange(taken.Events);
        return (null, quantity, payment);
    }

    /// <summary>v3: ends this account's expired auction (the lot sold to the system, step 2 resumed, the deficit covered).</summary>
    private async Task<List<ModelEvent>> EndOwnAsync(string step)
    {
        await liquidations.SettlePendingAsync(force: true);
        await session.Markets.LinkAsync(Account.PricedBy(session.Config), refresh: true);
        var undo = Account.Save();
        var events = new List<ModelEvent>(Account.EndAuction($"{step}:{session.Id}/auction-end", sellLot: true, session.Marks, session.Config, session.Clock.UtcNow));
        await session.PersistAsync(undo, session.Events.Record(events, step)); // the end's events with the end
        events.AddRange(await liquidations.SettlePendingAsync(force: true));
        await steps.RebandAsync();
        return events;
    }
}
