using System.Diagnostics;

namespace MarginGrid.Deploy.Tests;

internal sealed record ProcessResult(string Command, int ExitCode, string StdOut, string StdErr)
{
    public string Describe() => $"`{Command}` exited {ExitCode}\n--- stdout ---\n{StdOut}\n--- stderr ---\n{StdErr}";
}

/// <summary>
/// Runs the external tools the deploy checks rely on. A missing tool fails the test with the
/// install instruction: these checks are never skipped.
/// </summary>
internal static class Tools
{
    /// <summary>promtool, from Debian's <c>prometheus</c> package.</summary>
    public static string Promtool => Require("promtool", "apt-get install -y --no-install-recommends prometheus (Debian; ships /usr/bin/promtool)");

    /// <summary>docker-compose v1, from Debian's <c>docker-compose</c> package; `config` needs no Docker engine.</summary>
    public static string DockerCompose => Require("docker-compose", "apt-get install -y --no-install-recommends docker-compose (Debian; ships /usr/bin/docker-compose)");

    public static string Kubectl => Require("kubectl", "install kubectl (it is on the project's machine image)");

    public static string Node => Require("node", "install Node.js (it is on the project's machine image)");

    public static string Bash => Require("bash", "install bash");

    public static string Psql => Require("psql", "apt-get install -y postgresql-client-15");

    /// <summary>Install commands for everything above: tests/MarginGrid.Deploy.Tests/install-tools.sh.</summary>
    public const string InstallScript = "tests/MarginGrid.Deploy.Tests/install-tools.sh";

    public static string Require(string name, string howToInstall)
    {
        var path = Which(name);
        Assert.True(path is not null, $"`{name}` is not on PATH. Install it: {howToInstall} (or run {InstallScript}).");
        return path!;
    }

    public static string? Which(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator))
        {
            if (dir.Length == 0)
            {
                continue;
            }

            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    public static ProcessResult Run(
        string file,
        IEnumerable<string> args,
        string? workingDirectory = null,
        string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null,
        TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory ?? Repo.Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        var command = string.Join(' ', new[] { file }.Concat(info.ArgumentList));
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {command}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        var limit = timeout ?? TimeSpan.FromSeconds(60);
        if (!process.WaitForExit(limit))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            Assert.Fail($"`{command}` did not finish within {limit}: {stdout.Result}{stderr.Result}");
        }

        process.WaitForExit();
        return new ProcessResult(command, process.ExitCode, stdout.Result, stderr.Result);
    }

    public static ProcessResult RunOk(string file, IEnumerable<string> args, string? workingDirectory = null, string? stdin = null,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var result = Run(file, args, workingDirectory, stdin, environment, timeout);
        Assert.True(result.ExitCode == 0, result.Describe());
        return result;
    }
}
