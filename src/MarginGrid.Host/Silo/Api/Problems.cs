using MarginGrid.Domain;

namespace MarginGrid.Host.Silo.Api;

/// <summary>RFC 7807 problem details for every error the API returns.</summary>
public static class Problems
{
    public static IResult BadRequest(string detail) => Problem(StatusCodes.Status400BadRequest, "Bad request", detail);

    public static IResult NotFound(string detail) => Problem(StatusCodes.Status404NotFound, "Not found", detail);

    public static IResult Conflict(string detail) => Problem(StatusCodes.Status409Conflict, "Conflict", detail);

    public static IResult Problem(int status, string title, string detail, IDictionary<string, object?>? extensions = null) =>
        Results.Problem(detail: detail, statusCode: status, title: title, extensions: extensions);

    /// <summary>A rejected command: 422 when the account cannot afford it, 404 for an unknown account, 400 otherwise.</summary>
    public static IResult Rejected(CommandResult result)
    {
        var status = result.Reason switch
        {
            RejectReasons.InitialMargin or RejectReasons.InsufficientBalance => StatusCodes.Status422UnprocessableEntity,
            RejectReasons.UnknownAccount => StatusCodes.Status404NotFound,
            _ => StatusCodes.Status400BadRequest,
        };
        return Problem(status, "Command rejected", $"command '{result.CommandId}' was rejected: {result.Reason}",
            new Dictionary<string, object?>
            {
                ["commandId"] = result.CommandId,
                ["reason"] = result.Reason,
                ["duplicate"] = result.Duplicate,
            });
    }
}
