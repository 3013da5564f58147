using System.Collections.Immutable;
using MarginGrid.Domain;
using Microsoft.Extensions.Logging;

namespace MarginGrid.Grains;

/// <summary>
/// One account's I/O around the domain's <see cref="Account"/> aggregate. It decides nothing itself: every step is
/// decided by the aggregate at marks fetched for that step. Its protocols are collaborators sharing one
/// <see cref="AccountSession"/>: commands (<see cref="AccountCommands"/>), ticks and safe bands
/// (<see cref="AccountSteps"/>), the liquidation outbox (<see cref="AccountLiquidations"/>) and v3 auctions
/// (<see cref="AccountAuctions"/>); this class routes the grain calls to them.
/// </summary>
public sealed class AccountGrain(
    [PersistentState("account", GridProviders.Storage)] IPersistentState<AccountState> state,
    AccountServices services)
    : Grain, IAccountGrain, IAccountRiskGrain, IAccountAuditGrain, IAuditRetryHost, IRemindable
{
    private AccountSession? _session;
    private IGrainReminder? _auditReminder;

    private AccountSession Session => _session ??= new AccountSession(this, this.GetPrimaryKeyString(), state, services);

    private Account Account => Session.Account;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        if (Account.Opened)
        {
            await Session.LoadConfigAsync(1);
            if (!AccountRules.Knows(Account.Holdings, Session.Config))
            {
                await Session.LoadConfigAsync(Session.ConfigVersion + 1); // this silo's copy is older than what the account holds
            }

            await Session.Markets.LinkAsync(Account.PricedBy(Session.Config), refresh: false);
            await Session.Liquidations.SettlePendingAsync(force: true); // a liquidation applied here whose fund settlement was not confirmed
            if (Account.Auction is not null)
            {
                await Session.House.RegisterAsync(RegisteredAuction.Of(Session.Id, Account.Auction)); // in case its registration was lost
            }

            if (Session.Options.AuditOutbox && Session.Audit.Offer(all: true)) // what a crash may have lost on its way to PostgreSQL
            {
                await KeepOfferingAuditAsync();
            }
        }
    }

    /// <summary>
    /// While the audit outbox holds records, the account holds a reminder (<see cref="GridAuditOutbox.ReminderName"/>,
    /// every <see cref="GridOptions.AuditRetryInterval"/> but at least a minute) that offers them again — and activates
    /// the account after a crash, however long nothing else touches it. Registered with the write that gives the outbox
    /// records; unregistered at the first tick that finds it empty. Never throws: without it, records are offered on activation.
    /// </summary>
    public async Task KeepOfferingAuditAsync()
    {
        if (_auditReminder is not null)
        {
            return;
        }

        try
        {
            var period = Session.Options.AuditRetryInterval > TimeSpan.FromMinutes(1) ? Session.Options.AuditRetryInterval : TimeSpan.FromMinutes(1);
            _auditReminder = await this.RegisterOrUpdateReminder(GridAuditOutbox.ReminderName, period, period);
        }
        catch (Exception e) // a timeout included: the step must not fail for its reminder
        {
            Session.Logger.LogWarning(e, "Account {Account} could not register its audit reminder", Session.Id);
        }
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        if (reminderName != GridAuditOutbox.ReminderName)
        {
            return;
        }

        if (Account.Opened && Session.Options.AuditOutbox && Session.Audit.Offer(all: false))
        {
            _auditReminder ??= await this.GetReminder(reminderName);
            return;
        }

        try
        {
            if ((_auditReminder ?? await this.GetReminder(reminderName)) is { } reminder)
            {
                await this.UnregisterReminder(reminder);
            }

            _auditReminder = null;
        }
        catch (Exception e) // a timeout included
        {
            Session.Logger.LogWarning(e, "Account {Account} could not unregister its audit reminder", Session.Id);
        }
    }

    public Task AuditedAsync(ImmutableArray<string> commandIds)
    {
        Session.Audit.Audited(commandIds);
        return Task.CompletedTask;
    }

    public Task<bool> ExistsAsync() => Task.FromResult(Account.Opened);

    public async Task OpenAsync(AccountSeed seed)
    {
        await Session.RefreshConfigAsync(); // the newest, not this silo's cached copy: a change may have moved what prices an asset
        var holdings = seed.ToPortfolio();

        var undo = Account.Save();
        Account.Open(holdings, Session.Config);
        // The opening's audit record: in the same write (no outbox object at all for an account of a silo without one).
        var unaudit = Session.Audit.AddOpen(seed, Account.Version);
        try
        {
            await Session.PersistAsync(undo);
        }
        catch
        {
            unaudit();
            throw;
        }
        services.Observer.StatusChanged(null, RiskStatus.Healthy);
        await Session.Markets.LinkAsync(Account.PricedBy(Session.Config), refresh: false);
        await Session.Steps.RebandAsync();
    }

    public async Task<EvaluationReport?> OnTickAsync(MarketTick tick)
    {
        var markets = Session.Markets;
        if (!Account.Opened)
        {
            await markets.UnlinkAsync(tick.Market);
            return null;
        }

        if (!markets.TakeTick(tick))
        {
            return null; // stale: a newer tick of this market has already been applied
        }

        if (tick.ConfigVersion > Session.ConfigVersion)
        {
            await Session.LoadConfigAsync(tick.ConfigVersion);
        }

        if (!Account.IsPricedBy(tick.Market, Session.Config))
        {
            await markets.UnlinkAsync(tick.Market);
            return null;
        }

        await Session.Liquidations.SettlePendingAsync(force: false);
        return tick.Evaluate ? await Session.Steps.StepAsync(tick.StepId, except: tick.Market) : null;
    }

    public async Task<EvaluationReport?> EvaluateAsync(string step) => Account.Opened ? await Session.Steps.StepAsync(step) : null;

    public Task<CommandResult> FillAsync(FillCommand c) => Session.Commands.ExecuteAsync(new AccountCommand.Fill(c.CommandId, c.Market, c.Size, c.Price));

    public Task<CommandResult> DepositAsync(TransferCommand c) => Session.Commands.ExecuteAsync(new AccountCommand.Deposit(c.CommandId, c.Asset, c.Quantity));

    public Task<CommandResult> WithdrawAsync(TransferCommand c) => Session.Commands.ExecuteAsync(new AccountCommand.Withdrawal(c.CommandId, c.Asset, c.Quantity));

    public Task<CommandResult> BidAsync(BidCommand c) => Session.Commands.BidAsync(new AccountCommand.Bid(c.CommandId, c.Target, c.Asset, c.Quantity, c.MaxPrice));

    public Task<AuctionQuote> AuctionQuoteAsync(string asset) => Task.FromResult(Session.Auctions.Quote(asset));

    public Task<AuctionTakeResult> TakeAtAuctionAsync(AuctionTakeOrder order) => Session.Auctions.TakeAsync(order);

    public Task<ImmutableArray<ModelEvent>> EndExpiredAuctionAsync(string step) => Session.Auctions.EndIfExpiredAsync(step);

    public async Task<PreTradeView> PreTradeAsync(string market, decimal size, decimal price)
    {
        if (!Account.Opened)
        {
            return new PreTradeView(false, RejectReasons.UnknownAccount, null, null);
        }

        await Session.LoadConfigAsync(Session.ConfigVersion); // the silo's copy, no older than ConfigMaxAge
        var config = Session.Config;
        await Session.Markets.RefreshAsync([.. Account.PricedBy(config).Append(market).Where(m => config.TryGetMarket(m, out _)).Distinct()]);
        var result = AccountRules.PreTrade(Account.Holdings, market, size, price, Session.Marks, config);
        return new PreTradeView(result.Allowed, result.Reason, result.HealthAfter?.Equity, result.HealthAfter?.InitialMargin);
    }

    public Task<LiquidationCharge?> BeginLiquidationAsync(LiquidationOrder order) => Session.Liquidations.BeginAsync(order);

    public async Task<ImmutableArray<GridEvent>> CompleteLiquidationAsync(string liquidationId, BankruptcyCoverView? cover)
    {
        var events = await Session.Liquidations.CompleteAsync(liquidationId, cover);
        await Session.Steps.RebandAsync();
        return events;
    }

    public async Task ApplyAdlAsync(string adlId, AdlOrder close)
    {
        if (await Session.Liquidations.ApplyAdlAsync(adlId, close))
        {
            await Session.Steps.RebandAsync();
        }
    }

    public Task<AccountSnapshot?> SnapshotAsync() => Task.FromResult(Account.Opened ? Session.Snapshot() : null);

    public async Task<AccountView?> GetViewAsync()
    {
        if (!Account.Opened)
        {
            return null;
        }

        await Session.Markets.RefreshAsync(Account.PricedBy(Session.Config));
        return Account.ToView(Session.Marks, Session.Config);
    }

    public Task<ImmutableArray<GridEvent>> GetRecentEventsAsync() => Task.FromResult(Session.Recent.ToImmutableArray());
}
