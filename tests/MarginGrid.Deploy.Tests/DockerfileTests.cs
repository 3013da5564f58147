using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MarginGrid.Deploy.Tests;

/// <summary>
/// The Dockerfile, read instruction by instruction (no Docker engine runs here), and deploy/publish.sh, the build
/// step it runs, executed for real.
/// </summary>
public sealed partial class DockerfileTests
{
    internal sealed record Instruction(string Keyword, string Arguments, int Stage);

    /// <summary>Instructions with continuations joined and comments dropped; Stage counts FROMs (0 = before the first).</summary>
    internal static IReadOnlyList<Instruction> Instructions()
    {
        var result = new List<Instruction>();
        var stage = 0;
        var pending = string.Empty;
        foreach (var rawLine in Repo.ReadText("Dockerfile").Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.Trim().Length == 0))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var full = (pending + line).Trim();
            pending = string.Empty;
            var space = full.IndexOf(' ', StringComparison.Ordinal);
            var keyword = (space < 0 ? full : full[..space]).ToUpperInvariant();
            if (keyword == "FROM")
            {
                stage++;
            }

            result.Add(new Instruction(keyword, space < 0 ? string.Empty : WhitespaceRegex().Replace(full[(space + 1)..].Trim(), " "), stage));
        }

        return result;
    }

    internal static long RuntimeUserId()
    {
        var user = Instructions().Last(i => i.Keyword == "USER").Arguments.Split(':')[0];
        return long.Parse(user, CultureInfo.InvariantCulture);
    }

    private static string[] ExecForm(string arguments) => JsonSerializer.Deserialize<string[]>(arguments)!;

    [Fact]
    public void Is_multi_stage_sdk_build_then_aspnet_runtime()
    {
        var instructions = Instructions();
        var version = instructions.First(i => i.Keyword == "ARG" && i.Stage == 0).Arguments;
        Assert.Equal("DOTNET_VERSION=10.0", version);
        var froms = instructions.Where(i => i.Keyword == "FROM").Select(i => i.Arguments.Replace("${DOTNET_VERSION}", "10.0", StringComparison.Ordinal)).ToList();
        Assert.Equal(["mcr.microsoft.com/dotnet/sdk:10.0 AS build", "mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime"], froms);
        Assert.Contains(instructions, i => i.Stage == 2 && i.Keyword == "COPY" && i.Arguments.StartsWith("--from=build", StringComparison.Ordinal) && i.Arguments.EndsWith("/app /app", StringComparison.Ordinal));
    }

    [Fact]
    public void Build_stage_publishes_with_deploy_publish_sh_and_nothing_else()
    {
        var runs = Instructions().Where(i => i.Stage == 1 && i.Keyword == "RUN").ToList();
        var run = Assert.Single(runs);
        Assert.Equal("bash deploy/publish.sh /app", run.Arguments);
        var script = Repo.ReadText("deploy", "publish.sh");
        Assert.Contains("dotnet publish src/MarginGrid.Host/MarginGrid.Host.csproj -c Release -o \"$out\"", script, StringComparison.Ordinal);
    }

    [Fact]
    public void Runtime_runs_margingrid_silo_as_a_non_root_user_with_a_liveness_healthcheck()
    {
        var runtime = Instructions().Where(i => i.Stage == 2).ToList();
        var user = runtime.Last(i => i.Keyword == "USER").Arguments;
        Assert.DoesNotMatch(@"^(root|0)(:|$)", user);
        Assert.True(RuntimeUserId() > 0);

        var healthcheck = runtime.Single(i => i.Keyword == "HEALTHCHECK").Arguments;
        Assert.Contains("http://localhost:8080/health/live", healthcheck, StringComparison.Ordinal);
        Assert.Contains("CMD ", healthcheck, StringComparison.Ordinal);
        // The runtime stage installs the tool the health check calls.
        Assert.Contains(runtime, i => i.Keyword == "RUN" && i.Arguments.Contains("install -y --no-install-recommends curl", StringComparison.Ordinal));

        var entrypoint = ExecForm(runtime.Single(i => i.Keyword == "ENTRYPOINT").Arguments);
        var cmd = ExecForm(runtime.Single(i => i.Keyword == "CMD").Arguments);
        // `margingrid silo` by default; other subcommands (db init) replace CMD only.
        Assert.Equal(["dotnet", "/app/margingrid.dll", "silo"], entrypoint.Concat(cmd));
        Assert.Contains(runtime, i => i.Keyword == "EXPOSE" && i.Arguments.Split(' ').Contains("8080"));
    }

    [Theory]
    [InlineData("src/MarginGrid.Host/MarginGrid.Host.csproj", false)]
    [InlineData("src/MarginGrid.Storage/AuditLog.cs", false)]
    [InlineData("deploy/sql/orleans/PostgreSQL-Main.sql", false)]
    [InlineData("deploy/publish.sh", false)]
    [InlineData("Directory.Build.props", false)]
    [InlineData("Directory.Packages.props", false)]
    [InlineData("global.json", false)]
    [InlineData(".git/HEAD", true)]
    [InlineData("src/MarginGrid.Host/bin/Release/net10.0/margingrid.dll", true)]
    [InlineData("src/MarginGrid.Domain/obj/project.assets.json", true)]
    [InlineData("tests/MarginGrid.Deploy.Tests/Repo.cs", true)]
    [InlineData("deploy/k8s/validate/node_modules/yaml/package.json", true)]
    public void Dockerignore_keeps_what_the_publish_needs_and_drops_the_rest(string path, bool excluded)
    {
        var patterns = Repo.ReadText(".dockerignore").Split('\n')
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.DoesNotContain(patterns, p => p.StartsWith('!'));
        Assert.Equal(excluded, patterns.Any(p => Excludes(p, path)));
    }

    /// <summary>Docker's .dockerignore rule (Go filepath.Match plus "**"), also excluding everything under a matched folder.</summary>
    private static bool Excludes(string pattern, string path)
    {
        var regex = "^" + Regex.Escape(pattern.TrimStart('/'))
            .Replace(@"\*\*/", "(.*/)?", StringComparison.Ordinal)
            .Replace(@"\*\*", ".*", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal) + "(/.*)?$";
        return Regex.IsMatch(path, regex);
    }

    [Fact]
    public void Publish_script_produces_margingrid_dll()
    {
        // Depends on src/MarginGrid.Host: this is the image's build step, run for real.
        Assert.True(File.Exists(Repo.PathOf("src", "MarginGrid.Host", "MarginGrid.Host.csproj")), "src/MarginGrid.Host/MarginGrid.Host.csproj does not exist yet");
        var output = Path.Combine(Path.GetTempPath(), $"margingrid-publish-{Guid.NewGuid():N}");
        var artifacts = Path.Combine(Path.GetTempPath(), $"margingrid-publish-artifacts-{Guid.NewGuid():N}");
        try
        {
            // MARGINGRID_PUBLISH_ARGS: an isolated artifacts folder, so that this build never writes into the bin/obj
            // folders that the solution's other test projects are running from.
            Tools.RunOk(Tools.Bash, ["deploy/publish.sh", output], environment: new Dictionary<string, string>
            {
                ["MARGINGRID_PUBLISH_ARGS"] = $"--artifacts-path {artifacts}",
            }, timeout: TimeSpan.FromMinutes(8));
            Assert.True(File.Exists(Path.Combine(output, "margingrid.dll")), "margingrid.dll missing from the publish output");
            Assert.True(File.Exists(Path.Combine(output, "margingrid.runtimeconfig.json")), "margingrid.runtimeconfig.json missing");
            Assert.True(File.Exists(Path.Combine(output, "load", "MarginGrid.Load.dll")), "the load generator (compose's load profile) is missing from load/");
        }
        finally
        {
            foreach (var dir in new[] { output, artifacts })
            {
                if (Directory.Exists(dir))
                {
                    Directory.Delete(dir, recursive: true);
                }
            }
        }
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespaceRegex();
}
