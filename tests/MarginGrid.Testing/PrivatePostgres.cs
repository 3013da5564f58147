using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace MarginGrid.Testing;

/// <summary>
/// A PostgreSQL server of one test class's own, started by <c>scripts/pg.sh</c> with a state file of its own (so the
/// same options: loopback, a free port, fsync off), that the test may stop and start again: restarting the shared
/// server would break the test projects that run beside this one. Stopped and deleted on dispose.
/// </summary>
public sealed partial class PrivatePostgres : IAsyncDisposable
{
    private readonly string _stateFile;

    private PrivatePostgres(string stateFile, string connectionString, string directory, int port)
    {
        _stateFile = stateFile;
        AdminConnectionString = connectionString;
        Directory = directory;
        Port = port;
    }

    public string AdminConnectionString { get; }

    /// <summary>The cluster directory (the data directory is its <c>data</c> folder).</summary>
    public string Directory { get; }

    public int Port { get; }

    public static async Task<PrivatePostgres> StartAsync()
    {
        _ = TestPostgres.AdminConnectionString; // the suite's server must exist: then so do the binaries pg.sh needs
        var stateFile = Path.Combine(Path.GetTempPath(), $"margingrid-pg-cluster-tests-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.env");
        var (code, stdout, stderr) = await PgShAsync(stateFile, "start");
        if (code != 0)
        {
            throw new InvalidOperationException($"scripts/pg.sh start failed ({code}):\n{stderr}");
        }

        string Value(string name) => EnvLine().Matches(stdout).FirstOrDefault(m => m.Groups[1].Value == name)?.Groups[2].Value
            ?? throw new InvalidOperationException($"scripts/pg.sh start printed no {name}:\n{stdout}");
        return new PrivatePostgres(stateFile, Value("MARGINGRID_TEST_PG"), Value("MARGINGRID_PG_DIR"),
            int.Parse(Value("MARGINGRID_PG_PORT"), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary><c>pg_ctl stop -m fast</c>, as scripts/pg.sh stops it; returns once the server is down.</summary>
    public Task StopServerAsync() => PgCtlAsync("stop", "-D", Path.Combine(Directory, "data"), "-m", "fast", "-w", "-t", "60");

    /// <summary><c>pg_ctl start</c> on the same port, as scripts/pg.sh starts it; returns once it accepts connections.</summary>
    public Task StartServerAsync() => PgCtlAsync(
        "start", "-D", Path.Combine(Directory, "data"), "-l", Path.Combine(Directory, "server.log"), "-w", "-t", "60",
        "-o", $"-p {Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}");

    public async ValueTask DisposeAsync()
    {
        var (code, _, stderr) = await PgShAsync(_stateFile, "stop");
        File.Delete(_stateFile + ".lock");
        if (code != 0)
        {
            throw new InvalidOperationException($"scripts/pg.sh stop failed ({code}):\n{stderr}");
        }
    }

    private static async Task<ProcessResult> PgShAsync(string stateFile, string verb)
    {
        var start = new ProcessStartInfo(Path.Combine(RepoRoot(), "scripts", "pg.sh"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(verb);
        start.Environment["MARGINGRID_PG_STATE"] = stateFile;
        return await Processes.RunAsync(start, TimeSpan.FromSeconds(180));
    }

    private static string PgBin()
    {
        if (Environment.GetEnvironmentVariable("MARGINGRID_PG_BIN") is { Length: > 0 } bin)
        {
            return bin;
        }

        if (File.Exists("/usr/lib/postgresql/15/bin/pg_ctl"))
        {
            return "/usr/lib/postgresql/15/bin";
        }

        return System.IO.Directory.GetDirectories("/usr/lib/postgresql").Order(StringComparer.Ordinal)
            .Select(d => Path.Combine(d, "bin")).Last(d => File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private async Task PgCtlAsync(params string[] args)
    {
        // As scripts/pg.sh does it: as `postgres` when we are root (pg_ctl refuses to run as root).
        var root = Environment.UserName == "root";
        var start = new ProcessStartInfo(root ? "runuser" : Path.Combine(PgBin(), "pg_ctl"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (root)
        {
            foreach (var a in new[] { "-u", "postgres", "--", Path.Combine(PgBin(), "pg_ctl") })
            {
                start.ArgumentList.Add(a);
            }
        }

        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        var (code, stdout, stderr) = await Processes.RunAsync(start, TimeSpan.FromSeconds(180));
        if (code != 0)
        {
            throw new InvalidOperationException($"pg_ctl {args[0]} failed ({code}):\n{stdout}\n{stderr}");
        }
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "scripts", "pg.sh")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no scripts/pg.sh above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^export (\w+)='([^']*)'$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex EnvLine();
}
