using System.Collections.Immutable;
using MarginGrid.Domain;
using MarginGrid.Grains;
using MarginGrid.Host.Silo.Audit;
using MarginGrid.Host.Silo.Security;

namespace MarginGrid.Host.Silo.Api;

/// <summary>
/// Accounts: open, deposits, withdrawals, fills (each with a client command id), the pre-trade check, the view and
/// the recent events. Requests are checked against the configuration first, so bad input never reaches the account.
/// Every command that reaches an account is recorded in the audit trail with its result.
/// </summary>
public static class AccountEndpoints
{
    public static void Map(RouteGroupBuilder mutating, RouteGroupBuilder reading)
    {
        var commands = mutating.MapGroup("/accounts/{id}").RequireApiRole(ApiRole.Trader)
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        commands.MapPost("", OpenAsync).Accepts<OpenAccountBody>("application/json").Produces(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status409Conflict);
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
            .ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status422UnprocessableEntity);
        commands.MapPost("/pre-trade", PreTradeAsync).Accepts<PreTradeBody>("application/json").Produces<PreTradeView>();

        var views = reading.MapGroup("/accounts/{id}").RequireApiRole(ApiRole.Reader, ApiRole.Trader)
            .ProducesProblem(StatusCodes.Status404NotFound);
        views.MapGet("", async (string id, IGrainFactory grains) =>
                await grains.GetGrain<IAccountGrain>(id).GetViewAsync() is { } view
                    ? Results.Ok(view)
                    : Problems.NotFound($"unknown account '{id}'"))
            .Produces<AccountView>();
        views.MapGet("/events", async (string id, IGrainFactory grains) =>
            {
                var account = grains.GetGrain<IAccountGrain>(id);
                return await account.ExistsAsync()
                    ? Results.Ok(EventBody.From(await account.GetRecentEventsAsync()))
                    : Problems.NotFound($"unknown account '{id}'");
            })
            .Produces<ImmutableArray<EventBody>>();
    }

    private static async Task<IResult> OpenAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, AuditTrail audit, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<OpenAccountBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        var config = await configs.GetAsync();
        if (config is null)
        {
            return Problems.Conflict("no risk configuration has been set yet");
        }

        var collateral = body.Collateral ?? ImmutableDictionary<string, decimal>.Empty;
        foreach (var (asset, quantity) in collateral)
        {
            if (!config.IsPricedAsset(asset))
            {
                return Problems.BadRequest($"collateral.{asset}: unknown asset '{asset}'");
            }

            if (quantity < 0m && asset != Assets.Usd)
            {
                return Problems.BadRequest($"collateral.{asset}: must not be negative, got {quantity}");
            }
        }

        var positions = body.Positions ?? [];
        foreach (var position in positions)
        {
            if (!config.TryGetMarket(position.Market, out _))
            {
                return Problems.NotFound($"positions: unknown market '{position.Market}'");
            }

            if (position.EntryPrice <= 0m || position.Size == 0m)
            {
                return Problems.BadRequest($"positions.{position.Market}: size must be non-zero and entryPrice positive");
            }
        }

        // An account is evaluated at marks from the start: every market that its positions or its collateral depend on
        // must have a price before it can open there (otherwise it would open, but its view could not be answered).
        var dependsOn = positions.Select(p => p.Market)
            .Concat(collateral.Where(c => c.Value > 0m).Select(c => config.TryGetCollateral(c.Key, out var spec) ? spec.PriceMarket : null).OfType<string>())
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        var unpriced = new List<string>();
        foreach (var market in dependsOn)
        {
            if (await grains.GetGrain<IMarketGrain>(market).GetMarkAsync() is null)
            {
                unpriced.Add(market);
            }
        }

        if (unpriced.Count > 0)
        {
            return Problems.Conflict($"no price yet for {string.Join(", ", unpriced)}: publish one before opening accounts that depend on it");
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        if (await account.ExistsAsync())
        {
            return Problems.Conflict($"account '{id}' is already open");
        }

        await account.OpenAsync(new AccountSeed(
            collateral, [.. positions.Select(p => new PositionSnapshot(p.Market, p.Size, p.EntryPrice))]));
        var view = await account.GetViewAsync();
        audit.Command("open", id, new { request = body, result = new { opened = true } }, view?.Version);
        return Results.Created($"/v1/accounts/{Uri.EscapeDataString(id)}", view);
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

        if (CheckCommandId(body.CommandId) is { } badId)
        {
            return badId;
        }

        if (body.Quantity <= 0m)
        {
            return Problems.BadRequest($"quantity must be positive, got {body.Quantity}");
        }

        var config = await configs.GetAsync();
        if (config is null || !config.IsPricedAsset(body.Asset))
        {
            return Problems.BadRequest($"asset: unknown asset '{body.Asset}'");
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        var command = new TransferCommand(body.CommandId, body.Asset, body.Quantity);
        return await RunAsync(
            id, account, audit, observer, deposit ? "deposit" : "withdrawal", body, null,
            () => deposit ? account.DepositAsync(command) : account.WithdrawAsync(command));
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

        if (CheckCommandId(body.CommandId) is { } badId)
        {
            return badId;
        }

        if (CheckTrade(body.Size, body.Price) is { } badTrade)
        {
            return badTrade;
        }

        var config = await configs.GetAsync();
        if (config is null || !config.TryGetMarket(body.Market, out _))
        {
            return Problems.NotFound($"market: unknown market '{body.Market}'");
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        return await RunAsync(
            id, account, audit, observer, "fill", body, body.Market,
            () => account.FillAsync(new FillCommand(body.CommandId, body.Market, body.Size, body.Price)));
    }

    private static async Task<IResult> PreTradeAsync(
        string id, HttpRequest request, IGrainFactory grains, ConfigLookup configs, CancellationToken cancellationToken)
    {
        var (body, error) = await JsonBody.ReadAsync<PreTradeBody>(request, cancellationToken);
        if (body is null)
        {
            return error!;
        }

        if (CheckTrade(body.Size, body.Price) is { } badTrade)
        {
            return badTrade;
        }

        var config = await configs.GetAsync();
        if (config is null || !config.TryGetMarket(body.Market, out _))
        {
            return Problems.NotFound($"market: unknown market '{body.Market}'");
        }

        var account = grains.GetGrain<IAccountGrain>(id);
        if (!await account.ExistsAsync())
        {
            return Problems.NotFound($"unknown account '{id}'");
        }

        return Results.Ok(await account.PreTradeAsync(body.Market, body.Size, body.Price));
    }

    /// <summary>
    /// Runs a command on an open account: its result, a rejection's problem, or 409 for a reused command id; each
    /// recorded in the audit trail.
    /// </summary>
    private static async Task<IResult> RunAsync(
        string id, IAccountGrain account, AuditTrail audit, IGridObserver observer, string type, object body, string? market,
        Func<Task<CommandResult>> command)
    {
        if (!await account.ExistsAsync())
        {
            return Problems.NotFound($"unknown account '{id}'");
        }

        try
        {
            var result = await command();
            audit.Command(type, id, body, result, market);
            return result.Accepted ? Results.Ok(CommandResultBody.From(result)) : Problems.Rejected(result);
        }
        catch (CommandConflictException e)
        {
            audit.Command(type, id, new { request = body, result = new { conflict = true, reason = e.Message } }, market: market);
            return Problems.Problem(StatusCodes.Status409Conflict, "Command id reused", e.Message,
                new Dictionary<string, object?> { ["commandId"] = e.CommandId });
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The client gets a 5xx from the exception handler; the outcome is unknown to it: it retries with the same id.
            observer.Command(type, "error");
            throw;
        }
    }

    private static IResult? CheckCommandId(string commandId) =>
        string.IsNullOrWhiteSpace(commandId) || commandId.Length > 128
            ? Problems.BadRequest("commandId must be a non-empty string of at most 128 characters")
            : null;

    private static IResult? CheckTrade(decimal size, decimal price) =>
        size == 0m
            ? Problems.BadRequest("size must not be zero (positive buys, negative sells)")
            : price <= 0m
                ? Problems.BadRequest($"price must be positive, got {price}")
                : null;
}
