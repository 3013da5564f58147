using System.Globalization;
using System.Text.Json.Nodes;
using MarginGrid.Host.Silo.Security;
using Microsoft.Extensions.Configuration;

namespace MarginGrid.Deploy.Tests;

/// <summary>
/// The API keys the manifests give the silos are keys the silo reads: every <c>MarginGrid__ApiKeys__&lt;name&gt;__*</c>
/// variable names one of <see cref="ApiKeys.Settings"/> (the silo's own list: a <c>__Key</c> is read by nothing), each
/// key has its <c>__Hash</c> and <c>__Role</c>, and the silo's own parser accepts the result. Compose's default hashes
/// are those of the development keys its load profile sends.
/// </summary>
public sealed class ApiKeySettingsTests
{
    private const string Prefix = "MarginGrid__ApiKeys__";

    /// <summary>A value that stands in for a secret the manifests reference (the silo needs 64 hex digits).</summary>
    private static readonly string SecretHash = new('a', 64);

    [Fact]
    public void Compose_gives_the_silos_only_api_key_settings_they_read()
    {
        var raw = Yaml.Load("deploy", "compose", "docker-compose.yml");
        var names = EnvironmentNames(raw).ToList();
        Assert.Contains(names, n => n.StartsWith(Prefix, StringComparison.Ordinal));
        AssertOnlyReadSettings("deploy/compose/docker-compose.yml", names);
    }

    [Fact]
    public void Compose_keys_parse_and_match_the_keys_the_load_profile_sends()
    {
        var config = Tools.RunOk(Tools.DockerCompose, ["-f", "deploy/compose/docker-compose.yml", "--profile", "load", "config"],
            environment: new Dictionary<string, string> { ["COMPOSE_PROJECT_NAME"] = "margingrid" });
        var services = Yaml.Parse(config.StdOut)["services"]!;
        var silo = services["silo1"]!["environment"]!.AsObject()
            .ToDictionary(e => e.Key, e => e.Value!.GetValue<string>(), StringComparer.Ordinal);
        var keys = Parse(silo);
        Assert.Equal(["admin", "feed", "reader", "trader", "venue"], keys.All.Select(k => k.Name).Order(StringComparer.Ordinal));

        var load = services["load"]!["environment"]!;
        foreach (var (role, setting) in new[] { ("admin", "AdminKey"), ("feed", "FeedKey"), ("trader", "TraderKey"), ("reader", "ReaderKey") })
        {
            var sent = load[$"MarginGrid__Load__{setting}"]!.GetValue<string>();
            Assert.Equal(ApiKeys.Hash(sent), silo[$"{Prefix}{role}__Hash"]);
        }
    }

    [Fact]
    public void Kubernetes_gives_the_silos_only_api_key_settings_they_read_and_they_parse()
    {
        var rendered = Tools.RunOk(Tools.Kubectl, ["kustomize", "deploy/k8s"], timeout: TimeSpan.FromSeconds(60)).StdOut;
        var deployment = Yaml.ParseAll(rendered).Single(d => d["kind"]?.GetValue<string>() == "Deployment");
        var env = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray()
            .Select(e => (Name: e!["name"]!.GetValue<string>(), Value: e["value"]?.GetValue<string>(), Secret: e["valueFrom"]?["secretKeyRef"]?["key"]?.GetValue<string>()))
            .ToList();
        AssertOnlyReadSettings("deploy/k8s/deployment.yaml", env.Select(e => e.Name));

        // A secret stands in as the hash of its name (the silo refuses two keys with one hash).
        var keys = Parse(env.ToDictionary(e => e.Name, e => e.Secret is { } secret ? ApiKeys.Hash(secret) : e.Value ?? string.Empty, StringComparer.Ordinal));
        Assert.Equal(["admin", "feed", "reader", "trader", "venue"], keys.All.Select(k => k.Name).Order(StringComparer.Ordinal));
        Assert.All(env.Where(e => e.Name.StartsWith(Prefix, StringComparison.Ordinal) && e.Name.EndsWith("__Hash", StringComparison.Ordinal)),
            e => Assert.True(e.Secret is not null, $"{e.Name} should come from the Secret"));
    }

    [Fact]
    public void The_check_refuses_a_setting_the_silo_does_not_read()
    {
        // Guards the checks above with what the manifests used to say.
        var failure = Assert.ThrowsAny<Exception>(() => AssertOnlyReadSettings(
            "example", [$"{Prefix}admin__Key", $"{Prefix}admin__Role"]));
        Assert.Contains($"{Prefix}admin__Key", failure.Message, StringComparison.Ordinal);
        Assert.ThrowsAny<Exception>(() => AssertOnlyReadSettings("example", [$"{Prefix}admin__Hash"])); // no role
        AssertOnlyReadSettings("example", [$"{Prefix}desk__Hash", $"{Prefix}desk__Role", $"{Prefix}desk__Accounts__0"]);

        // And the silo itself refuses to start with one.
        var refused = Assert.Throws<InvalidOperationException>(() => Parse(new Dictionary<string, string>
        {
            [$"{Prefix}admin__Hash"] = SecretHash,
            [$"{Prefix}admin__Role"] = "admin",
            [$"{Prefix}admin__Key"] = "plaintext",
        }));
        Assert.Contains("admin:Key", refused.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Every <c>MarginGrid__ApiKeys__&lt;name&gt;__&lt;setting&gt;</c> names a setting of <see cref="ApiKeys.Settings"/>
    /// (<c>Accounts__&lt;n&gt;</c> for a list), and every key named has a Hash and a Role.
    /// </summary>
    private static void AssertOnlyReadSettings(string file, IEnumerable<string> names)
    {
        var byKey = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var name in names.Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var parts = name[Prefix.Length..].Split("__");
            var known = parts.Length >= 2 && ApiKeys.Settings.Contains(parts[1], StringComparer.OrdinalIgnoreCase)
                && (parts.Length == 2 || (parts.Length == 3 && parts[1].Equals("Accounts", StringComparison.OrdinalIgnoreCase)
                    && int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out _)));
            Assert.True(known, $"{file}: {name} is not a setting the silo reads (MarginGrid:ApiKeys:<name>:{string.Join("|", ApiKeys.Settings)})");
            if (!byKey.TryGetValue(parts[0], out var settings))
            {
                byKey[parts[0]] = settings = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            }

            settings.Add(parts[1]);
        }

        foreach (var (key, settings) in byKey)
        {
            Assert.True(settings.Contains("Hash") && settings.Contains("Role"), $"{file}: API key '{key}' needs both __Hash and __Role");
        }
    }

    private static ApiKeys Parse(IReadOnlyDictionary<string, string> environment) =>
        ApiKeys.From(new ConfigurationBuilder()
            .AddInMemoryCollection(environment
                .Where(e => e.Key.StartsWith(Prefix, StringComparison.Ordinal))
                .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)))
            .Build());

    /// <summary>The names of the environment variables a compose file or manifest sets (compose maps and Kubernetes lists).</summary>
    private static IEnumerable<string> EnvironmentNames(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o)
                {
                    if (key == "environment" && value is JsonObject map)
                    {
                        foreach (var (name, _) in map)
                        {
                            yield return name;
                        }
                    }
                    else if (key.StartsWith("x-", StringComparison.Ordinal) && key.EndsWith("environment", StringComparison.Ordinal) && value is JsonObject anchored)
                    {
                        foreach (var (name, _) in anchored)
                        {
                            yield return name;
                        }
                    }

                    foreach (var name in EnvironmentNames(value))
                    {
                        yield return name;
                    }
                }

                break;
            case JsonArray a:
                foreach (var item in a)
                {
                    foreach (var name in EnvironmentNames(item))
                    {
                        yield return name;
                    }
                }

                break;
        }
    }
}
