using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using MarginGrid.Host.Silo.Api;

namespace MarginGrid.Host.Silo.Security;

/// <summary>
/// Who may do what. <c>Admin</c> configures (and may do everything, including opening unhealthy accounts for
/// migrations); <c>Venue</c> (the matching engine, the wallet service) opens accounts and posts fills, deposits and
/// withdrawals; <c>Feed</c> posts prices; <c>Trader</c> reads its own accounts and runs pre-trade checks, nothing that
/// moves money; <c>Reader</c> reads everything; <c>Liquidator</c> (an external liquidator's bot) lists the running
/// Dutch auctions, follows their events and bids on them with its own liquidator account(s) (<c>Accounts</c>).
/// </summary>
public enum ApiRole
{
    Feed,
    Trader,
    Admin,
    Reader,
    Venue,
    Liquidator,
}

/// <summary>
/// A configured API key: its name, role and, for a trader or a liquidator, the accounts it may act on. Only the SHA-256 of the key is
/// ever configured.
/// </summary>
public sealed record ApiKey(string Name, ApiRole Role)
{
    /// <summary>Account ids (exact) or prefix patterns ending in <c>*</c> (<c>acct-7*</c>; <c>*</c> is every account).</summary>
    public IReadOnlyList<string> Accounts { get; init; } = [];

    /// <summary>Whether this key may act on <paramref name="accountId"/>: admins always, traders on their own accounts.</summary>
    public bool MayActOn(string accountId) =>
        Role == ApiRole.Admin
        || Accounts.Any(p => p.EndsWith('*')
            ? accountId.StartsWith(p[..^1], StringComparison.Ordinal)
            : string.Equals(p, accountId, StringComparison.Ordinal));
}

/// <summary>
/// API keys from <c>MarginGrid:ApiKeys:&lt;name&gt;:Hash</c> (SHA-256 hex of the key), <c>:Role</c> and, for traders and
/// liquidators (who must have one), <c>:Accounts</c> (one pattern, or a list of them), sent in <c>X-Api-Key</c> or as <c>Authorization: Bearer</c>.
/// With no keys configured every request is allowed (embedded development mode).
/// </summary>
public sealed class ApiKeys
{
    public const string Header = "X-Api-Key";
    public const string Section = "MarginGrid:ApiKeys";

    private const string BearerPrefix = "Bearer ";

    /// <summary>
    /// The settings of one key that the silo reads (<c>MarginGrid:ApiKeys:&lt;name&gt;:&lt;setting&gt;</c>;
    /// <c>Accounts</c> may be a list, <c>Accounts:0</c>, <c>Accounts:1</c>, …). Any other setting — a plaintext
    /// <c>Key</c>, say — is refused at startup: the key is configured by its SHA-256 only.
    /// </summary>
    public static IReadOnlyList<string> Settings { get; } = ["Hash", "Role", "Accounts"];

    private readonly FrozenDictionary<string, ApiKey> _byHash;

    public ApiKeys(IEnumerable<(string Name, string Hash, ApiRole Role)> keys)
        : this(keys.Select(k => (k.Hash, new ApiKey(k.Name, k.Role))))
    {
    }

    public ApiKeys(IEnumerable<(string Hash, ApiKey Key)> keys)
    {
        _byHash = keys.ToFrozenDictionary(k => k.Hash.ToLowerInvariant(), k => k.Key, StringComparer.Ordinal);
    }

    public bool Enabled => _byHash.Count > 0;

    /// <summary>The configured keys.</summary>
    public IEnumerable<ApiKey> All => _byHash.Values;

    public static ApiKeys From(IConfiguration configuration)
    {
        var keys = new List<(string, ApiKey)>();
        foreach (var section in configuration.GetSection(Section).GetChildren())
        {
            if (section.GetChildren().FirstOrDefault(c => !Settings.Contains(c.Key, StringComparer.OrdinalIgnoreCase)) is { } unknown)
            {
                throw new InvalidOperationException(
                    $"{Section}:{section.Key}:{unknown.Key} is not a setting of an API key (only {string.Join(", ", Settings)}): "
                    + "configure the key by its SHA-256 in hex as :Hash, never the key itself");
            }

            var hash = section["Hash"];
            if (string.IsNullOrWhiteSpace(hash) || hash.Length != 64 || !hash.All(Uri.IsHexDigit))
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Hash must be the SHA-256 of the key in hex (64 digits)");
            }

            if (!Enum.TryParse<ApiRole>(section["Role"], ignoreCase: true, out var role) || !Enum.IsDefined(role))
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Role must be one of admin, venue, feed, trader, reader, liquidator");
            }

            var accounts = section.GetSection("Accounts") is var a && a.Value is { Length: > 0 } single
                ? [single]
                : a.GetChildren().Select(c => c.Value).OfType<string>().Where(v => v.Length > 0).ToList();
            if (accounts.Any(p => p.IndexOf('*', StringComparison.Ordinal) is >= 0 and var star && star != p.Length - 1))
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Accounts: '*' may only end a pattern (\"acct-7*\")");
            }

            if (role == ApiRole.Liquidator && accounts.Count == 0)
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Accounts: a liquidator key must name its liquidator account(s)");
            }

            keys.Add((hash, new ApiKey(section.Key, role) { Accounts = accounts }));
        }

        return new ApiKeys(keys);
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The key sent with the request (<c>X-Api-Key</c>, else <c>Authorization: Bearer</c>), or null.</summary>
    public ApiKey? Find(HttpRequest request) =>
        Presented(request) is { } key && _byHash.TryGetValue(Hash(key), out var found) ? found : null;

    /// <summary>The key text a request presents, if any: <c>X-Api-Key</c>, else <c>Authorization: Bearer &lt;key&gt;</c>.</summary>
    public static string? Presented(HttpRequest request)
    {
        if (request.Headers[Header].ToString() is { Length: > 0 } key)
        {
            return key;
        }

        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) && authorization.Length > BearerPrefix.Length
            ? authorization[BearerPrefix.Length..].Trim()
            : null;
    }
}

/// <summary>
/// Allows an endpoint to the given roles (admin is always allowed): 401 without a valid key, 403 with another role,
/// 429 (with <c>Retry-After</c>) for a client address that failed authentication too often, 400 for a route
/// <c>{id}</c> that is not a valid id (<see cref="MarginGrid.Domain.Identifiers"/>).
/// </summary>
public sealed class ApiRoleFilter(ApiKeys keys, ApiRole[] roles, AuthFailureLimiter failures) : IEndpointFilter
{
    public const string KeyItem = "margingrid.apikey";

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (!keys.Enabled)
        {
            return CheckRouteId(http) is { } badId ? ValueTask.FromResult<object?>(badId) : next(context);
        }

        var address = AuthFailureLimiter.ClientAddress(http);
        if (failures.IsLockedOut(address))
        {
            return ValueTask.FromResult<object?>(failures.TooMany(http));
        }

        if (keys.Find(http.Request) is not { } key)
        {
            if (!failures.RecordFailure(address))
            {
                return ValueTask.FromResult<object?>(failures.TooMany(http));
            }

            http.Response.Headers.WWWAuthenticate = ApiKeys.Header;
            return ValueTask.FromResult<object?>(Problems.Problem(
                StatusCodes.Status401Unauthorized, "Unauthorized",
                $"a valid API key is required in the {ApiKeys.Header} header (or as Authorization: Bearer)"));
        }

        if (key.Role != ApiRole.Admin && !roles.Contains(key.Role))
        {
            return ValueTask.FromResult<object?>(Problems.Problem(
                StatusCodes.Status403Forbidden, "Forbidden", $"the role '{key.Role.ToString().ToLowerInvariant()}' may not do this"));
        }

        if (CheckRouteId(http) is { } invalid)
        {
            return ValueTask.FromResult<object?>(invalid);
        }

        if (key.Role is ApiRole.Trader or ApiRole.Liquidator && http.Request.RouteValues["id"] is string account && !key.MayActOn(account))
        {
            return ValueTask.FromResult<object?>(Problems.Problem(
                StatusCodes.Status403Forbidden, "Forbidden", $"the key '{key.Name}' may not act on account '{account}'"));
        }

        http.Items[KeyItem] = key;
        return next(context);
    }

    private static IResult? CheckRouteId(HttpContext http) =>
        http.Request.RouteValues["id"] is string id && MarginGrid.Domain.Identifiers.WhyNotId(id) is { } reason
            ? Problems.Invalid("id", reason)
            : null;
}

public static class ApiRoleExtensions
{
    public static TBuilder RequireApiRole<TBuilder>(this TBuilder builder, params ApiRole[] roles)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilterFactory((factory, next) =>
        {
            var filter = new ApiRoleFilter(
                factory.ApplicationServices.GetRequiredService<ApiKeys>(), roles,
                factory.ApplicationServices.GetRequiredService<AuthFailureLimiter>());
            return context => filter.InvokeAsync(context, next);
        });
}
