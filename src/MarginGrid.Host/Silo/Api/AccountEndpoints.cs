using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Security;
using Microsoft.Extensions.Options;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// Accounts: open, deposits, withdrawals, fills (each with a client command id) — the venue's (matching engine, wallet
/// service) — the pre-trade check (traders on their own accounts, and the venue), the view and the recent events.
/// Requests are checked against the configuration and its bounds first, so bad input never reaches the account.
/// Every command that reaches an account is recorded in the audit trail with its result; a command waits while the
/// audit trail is behind (back-pressure) and answers 503 if it stays behind.
/// </summary>
public static class AccountEndpoints
{
    public static void Map(RouteGroupBuilder mutating, RouteGroupBuilder reading)
    {
        var commands = mutating.MapGroup("/accounts/{id}").RequireApiRole(ApiRole.Venue)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        commands.MapPost("", OpenAsync).Accepts<OpenAccountBody>("application/json").Produces(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        commands.MapPost("/deposits", (string id, HttpRequest r, IGrainFactory g, ConfigLookup c, AuditTrail a, IGridObserver o, CancellationToken ct) =>
                TransferAsync(id, r, g, c, a, o, deposit: true, ct))
            .Accepts<TransferBody>("application/json").Produces<CommandResultBody>()
            .ProducesProblem(StatusCodes.Status409Conflict);
        commands.MapPost("/withdrawals", (string id, HttpRequest r, IGrainFactory g, ConfigLookup c, AuditTrail a, IGridObserver o, CancellationToken ct) =>
                TransferAsync(id, r, g, c, a, o, deposit: false, ct))
            .Accepts<TransferBody>("application/json").Produces<CommandResultBody>()
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        commands.MapPost("/fills", FillAsync)
            .Accepts<FillBody>("application/json").Produces<CommandResultBody>()
            .ProducesProblem(StatusCodes.Status409Conflict);
        mutating.MapPost("/accounts/{id}/pre-trade", PreTradeAsync).RequireApiRole(ApiRole.Trader, ApiRole.Venue)
            .Accepts<PreTradeBody>("application/json").Produces<PreTradeView>()
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound);

        var views = reading.MapGroup("/accounts/{id}").RequireApiRole(ApiRole.Reader, ApiRole.Trader, ApiRole.Venue, ApiRole.Liquidator)
            .ProducesProblem(StatusCodes.Status404NotFound);
        views.MapGet("", async (string id, IGrainFactory grains, IOptions<GridOptions> options, RiskConfigProvider configs) =>
                await grains.GetGrain<IAccountGrain>(id).GetViewAsync() is { } view
                    ? Results.Ok(await new AdlRanks(grains, options.Value, configs).WithQuantilesAsync(view)) // v3: each position's ADL rank
                    : Problems.NotFound($"unknown account '{id}'"))
            .Produces<AccountView>();
        views.MapGet("/events", async (string id, IGrainFactory grains, IOptions<GridOptions> options) =>
            {
                var account = grains.GetGrain<IAccountGrain>(id);
                if (!await account.ExistsAsync())
                {
                    return Problems.NotFound($"unknown account '{id}'");
                }

                // Its own events and those other accounts' steps emitted about it (v3: adl closes as a counterparty), in time order.
                var own = await account.GetRecentEventsAsync();
                var handed = await grains.GetGrain<IAccountInboxGrain>(id).GetAsync();
                var recent = handed.IsEmpty ? own : [.. own.Concat(handed).OrderBy(e => e.Timestamp).TakeLast(options.Value.RecentEvents)];
                return Results.Ok(EventBody.From(recent));
            })
            .Produces<ImmutableArray<EventBody>>();
    }

    private static async Task<IResult> OpenAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, AuditTrail audit, ApiKeys keys,
        CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<OpenAccountBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (body.AllowUnhealthy && keys.Enabled
            && (request.HttpContext.Items[ApiRoleFilter.KeyItem] as ApiKey)?.Role != ApiRole.Admin)
        {
            return Problems.Problem(StatusCodes.Status403Forbidden, "Forbidden",
                "allowUnhealthy: only an admin key may open an account that is not initial-margin healthy",
                new Dictionary<string, object?> { ["field"] = "allowUnhealthy" });
        }

        var view = await configs.GetViewAsync();
        if (view is null)
        {
            return Problems.Conflict("no risk configuration has been set yet");
        }

        var config = view.Config;
        var collateral = body.Collateral ?? ImmutableDictionary<string, decimal>.Empty;
        foreach (var (asset, quantity) in collateral.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            var field = $"collateral.{(Identifiers.IsValidSymbol(asset) ? asset : "<asset>")}";
            if (Identifiers.WhyNotSymbol(asset) is { } badAsset)
            {
                return Problems.Invalid(field, badAsset);
            }

            if (!config.IsPricedAsset(asset))
            {
                return Problems.Invalid(field, $"unknown asset '{asset}'");
            }

            if (quantity < 0m && asset != Assets.Usd)
            {
                return Problems.Invalid(field, $"must not be negative, got {quantity}");
            }

            if (Limits.CheckQuantity(view.MaxQuantityOf(asset), quantity, field, allowNegative: true) is { } tooBig)
            {
                return Problems.Invalid(tooBig);
            }
        }

        var positions = body.Positions ?? [];
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < positions.Length; i++)
        {
            var position = positions[i];
            if (Identifiers.WhyNotSymbol(position.Market) is { } badMarket)
            {
                return Problems.Invalid($"positions[{i}].market", badMarket);
            }

            if (!config.TryGetMarket(position.Market, out _))
            {
                return Problems.Invalid($"positions[{i}].market", $"unknown market '{position.Market}'", StatusCodes.Status404NotFound);
            }

            if (!seen.Add(position.Market))
            {
                return Problems.Invalid($"positions[{i}].market", $"a second position in '{position.Market}'");
            }

            if (Limits.CheckTrade(view.LimitsOf(position.Market), position.Size, position.EntryPrice,
                    $"positions[{i}].size", $"positions[{i}].entryPrice") is { } badPosition)
            {
                return Problems.Invalid(badPosition);
            }
        }

        // An account is evaluated at marks from the start: every market that its positions or its collateral depend on
        // must have a price before it can open there (otherwise it would open, but its view could not be answered).
        var dependsOn = positions.Select(p => p.Market)
            .Concat(collateral.Where(c => c.Value > 0m).Select(c => config.TryGetCollateral(c.Key, out var spec) ? spec.PriceMarket : null).OfType<string>())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var marks = new MarkBook();
        var unpriced = new List<string>();
        foreach (var market in dependsOn)
        {
            if (await grains.GetGrain<IMarketGrain>(market).GetMarkAsync() is { } mark)
            {
                marks.Set(market, mark.Price);
            }
            else
            {
                unpriced.Add(market);
            }
        }

        if (unpriced.Count > 0)
        {
            return Problems.Conflict($"no price yet for {string.Join(", ", unpriced)}: publish one before opening accounts that depend on it");
        }

        var seed = new AccountSeed(collateral, [.. positions.Select(p => new PositionSnapshot(p.Market, p.Size, p.EntryPrice))]);

        // Opening is not a fact like a fill: an account that would not be initial-margin healthy at the current marks
        // is refused unless an admin asks for it (a migration of accounts as they are).
        var health = MarginCalculator.Evaluate(seed.ToPortfolio(), marks, config);
        if (!body.AllowUnhealthy && (health.Equity < health.InitialMargin || health.Status != AccountStatus.Healthy))
        {
            return Problems.Problem(StatusCodes.Status422UnprocessableEntity, "Account not initial-margin healthy",
                $"at the current marks the account would have equity {health.Equity} against an initial margin of "
                + $"{health.InitialMargin} (status {health.Status}); an admin may open it with \"allowUnhealthy\": true",
                new Dictionary<string, object?>
                {
                    ["equity"] = health.Equity,
                    ["initialMargin"] = health.InitialMargin,
                    ["maintenanceMargin"] = health.MaintenanceMargin,
                });
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        if (await account.ExistsAsync())
        {
            return Problems.Conflict($"account '{id}' is already open");
        }

        await audit.WaitForRoomAsync(cancellationToken);
        await account.OpenAsync(seed);
        var opened = await account.GetViewAsync();
        audit.Open(id, new { request = body, result = new { opened = true } }, opened?.Version); // also in the account's audit outbox
        return Results.Created($"/v1/accounts/{Uri.EscapeDataString(id)}", opened);
    }

    private static async Task<IResult> TransferAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, AuditTrail audit, IGridObserver observer,
        bool deposit, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<TransferBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (Identifiers.WhyNotId(body.CommandId) is { } badId)
        {
            return Problems.Invalid("commandId", badId);
        }

        if (Identifiers.WhyNotSymbol(body.Asset) is { } badAsset)
        {
            return Problems.Invalid("asset", badAsset);
        }

        var config = await configs.GetViewAsync();
        if (config is null || !config.Config.IsPricedAsset(body.Asset))
        {
            return Problems.Invalid("asset", $"unknown asset '{body.Asset}'");
        }

        if (Limits.CheckQuantity(config.MaxQuantityOf(body.Asset), body.Quantity, "quantity") is { } badQuantity)
        {
            return Problems.Invalid(badQuantity);
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        var command = new TransferCommand(body.CommandId, body.Asset, body.Quantity);
        return await RunAsync(
            id, account, audit, observer, deposit ? "deposit" : "withdrawal", body, null,
            () => deposit ? account.DepositAsync(command) : account.WithdrawAsync(command), cancellationToken);
    }

    private static async Task<IResult> FillAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, AuditTrail audit, IGridObserver observer,
        CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<FillBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (Identifiers.WhyNotId(body.CommandId) is { } badId)
        {
            return Problems.Invalid("commandId", badId);
        }

        if (await CheckTradeAsync(configs, body.Market, body.Size, body.Price) is { } badTrade)
        {
            return badTrade;
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        return await RunAsync(
            id, account, audit, observer, "fill", body, body.Market,
            () => account.FillAsync(new FillCommand(body.CommandId, body.Market, body.Size, body.Price)), cancellationToken);
    }

    private static async Task<IResult> PreTradeAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<PreTradeBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (await CheckTradeAsync(configs, body.Market, body.Size, body.Price) is { } badTrade)
        {
            return badTrade;
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        if (!await account.ExistsAsync())
        {
            return Problems.NotFound($"unknown account '{id}'");
        }

        return Results.Ok(await account.PreTradeAsync(body.Market, body.Size, body.Price));
    }

    /// <summary>A fill or pre-trade: a known market (404 otherwise), a size and price within its bounds.</summary>
    private static async Task<IResult?> CheckTradeAsync(ConfigLookup configs, string market, decimal size, decimal price)
    {
        if (Identifiers.WhyNotSymbol(market) is { } badMarket)
        {
            return Problems.Invalid("market", badMarket);
        }

        var config = await configs.GetViewAsync();
        if (config is null || !config.Config.TryGetMarket(market, out _))
        {
            return Problems.Invalid("market", $"unknown market '{market}'", StatusCodes.Status404NotFound);
        }

        return Limits.CheckTrade(config.LimitsOf(market), size, price, "size", "price") is { } bad ? Problems.Invalid(bad) : null;
    }

    /// <summary>
    /// Runs a command on an open account: its result, a rejection's problem, or 409 for a reused command id; each
    /// recorded in the audit trail.
    /// </summary>
    internal static async Task<IResult> RunAsync(
        string id, IAccountGrain account, AuditTrail audit, IGridObserver observer, string type, object body, string? market,
        Func<Task<CommandResult>> command, CancellationToken cancellationToken, Func<CommandResult, IResult>? rejected = null)
    {
        if (!await account.ExistsAsync())
        {
            return Problems.NotFound($"unknown account '{id}'");
        }

        await audit.WaitForRoomAsync(cancellationToken);
        try
        {
            var result = await command();
            audit.Command(type, id, body, result, market);
            return result.Accepted ? Results.Ok(CommandResultBody.From(result)) : rejected is not null ? rejected(result) : Problems.Rejected(result, type);
        }
        catch (CommandConflictException e)
        {
            audit.Command(type, id, new { request = body, result = new { conflict = true, reason = e.Message } }, market: market);
            return Problems.Problem(StatusCodes.Status409Conflict, "Command id reused", e.Message,
                new Dictionary<string, object?> { ["commandId"] = e.CommandId });
        }
        catch (Exception e) when (e is not OperationCanceledException && Problems.IsUnavailable(e))
        {
            // Storage or the cluster is away: answered here rather than through the exception handler, so the client
            // always gets the 503 problem with Retry-After; it retries with the same id (applied exactly once).
            observer.Command(type, "error");
            return Problems.Unavailable();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The client gets a 5xx from the exception handler; the outcome is unknown to it: it retries with the same id.
            observer.Command(type, "error");
            throw;
        }
    }
}
