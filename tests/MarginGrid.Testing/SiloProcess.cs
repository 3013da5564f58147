using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;

namespace MarginGrid.Testing;

/// <summary>
/// One <c>margingrid silo</c> process on free loopback ports, on PostgreSQL or (without a connection string) in
/// memory; ready when <c>/health/ready</c> answers 200. Every process started is tracked until it has exited and killed
/// when the test host exits (the exit guard), so that a failing or aborted test leaves no silo behind.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    private static readonly TimeSpan ReadyDeadline = TimeSpan.FromSeconds(120);
    private static readonly ConcurrentDictionary<int, Process> s_running = new();

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    static SiloProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in s_running.Values)
            {
                try
                {
                    process.Kill(entireProcessTree: true);
                }
                catch (InvalidOperationException)
                {
                    // already gone
                }
            }
        };
    }

    private SiloProcess(string name, Process process, int httpPort, int siloPort, int gatewayPort)
    {
        Name = name;
        _process = process;
        HttpPort = httpPort;
        SiloPort = siloPort;
        GatewayPort = gatewayPort;
        BaseAddress = new Uri($"http://127.0.0.1:{httpPort}/");
    }

    public string Name { get; }

    public int HttpPort { get; }

    /// <summary>The silo-to-silo port: with the address, what identifies this silo in OrleansMembershipTable.</summary>
    public int SiloPort { get; }

    /// <summary>The client gateway port (Orleans clients such as MarginGrid.Client connect here, on 127.0.0.1).</summary>
    public int GatewayPort { get; }

    public Uri BaseAddress { get; }

    public int Pid => _process.Id;

    /// <summary>False once the process has exited (or was killed).</summary>
    public bool IsRunning => !_process.HasExited;

    /// <summary>True once <c>/health/ready</c> has answered 200.</summary>
    public bool IsReady { get; private set; }

    /// <summary>Everything it wrote, stdout and stderr interleaved as they came.</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts a silo and waits until it is ready; a silo that does not get ready is killed, and the error shows its output.</summary>
    public static async Task<SiloProcess> StartAsync(string clusterId, string? connectionString, IReadOnlyDictionary<string, string> environment)
    {
        var silo = Start(clusterId, clusterId, connectionString, environment);
        try
        {
            await silo.WaitUntilReadyAsync();
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }

        return silo;
    }

    /// <summary>Starts the process; returns at once (see <see cref="WaitUntilReadyAsync"/>).</summary>
    public static SiloProcess Start(string name, string clusterId, string? connectionString, IReadOnlyDictionary<string, string> environment)
    {
        var httpPort = Ports.Free();
        var siloPort = Ports.Free();
        var gatewayPort = Ports.Free();
        List<string> args =
        [
            "silo",
            "--http-port", Text(httpPort),
            "--silo-port", Text(siloPort),
            "--gateway-port", Text(gatewayPort),
            "--advertised-ip", "127.0.0.1",
            "--cluster-id", clusterId,
        ];
        if (connectionString is not null)
        {
            args.AddRange(["--connection-string", connectionString]);
        }

        var process = new Process { StartInfo = Margingrid.StartInfo(args, environment) };
        var silo = new SiloProcess(name, process, httpPort, siloPort, gatewayPort);
        process.OutputDataReceived += (_, e) => silo.Append(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Append(e.Data);
        process.Start();
        s_running[process.Id] = process;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return silo;
    }

    /// <summary>Polls <c>/health/ready</c> until it answers 200 (the silo has joined its cluster).</summary>
    public async Task WaitUntilReadyAsync()
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyDeadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with {_process.ExitCode} before it was ready:\n{Tail()}");
            }

            try
            {
                using var response = await http.GetAsync("health/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    IsReady = true;
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // slow to answer while starting
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100)); // polling interval of a condition with a deadline
        }

        throw new TimeoutException($"{Name} was not ready within {ReadyDeadline}:\n{Tail()}");
    }

    /// <summary><c>kill -9</c>: SIGKILL, no shutdown of any kind; returns once the process is gone.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: false); // SIGKILL on Unix
        await _process.WaitForExitAsync();
        s_running.TryRemove(_process.Id, out _);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            s_running.TryRemove(_process.Id, out _);
        }
        finally
        {
            _process.Dispose();
        }
    }

    /// <summary>The last lines of the process's output, for failure messages.</summary>
    public string Tail(int lines = 60)
    {
        var all = Output.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    /// <summary>
    /// The exceptions the HTTP API logged as unhandled (their first line), with counts: those the exception handler
    /// answered (a problem), and — marked — those that got past it (Kestrel answers them with a bare 500, no body) or
    /// that failed the handler itself.
    /// </summary>
    public IReadOnlyDictionary<string, int> UnhandledExceptions()
    {
        var lines = Output.Split('\n');
        var found = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < lines.Length; i++)
        {
            var marker = lines[i].Contains("An unhandled exception has occurred", StringComparison.Ordinal) ? ""
                : lines[i].Contains("An unhandled exception was thrown by the application", StringComparison.Ordinal) ? "[past the handler: Kestrel's bare 500] "
                : lines[i].Contains("An exception was thrown attempting to execute the error handler", StringComparison.Ordinal) ? "[the handler failed] "
                : null;
            if (marker is not null)
            {
                var key = marker + lines[i + 1].Trim();
                if (marker.StartsWith("[the handler failed]", StringComparison.Ordinal))
                {
                    // The handler's own failure is rare and its stack is the only clue: keep its first frames.
                    key += string.Concat(lines.Skip(i + 2).TakeWhile(l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal)).Take(12)
                        .Select(l => "\n    " + l.Trim()));
                }

                found[key] = found.GetValueOrDefault(key) + 1;
            }
        }

        return found;
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
