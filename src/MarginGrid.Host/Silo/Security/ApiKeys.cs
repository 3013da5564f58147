using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using MarginGrid.Host.Silo.Api;

namespace MarginGrid.Host.Silo.Security;

public enum ApiRole
{
    Feed,
    Trader,
    Admin,
    Reader,
}

/// <summary>A configured API key: its name and role. Only the SHA-256 of the key is ever configured.</summary>
public sealed record ApiKey(string Name, ApiRole Role);

/// <summary>
/// API keys from <c>MarginGrid:ApiKeys:&lt;name&gt;:Hash</c> (SHA-256 hex of the key) and <c>:Role</c>, sent in
/// <c>X-Api-Key</c>. With no keys configured every request is allowed (embedded development mode).
/// </summary>
public sealed class ApiKeys
{
    public const string Header = "X-Api-Key";
    public const string Section = "MarginGrid:ApiKeys";

    private readonly FrozenDictionary<string, ApiKey> _byHash;

    public ApiKeys(IEnumerable<(string Name, string Hash, ApiRole Role)> keys)
    {
        _byHash = keys.ToFrozenDictionary(k => k.Hash.ToLowerInvariant(), k => new ApiKey(k.Name, k.Role), StringComparer.Ordinal);
    }

    public bool Enabled => _byHash.Count > 0;

    public static ApiKeys From(IConfiguration configuration)
    {
        var keys = new List<(string, string, ApiRole)>();
        foreach (var section in configuration.GetSection(Section).GetChildren())
        {
            var hash = section["Hash"];
            if (string.IsNullOrWhiteSpace(hash) || hash.Length != 64 || !hash.All(Uri.IsHexDigit))
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Hash must be the SHA-256 of the key in hex (64 digits)");
            }

            if (!Enum.TryParse<ApiRole>(section["Role"], ignoreCase: true, out var role) || !Enum.IsDefined(role))
            {
                throw new InvalidOperationException($"{Section}:{section.Key}:Role must be one of feed, trader, admin, reader");
            }

            keys.Add((section.Key, hash, role));
        }

        return new ApiKeys(keys);
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The key sent with the request, or null when it sent none or an unknown one.</summary>
    public ApiKey? Find(HttpRequest request) =>
        request.Headers[Header].ToString() is { Length: > 0 } key && _byHash.TryGetValue(Hash(key), out var found) ? found : null;
}

/// <summary>Allows an endpoint to the given roles (admin is always allowed): 401 without a valid key, 403 with another role.</summary>
public sealed class ApiRoleFilter(ApiKeys keys, ApiRole[] roles) : IEndpointFilter
{
    public const string KeyItem = "margingrid.apikey";

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        if (!keys.Enabled)
        {
            return next(context);
        }

        var http = context.HttpContext;
        if (keys.Find(http.Request) is not { } key)
        {
            http.Response.Headers.WWWAuthenticate = ApiKeys.Header;
            return ValueTask.FromResult<object?>(Problems.Problem(
                StatusCodes.Status401Unauthorized, "Unauthorized", $"a valid API key is required in the {ApiKeys.Header} header"));
        }

        if (key.Role != ApiRole.Admin && !roles.Contains(key.Role))
        {
            return ValueTask.FromResult<object?>(Problems.Problem(
                StatusCodes.Status403Forbidden, "Forbidden", $"the role '{key.Role.ToString().ToLowerInvariant()}' may not do this"));
        }

        http.Items[KeyItem] = key;
        return next(context);
    }
}

public static class ApiRoleExtensions
{
    public static TBuilder RequireApiRole<TBuilder>(this TBuilder builder, params ApiRole[] roles)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilterFactory((factory, next) =>
        {
            var filter = new ApiRoleFilter(factory.ApplicationServices.GetRequiredService<ApiKeys>(), roles);
            return context => filter.InvokeAsync(context, next);
        });
}
