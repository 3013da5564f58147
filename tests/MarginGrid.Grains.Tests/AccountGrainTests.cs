using MarginGrid.Grains;
using System.Collections.Immutable;
using Orleans.Core.Internal;
using Xunit;

namespace MarginGrid.Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class AccountGrainTests(ClusterFixture fixture)
{
    private readonly IGrainFactory _grains = fixture.Grains;

    private async Task<string> NewMarketAsync(string name, decimal price)
    {
        var symbol = $"{name}-{Guid.NewGuid():N}"[..20];
        await fixture.AddMarketsAsync(ClusterFixture.Market(symbol));
        await PriceAsync(symbol, price);
        return symbol;
    }

    private Task<StepOutcome> PriceAsync(string market, decimal price) =>
        _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(price, "test", ClusterFixture.Time.GetUtcNow()));

    /// <summary>The silo-internal protocol side of an account (ticks, liquidation begin/complete).</summary>
    private IAccountRiskGrain Risk(IAccountGrain account) => _grains.GetGrain<IAccountRiskGrain>(account.GetPrimaryKeyString());

    /// <summary>The coordinator's decision for the account at the current marks, under the given liquidation id.</summary>
    private async Task<LiquidationOrder> OrderAsync(IAccountGrain account, string liquidationId)
    {
        var snapshot = await Risk(account).SnapshotAsync();
        var decision = await _grains.GetGrain<ILiquidationCoordinatorGrain>(0).DecideAsync(liquidationId, snapshot!, 1);
        return decision.Order with { LiquidationId = liquidationId };
    }

    private async Task<IAccountGrain> OpenAsync(string market, decimal usd = 10_000m, decimal size = 2m, decimal entry = 50_000m)
    {
        var account = _grains.GetGrain<IAccountGrain>($"acct-{Guid.NewGuid():N}");
        await account.OpenAsync(ClusterFixture.Seed(usd, new PositionSnapshot(market, size, entry)));
        return account;
    }

    [Fact]
    public async Task A_configuration_change_reaches_commands_on_every_silo_without_a_tick()
    {
        var market = await NewMarketAsync("CFG", 50_000m);
        var account = await OpenAsync(market, usd: 10_000m, size: 0.1m, entry: 50_000m); // IM 2 % of 5,000 = 100

        // The market's initial requirement goes to 50 % (IM 2,500) through the configuration grain alone: no silo is
        // told, and no tick of the market carries the new version to the account.
        var configs = _grains.GetGrain<IRiskConfigGrain>(0);
        var config = await configs.GetAsync();
        await configs.SetAsync(config! with
        {
            Markets = [.. config.Markets.Select(m => m.Symbol == market ? m with { Brackets = [new BracketConfig(0m, 0.25m, 0.5m)] } : m)],
        });

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        PreTradeView view;
        while ((view = await account.PreTradeAsync(market, 0.001m, 50_000m)).InitialMarginAfter is not > 2_000m)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the account still decides with the old configuration: IM after the trade {view.InitialMarginAfter}");
            await Task.Delay(50);
        }

        var withdrawal = await account.WithdrawAsync(new TransferCommand("cfg-w", "USD", 9_000m)); // E 1,000 < IM 2,500
        Assert.False(withdrawal.Accepted);
        Assert.Equal(10_000m, (await account.GetViewAsync())!.Collateral["USD"]);
    }

    [Fact]
    public async Task A_margin_call_is_emitted_once_and_rearms_when_the_account_is_healthy_again()
    {
        var market = await NewMarketAsync("MC", 50_000m);
        var account = await OpenAsync(market);
        var id = account.GetPrimaryKeyString();

        Assert.Empty((await PriceAsync(market, 47_000m)).Events);
        var first = await PriceAsync(market, 45_480m); // E = 960 < 1.25 × 909.6
        var call = Assert.Single(first.Events);
        Assert.Equal((GridEventType.MarginCall, id, RiskStatus.MarginCall), (call.Type, call.Account, call.Status));

        Assert.Empty((await PriceAsync(market, 45_470m)).Events); // still in margin call: no second event
        Assert.Empty((await PriceAsync(market, 47_000m)).Events); // healthy again: re-armed
        var again = Assert.Single((await PriceAsync(market, 45_480m)).Events);
        Assert.Equal(GridEventType.MarginCall, again.Type);

        var history = await account.GetRecentEventsAsync();
        Assert.Equal(2, history.Count(e => e.Type == GridEventType.MarginCall));
    }

    [Fact]
    public async Task A_command_whose_write_fails_is_not_applied_and_its_retry_applies_it_exactly_once()
    {
        var market = await NewMarketAsync("XO", 50_000m);
        var account = await OpenAsync(market);
        var id = account.GetPrimaryKeyString();
        var before = (await account.GetViewAsync())!;

        // The database fails in the middle of the command: the caller gets an error (a 5xx) ...
        FaultyGrainStorage.FailNextWrite(id);
        await Assert.ThrowsAnyAsync<Exception>(() => account.DepositAsync(new TransferCommand("xo-deposit", "USD", 1m)));

        // ... which means "not applied": nothing changed, in memory or in storage.
        var afterFailure = (await account.GetViewAsync())!;
        Assert.Equal(before.Collateral["USD"], afterFailure.Collateral["USD"]);

        // The client retries with the same command id: applied once, recorded; a further retry is a duplicate.
        var retry = await account.DepositAsync(new TransferCommand("xo-deposit", "USD", 1m));
        var again = await account.DepositAsync(new TransferCommand("xo-deposit", "USD", 1m));
        Assert.True(retry.Accepted);
        Assert.False(retry.Duplicate);
        Assert.True(again.Duplicate);
        Assert.Equal(retry.Version, again.Version);
        Assert.Equal(before.Collateral["USD"] + 1m, (await account.GetViewAsync())!.Collateral["USD"]);
    }

    [Fact]
    public async Task A_command_id_is_remembered_by_time_not_by_count()
    {
        var market = await NewMarketAsync("CI", 50_000m);
        var account = await OpenAsync(market);
        var first = await account.DepositAsync(new TransferCommand("ci-0", "USD", 1m));
        for (var i = 1; i <= 300; i++)
        {
            await account.DepositAsync(new TransferCommand($"ci-{i}", "USD", 1m));
        }

        var usd = (await account.GetViewAsync())!.Collateral["USD"];
        var resent = await account.DepositAsync(new TransferCommand("ci-0", "USD", 1m)); // older than 256 commands
        Assert.True(resent.Duplicate);
        Assert.Equal(first.Version, resent.Version);
        Assert.Equal(usd, (await account.GetViewAsync())!.Collateral["USD"]);
    }

    [Fact]
    public async Task A_tick_older_than_the_newest_seen_for_its_market_is_ignored()
    {
        var market = await NewMarketAsync("ST", 50_000m);
        var account = await OpenAsync(market);
        var now = ClusterFixture.Time.GetUtcNow();
        var mark = await _grains.GetGrain<IMarketGrain>(market).GetMarkAsync();

        await Risk(account).OnTickAsync(new MarketTick(market, mark!.Sequence + 10, 51_000m, now, true, 1));
        var stale = await Risk(account).OnTickAsync(new MarketTick(market, mark.Sequence + 5, 40_000m, now, true, 1));

        Assert.Null(stale);
        var view = await account.GetViewAsync();
        Assert.Equal(51_000m, Assert.Single(view!.Positions).Mark);
        Assert.Equal(RiskStatus.Healthy, view.Status);
    }

    [Fact]
    public async Task Repeating_a_command_id_returns_the_first_result_and_changes_nothing()
    {
        var market = await NewMarketAsync("ID", 50_000m);
        var account = await OpenAsync(market);
        var deposit = new TransferCommand("dep-1", "USD", 500m);

        var first = await account.DepositAsync(deposit);
        var second = await account.DepositAsync(deposit);
        var view = await account.GetViewAsync();

        Assert.True(first.Accepted);
        Assert.False(first.Duplicate);
        Assert.True(second.Duplicate);
        Assert.Equal(first.Version, second.Version);
        Assert.Equal(10_500m, view!.Collateral["USD"]);
        await Assert.ThrowsAsync<CommandConflictException>(() => account.DepositAsync(deposit with { Quantity = 600m }));
        Assert.Equal(10_500m, (await account.GetViewAsync())!.Collateral["USD"]);
    }

    [Fact]
    public async Task Commands_for_an_account_that_was_never_opened_are_rejected_and_open_nothing()
    {
        var account = _grains.GetGrain<IAccountGrain>($"ghost-{Guid.NewGuid():N}");

        var result = await account.DepositAsync(new TransferCommand("c1", "USD", 100m));

        Assert.False(result.Accepted);
        Assert.Equal("unknown account", result.Reason);
        Assert.Equal(GridEventType.Rejected, Assert.Single(result.Events).Type);
        Assert.False(await account.ExistsAsync());
        Assert.Null(await account.GetViewAsync());
    }

    [Fact]
    public async Task A_withdrawal_that_would_leave_equity_below_initial_margin_is_rejected_and_changes_nothing()
    {
        var market = await NewMarketAsync("WD", 50_000m);
        var account = await OpenAsync(market, usd: 3_000m, size: 1m); // IM = 1000

        var refused = await account.WithdrawAsync(new TransferCommand("w1", "USD", 2_500m));
        var allowed = await account.WithdrawAsync(new TransferCommand("w2", "USD", 2_000m));

        Assert.Equal((false, "initial margin"), (refused.Accepted, refused.Reason));
        Assert.True(allowed.Accepted);
        Assert.Equal(1_000m, (await account.GetViewAsync())!.Collateral["USD"]);
    }

    [Fact]
    public async Task A_price_reaches_every_holder_and_the_step_orders_margin_calls_by_account_id()
    {
        var market = await NewMarketAsync("FAN", 50_000m);
        var accounts = await Task.WhenAll(Enumerable.Range(0, 60).Select(_ => OpenAsync(market)));

        var outcome = await PriceAsync(market, 45_480m);

        var ids = accounts.Select(a => a.GetPrimaryKeyString()).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(60, outcome.Evaluated);
        Assert.Equal(ids, outcome.Events.Select(e => e.Account).ToList());
        Assert.All(outcome.Events, e => Assert.Equal(GridEventType.MarginCall, e.Type));
    }

    [Fact]
    public async Task A_coordinated_liquidation_is_idempotent_and_charges_the_fund_once()
    {
        var market = await NewMarketAsync("LQ", 50_000m);
        var account = await OpenAsync(market);
        var fund = _grains.GetGrain<IFundLedgerGrain>(0);

        // Move the mark without evaluation, so the account is liquidatable but nobody has liquidated it yet.
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(
            new PriceUpdate(45_440m, "test", ClusterFixture.Time.GetUtcNow()) { Evaluate = false });
        var before = await fund.GetAsync();

        var charge = await Risk(account).BeginLiquidationAsync(await OrderAsync(account, "step-x:a"));
        var retry = await Risk(account).BeginLiquidationAsync(await OrderAsync(account, "step-x:a"));
        Assert.NotNull(charge);
        Assert.Equal(charge, retry);
        Assert.Equal(26.62784m, charge.Income);

        var cover = await fund.ApplyLiquidationsAsync([charge]);
        var coverAgain = await fund.ApplyLiquidationsAsync([charge]);
        var events = await Risk(account).CompleteLiquidationAsync(charge.LiquidationId, cover[0]);
        var eventsAgain = await Risk(account).CompleteLiquidationAsync(charge.LiquidationId, cover[0]);

        var after = await fund.GetAsync();
        Assert.Equal(cover.ToArray(), coverAgain.ToArray());
        Assert.Equal(events.ToArray(), eventsAgain.ToArray());
        var close = Assert.Single(events);
        Assert.Equal((GridEventType.Liquidation, 0.293m, 45_440m, 26.62784m), (close.Type, close.Quantity!.Value, close.Price!.Value, close.Penalty!.Value));
        Assert.Equal(before.InsuranceFund + 26.62784m, after.InsuranceFund);
        Assert.Null(await Risk(account).BeginLiquidationAsync(await OrderAsync(account, "step-x:a"))); // done: nothing to do again
    }

    [Fact]
    public async Task The_fund_remembers_an_unconfirmed_liquidation_however_many_confirmed_ones_follow()
    {
        var fund = _grains.GetGrain<IFundLedgerGrain>(0);
        var unconfirmed = new LiquidationCharge("window:unconfirmed", "window-account", 5m, 0m);
        var first = await fund.ApplyLiquidationsAsync([unconfirmed]);
        var afterFirst = await fund.GetAsync();

        // More liquidations than any count-based window would hold, each confirmed settled by its account.
        for (var batch = 0; batch < 30; batch++)
        {
            var charges = Enumerable.Range(0, 1_000)
                .Select(i => new LiquidationCharge($"window:{batch}:{i}", $"window-{i}", 0m, 0m))
                .ToImmutableArray();
            await fund.ApplyLiquidationsAsync(charges);
            await fund.ForgetSettledAsync([.. charges.Select(c => c.LiquidationId)]);
        }

        // The coordinator died before the account recorded the outcome: the account's retry must not charge twice.
        var retry = await fund.ApplyLiquidationsAsync([unconfirmed]);
        Assert.Equal(first.ToArray(), retry.ToArray());
        Assert.Equal(afterFirst.InsuranceFund, (await fund.GetAsync()).InsuranceFund);

        // Once confirmed, the id is forgotten: the same id would now be a new liquidation (none is ever sent again).
        await fund.ForgetSettledAsync([unconfirmed.LiquidationId]);
        await fund.ApplyLiquidationsAsync([unconfirmed]);
        Assert.Equal(afterFirst.InsuranceFund + 5m, (await fund.GetAsync()).InsuranceFund);
        await fund.ForgetSettledAsync([unconfirmed.LiquidationId]);
    }

    [Fact]
    public async Task A_coordinated_liquidation_the_account_settled_itself_is_not_charged_again_by_the_coordinators_late_batch()
    {
        var market = await NewMarketAsync("LB", 50_000m);
        var account = await OpenAsync(market);
        var fund = _grains.GetGrain<IFundLedgerGrain>(0);
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(
            new PriceUpdate(45_440m, "test", ClusterFixture.Time.GetUtcNow()) { Evaluate = false });
        var before = await fund.GetAsync();

        // The coordinator begins; before its fund batch, a command makes the account settle the liquidation itself.
        var charge = await Risk(account).BeginLiquidationAsync(await OrderAsync(account, "late-batch:a"));
        Assert.NotNull(charge);
        var deposit = await account.DepositAsync(new TransferCommand("late-batch-deposit", "USD", 1m));
        Assert.True(deposit.Accepted);
        Assert.Equal(before.InsuranceFund + charge.Income, (await fund.GetAsync()).InsuranceFund);

        // The coordinator's batch arrives late: the fund must recognise the id and charge nothing more.
        await fund.ApplyLiquidationsAsync([charge]);
        await Risk(account).CompleteLiquidationAsync(charge.LiquidationId, null);
        await fund.ForgetSettledAsync([charge.LiquidationId]);
        Assert.Equal(before.InsuranceFund + charge.Income, (await fund.GetAsync()).InsuranceFund);
    }

    [Fact]
    public async Task Prices_sent_at_once_are_all_answered_by_the_steps_that_included_them()
    {
        var market = await NewMarketAsync("CF", 50_000m);
        var account = await OpenAsync(market);
        var grain = _grains.GetGrain<IMarketGrain>(market);
        var before = await grain.GetMarkAsync();

        // Fifty prices of one source with one timestamp, sent at once: none is superseded on arrival (none is older);
        // those that arrive while a step runs are conflated into the next (how many do depends on timing; the
        // conflation itself is driven deterministically in StepConflatorTests).
        var at = ClusterFixture.Time.GetUtcNow();
        var prices = Enumerable.Range(1, 50).Select(i => 49_000m - (10m * i)).ToList();
        var outcomes = await Task.WhenAll(prices.Select(p => grain.PublishPriceAsync(new PriceUpdate(p, "test", at))));

        var after = await grain.GetMarkAsync();
        var steps = after!.Sequence - before!.Sequence;
        Assert.DoesNotContain(outcomes, o => o.Step.EndsWith("#stale", StringComparison.Ordinal));
        Assert.InRange(steps, 1, prices.Count);
        Assert.Equal(steps, outcomes.Select(o => o.Step).Distinct().Count()); // every caller got the step that included it
        Assert.Contains(after.Price, prices);
        Assert.Equal(RiskStatus.Healthy, (await account.GetViewAsync())!.Status);
    }

    [Fact]
    public async Task A_liquidation_the_coordinator_never_completed_is_settled_by_the_account_after_the_timeout()
    {
        var market = await NewMarketAsync("PD", 50_000m);
        var account = await OpenAsync(market);
        var fund = _grains.GetGrain<IFundLedgerGrain>(0);
        await _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(
            new PriceUpdate(45_440m, "test", ClusterFixture.Time.GetUtcNow()) { Evaluate = false });
        var charge = await Risk(account).BeginLiquidationAsync(await OrderAsync(account, "orphan:a"));
        Assert.NotNull(charge);
        var before = await fund.GetAsync();

        ClusterFixture.Time.Advance(TimeSpan.FromSeconds(31));
        await PriceAsync(market, 45_450m);

        var after = await fund.GetAsync();
        Assert.Equal(before.InsuranceFund + charge.Income, after.InsuranceFund);
        Assert.Contains(await account.GetRecentEventsAsync(), e => e.Step == "orphan:a" && e.Type == GridEventType.Liquidation);
    }

    [Fact]
    public async Task A_tick_inside_the_safe_band_is_decided_without_delivery_yet_views_and_commands_use_the_current_mark()
    {
        var market = await NewMarketAsync("GT", 50_000m);
        var account = await OpenAsync(market); // long 2 @ 50,000 with 10,000 USD: band low ≈ 45,570

        var inside = await PriceAsync(market, 48_000m);
        var view = await account.GetViewAsync();
        var withdrawal = await account.WithdrawAsync(new TransferCommand("gt-w", "USD", 5_000m));

        Assert.Equal((1, 0), (inside.Evaluated, inside.Delivered));
        Assert.Equal(48_000m, Assert.Single(view!.Positions).Mark);
        Assert.Equal(6_000m, view.Equity);
        // At the stale mark (50,000) this would pass (E 5,000 ≥ IM 2,000); at 48,000 it leaves E 1,000 < IM 1,920.
        Assert.Equal((false, "initial margin"), (withdrawal.Accepted, withdrawal.Reason));

        var crossed = await PriceAsync(market, 45_480m);
        Assert.Equal((1, 1), (crossed.Evaluated, crossed.Delivered));
        Assert.Equal(GridEventType.MarginCall, Assert.Single(crossed.Events).Type);
    }

    /// <summary>
    /// An account banded in two markets: the second moves inside its band (no delivery), then the first leaves its band.
    /// The evaluation must value the account at the second market's current mark — fetched from its market grain here (a
    /// cluster), also when that grain was deactivated in between (read back from storage).
    /// Long 2 X @ 50,000 and 20 Y @ 3,000 on 10,000 USD (MMR 1 %, margin call below 1.25 × MM): bands X > ≈ 47,975,
    /// Y > ≈ 2,797.5. At X 47,400 and Y 2,850, E = 1,800 with 1.25 × MM = 1,897.5: a margin call; at the stale Y 3,000,
    /// E = 4,800: healthy.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_tick_values_the_account_at_its_other_markets_current_marks(bool otherMarketReactivated)
    {
        var x = await NewMarketAsync("BX", 50_000m);
        var y = await NewMarketAsync("BY", 3_000m);
        var account = _grains.GetGrain<IAccountGrain>($"acct-{Guid.NewGuid():N}");
        await account.OpenAsync(ClusterFixture.Seed(10_000m, new PositionSnapshot(x, 2m, 50_000m), new PositionSnapshot(y, 20m, 3_000m)));

        var inside = await PriceAsync(y, 2_850m);
        Assert.Equal((1, 0), (inside.Evaluated, inside.Delivered)); // inside Y's band: not delivered
        if (otherMarketReactivated)
        {
            await _grains.GetGrain<IMarketGrain>(y).Cast<IGrainManagementExtension>().DeactivateOnIdle();
        }

        var crossed = await PriceAsync(x, 47_400m);

        Assert.Equal((1, 1), (crossed.Evaluated, crossed.Delivered));
        var call = Assert.Single(crossed.Events);
        Assert.Equal((GridEventType.MarginCall, account.GetPrimaryKeyString()), (call.Type, call.Account));
        Assert.Equal(2_850m, call.Marks![y]);
    }

    [Fact]
    public async Task Events_go_to_the_event_stream()
    {
        var market = await NewMarketAsync("SS", 50_000m);
        var account = await OpenAsync(market);
        var id = account.GetPrimaryKeyString();
        await using var tap = await EventStreamTap.SubscribeAsync(fixture.Cluster.Client, e => e.Account == id);

        await PriceAsync(market, 45_480m);

        var e = (await tap.WaitForAsync(1, "events of the account"))[0];
        Assert.Equal(GridEventType.MarginCall, e.Type);
    }

    [Fact]
    public async Task A_steps_liquidations_all_reach_the_event_stream()
    {
        var market = await NewMarketAsync("SB", 50_000m);
        var accounts = new[] { await OpenAsync(market), await OpenAsync(market, usd: 9_900m), await OpenAsync(market, usd: 9_950m) };
        var ids = accounts.Select(a => a.GetPrimaryKeyString()).ToHashSet(StringComparer.Ordinal);
        await using var tap = await EventStreamTap.SubscribeAsync(fixture.Cluster.Client, e => e.Type == GridEventType.Liquidation && ids.Contains(e.Account));

        var step = await PriceAsync(market, 45_440m); // all three below maintenance: one step liquidates them
        var liquidations = step.Events.Where(e => e.Type == GridEventType.Liquidation && ids.Contains(e.Account)).ToList();
        Assert.Equal(3, liquidations.Select(e => e.Account).Distinct().Count());
        var received = await tap.WaitForAsync(liquidations.Count, "liquidations of the step");

        // Each account publishes its own once its completion is written (in completion order, not the step's).
        Assert.Equal(
            liquidations.Select(e => (e.Account, e.Quantity)).Order(),
            received.Select(e => (e.Account, e.Quantity)).Order());
    }

    private Task<StepOutcome> SilentlyAsync(string market, decimal price) =>
        _grains.GetGrain<IMarketGrain>(market).PublishPriceAsync(new PriceUpdate(price, "test", ClusterFixture.Time.GetUtcNow()) { Evaluate = false });

    /// <summary>
    /// Per-market feed, found by the 100k crash: a step began a liquidation here and its completion is on its way when
    /// another completion (or a tick) re-bands the account; a shard answers with a tick the account had not seen (inside
    /// the band it held for the holdings before the liquidation), and at that mark the account must be liquidated at
    /// once. The pending liquidation is settled first (this threw "unsettled liquidation", failing the market's step).
    /// </summary>
    [Fact]
    public async Task A_late_completion_whose_reband_finds_the_account_liquidatable_settles_the_pending_liquidation_first()
    {
        var x = await NewMarketAsync("LX", 50_000m);
        var y = await NewMarketAsync("LY", 3_000m);
        var account = _grains.GetGrain<IAccountGrain>($"acct-{Guid.NewGuid():N}");
        await account.OpenAsync(ClusterFixture.Seed(10_000m, new PositionSnapshot(x, 2m, 50_000m), new PositionSnapshot(y, 20m, 3_000m)));
        var risk = Risk(account);

        // X falls to 49,000 inside its band (not delivered: the account still knows 50,000); Y's mark moves to 2,650
        // without a step. At (49,000, 2,650), E 1,000 < MM 1,510: a step begins liquidation L1 (closes 1.499 X, to
        // 1.1 × MM), and its completion is on its way.
        Assert.Equal(0, (await PriceAsync(x, 49_000m)).Delivered);
        await SilentlyAsync(y, 2_650m);
        Assert.NotNull(await risk.BeginLiquidationAsync(await OrderAsync(account, "LB#1:a")));

        // X falls on to 48,200, still inside the band the shard holds (computed before L1): not delivered. At
        // (48,200, 2,650), E 452 < MM 772. Another liquidation's completion arrives (one settled here already): it
        // re-bands at the marks the account knows (healthy there), X's shard answers with its newer tick, and the
        // account must be liquidated at once — with L1 not completed.
        Assert.Equal(0, (await PriceAsync(x, 48_200m)).Delivered);
        await risk.CompleteLiquidationAsync("LA#1:a", null);
        var recent = await account.GetRecentEventsAsync();
        Assert.Contains(recent, e => e.Type == GridEventType.Liquidation && e.Step.EndsWith("/self/liquidation", StringComparison.Ordinal));

        // L1's own completion arrives last: already settled here, nothing applied twice.
        var fund = await _grains.GetGrain<IFundLedgerGrain>(0).GetAsync();
        await risk.CompleteLiquidationAsync("LB#1:a", null);
        Assert.Equal(fund.InsuranceFund, (await _grains.GetGrain<IFundLedgerGrain>(0).GetAsync()).InsuranceFund);
        Assert.Equal(recent.Length, (await account.GetRecentEventsAsync()).Length);
    }

    /// <summary>
    /// v2: an account that a step would liquidate while it holds a position in a stale market is deferred — its
    /// <c>liquidation_deferred</c> is one of the step's events, and like the step's liquidations it reaches the event stream.
    /// </summary>
    [Fact]
    public async Task A_stale_deferral_reaches_the_event_stream_like_the_steps_liquidations()
    {
        var stale = $"ST-{Guid.NewGuid():N}"[..20];
        await fixture.AddMarketsAsync(ClusterFixture.Market(stale) with { Oracle = new OracleConfig(MaxAge: 10m, null, null, null) });
        await PriceAsync(stale, 3_000m);
        var market = await NewMarketAsync("SD", 50_000m);
        var account = _grains.GetGrain<IAccountGrain>($"acct-{Guid.NewGuid():N}");
        var id = account.GetPrimaryKeyString();
        await account.OpenAsync(ClusterFixture.Seed(10_000m, new PositionSnapshot(market, 2m, 50_000m), new PositionSnapshot(stale, 1m, 3_000m)));
        await using var tap = await EventStreamTap.SubscribeAsync(fixture.Cluster.Client, e => e.Account == id && e.Type == GridEventType.LiquidationDeferred);

        ClusterFixture.Time.Advance(TimeSpan.FromSeconds(11)); // the stale market's only source is now older than its maxAge
        var step = await PriceAsync(market, 45_440m); // E 880 < MM 938.8: liquidatable, but it holds the stale market

        var deferred = Assert.Single(step.Events, e => e.Account == id && e.Type == GridEventType.LiquidationDeferred);
        var streamed = (await tap.WaitForAsync(1, "deferrals of the account"))[0];
        Assert.Equal((deferred.Step, deferred.Reason), (streamed.Step, streamed.Reason));
    }
}
