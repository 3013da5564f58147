using System.Data.Common;
using System.Net.Sockets;
using MarginGrid.Domain;
using Microsoft.AspNetCore.Diagnostics;
using Orleans.Storage;

namespace MarginGrid.Host.Silo.Api;

/// <summary>RFC 7807 problem details for every error the API returns.</summary>
public static class Problems
{
    /// <summary>Seconds a client is asked to wait (<c>Retry-After</c>) before retrying after a 503.</summary>
    public const int RetryAfterSeconds = 1;

    private const string UnavailableDetail =
        "A dependency of the grid (PostgreSQL or another cluster node) is unavailable. The request may or may not have "
        + "taken effect: retry it with the same commandId, which applies it at most once.";

    /// <summary>A request whose <paramref name="field"/> is invalid: the detail names the field, as does the <c>field</c> member.</summary>
    public static IResult Invalid(string field, string reason, int status = StatusCodes.Status400BadRequest) =>
        Problem(status, status == StatusCodes.Status400BadRequest ? "Bad request" : ReasonPhrase(status), $"{field}: {reason}",
            new Dictionary<string, object?> { ["field"] = field });

    public static IResult Invalid((string Field, string Reason) error, int status = StatusCodes.Status400BadRequest) =>
        Invalid(error.Field, error.Reason, status);

    private static string ReasonPhrase(int status) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status);

    public static IResult BadRequest(string detail) => Problem(StatusCodes.Status400BadRequest, "Bad request", detail);

    public static IResult NotFound(string detail) => Problem(StatusCodes.Status404NotFound, "Not found", detail);

    public static IResult Conflict(string detail) => Problem(StatusCodes.Status409Conflict, "Conflict", detail);

    /// <summary>503 with <c>Retry-After</c>: storage or the cluster is away; the command was not applied or is safe to retry.</summary>
    public static IResult Unavailable() => new RetryAfter(Problem(StatusCodes.Status503ServiceUnavailable, "Service unavailable", UnavailableDetail));

    private sealed class RetryAfter(IResult problem) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return problem.ExecuteAsync(httpContext);
        }
    }

    public static IResult Problem(int status, string title, string detail, IDictionary<string, object?>? extensions = null) =>
        Results.Problem(detail: detail, statusCode: status, title: title, extensions: extensions);

    /// <summary>
    /// A rejected command: 422 when the account cannot afford it or its result would exceed a limit (the
    /// problem's <c>field</c> then names the request field: <c>size</c> or <c>price</c> of a fill, <c>quantity</c> of a
    /// deposit or withdrawal), 404 for an unknown account, 400 otherwise. <paramref name="type"/>: <c>fill</c>,
    /// <c>deposit</c> or <c>withdrawal</c>.
    /// </summary>
    public static IResult Rejected(CommandResult result, string? type) => Rejected(result, type, result.Reason switch
    {
        RejectReasons.InitialMargin or RejectReasons.InsufficientBalance => StatusCodes.Status422UnprocessableEntity,
        _ when RejectReasons.IsLimit(result.Reason) => StatusCodes.Status422UnprocessableEntity,
        RejectReasons.UnknownAccount => StatusCodes.Status404NotFound,
        _ => StatusCodes.Status400BadRequest,
    });

    /// <summary>
    /// A rejected bid: 409 when there is no running auction of the asset (it never started, or it has just ended), 422
    /// when the price is above the bid's maximum or the liquidator cannot afford it, 404 for an unknown account.
    /// </summary>
    public static IResult RejectedBid(CommandResult result) => Rejected(result, "bid", result.Reason switch
    {
        DutchAuction.NoRunningAuction => StatusCodes.Status409Conflict,
        DutchAuction.PriceAboveMaximum or RejectReasons.InitialMargin or RejectReasons.InsufficientBalance => StatusCodes.Status422UnprocessableEntity,
        _ when RejectReasons.IsLimit(result.Reason) => StatusCodes.Status422UnprocessableEntity,
        RejectReasons.UnknownAccount => StatusCodes.Status404NotFound,
        _ => StatusCodes.Status400BadRequest,
    });

    private static IResult Rejected(CommandResult result, string? type, int status)
    {
        var field = !RejectReasons.IsLimit(result.Reason) ? null
            : type != "fill" ? "quantity"
            : result.Reason == RejectReasons.MaxPrice ? "price"
            : "size";
        var extensions = new Dictionary<string, object?>
        {
            ["commandId"] = result.CommandId,
            ["reason"] = result.Reason,
            ["duplicate"] = result.Duplicate,
        };
        var detail = $"command '{result.CommandId}' was rejected: {result.Reason}";
        if (field is not null)
        {
            extensions["field"] = field;
            detail = $"{field}: {detail}";
        }

        return Problem(status, "Command rejected", detail, extensions);
    }

    /// <summary>
    /// Maps unhandled exceptions to problem details: 503 Service Unavailable (with <c>Retry-After</c>) when storage or
    /// the cluster failed, 500 for anything else. Call after <c>AddProblemDetails</c>; <c>UseExceptionHandler()</c>
    /// then answers with these.
    /// </summary>
    public static IServiceCollection AddUnavailableProblems(this IServiceCollection services)
    {
        services.Configure<ExceptionHandlerOptions>(o => o.StatusCodeSelector = e =>
            IsUnavailable(e) ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError);
        services.Configure<ProblemDetailsOptions>(o =>
        {
            var previous = o.CustomizeProblemDetails;
            o.CustomizeProblemDetails = context =>
            {
                previous?.Invoke(context);
                if (context.Exception is { } e && IsUnavailable(e))
                {
                    context.ProblemDetails.Title = "Service unavailable";
                    context.ProblemDetails.Detail = UnavailableDetail;
                    context.HttpContext.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                }
            };
        });
        return services;
    }

    /// <summary>
    /// The SQLSTATE of <paramref name="exception"/>. An exception that crossed silos (a storage failure on the grain's
    /// silo, answered to the silo that called it) is rebuilt by Orleans' exception codec without Npgsql's own fields:
    /// its <see cref="Npgsql.PostgresException.SqlState"/> is null, and only its message ("57P01: terminating
    /// connection ...") still says it. Null when neither does.
    /// </summary>
    internal static string? SqlStateOf(Npgsql.PostgresException exception)
    {
        if (exception.SqlState is { Length: 5 } state)
        {
            return state;
        }

        var message = exception.Message;
        return message is { Length: > 6 } && message[5] == ':' && message[..5].All(char.IsAsciiLetterOrDigit) ? message[..5] : null;
    }

    /// <summary>
    /// True when <paramref name="exception"/> (or one of its inner exceptions) says that PostgreSQL or a cluster node
    /// could not be reached, or that a write was fenced by a newer activation: transient failures, worth a retry.
    /// </summary>
    public static bool IsUnavailable(Exception exception)
    {
        // A statement PostgreSQL refuses for what it holds (a value too long, a constraint, a bad character) fails the
        // same way on every retry: a permanent error (500), never a 503 that invites the client to retry forever.
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // A server shutting down or restarting (class 57P: admin_shutdown, crash_shutdown, cannot_connect_now), a lost
            // connection (08) or exhausted resources (53) is the database being away, however Npgsql classifies it.
            if (e is Npgsql.PostgresException pg && SqlStateOf(pg) is { } state
                && !new Npgsql.PostgresException(pg.MessageText ?? string.Empty, "ERROR", "ERROR", state).IsTransient
                && !state.StartsWith("57P", StringComparison.Ordinal)
                && !state.StartsWith("08", StringComparison.Ordinal)
                && !state.StartsWith("53", StringComparison.Ordinal))
            {
                return false;
            }
        }

        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case DbException or SocketException or TimeoutException:
                case InconsistentStateException: // the ETag fence: another activation wrote first
                case Audit.AuditBackPressureException: // the audit trail is behind: the command was not run
                case OrleansMessageRejectionException: // includes SiloUnavailableException
                case OrleansException when e.Message.StartsWith("Error from storage provider", StringComparison.Ordinal):
                    return true;
            }
        }

        return false;
    }
}
