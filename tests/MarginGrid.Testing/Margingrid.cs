using System.Diagnostics;

namespace MarginGrid.Testing;

/// <summary>The exit code and the two output streams of a process run to completion.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr)
{
    /// <summary>Both streams, stdout first: for failure messages.</summary>
    public string Output => StdOut + StdErr;
}

/// <summary>Runs processes to completion, both output streams read, under a deadline.</summary>
public static class Processes
{
    public static async Task<ProcessResult> RunAsync(ProcessStartInfo start, TimeSpan timeout)
    {
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.UseShellExecute = false;
        using var process = Process.Start(start)!;
        using var deadline = new CancellationTokenSource(timeout);
        var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
        var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{start.FileName} {string.Join(' ', start.ArgumentList)} did not exit within {timeout}");
        }

        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>
/// The real <c>margingrid</c> executable: the Host's build output, copied next to the tests by their reference to
/// MarginGrid.Host.
/// </summary>
public static class Margingrid
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "margingrid.dll");

    /// <summary><c>dotnet margingrid.dll args…</c> in the test folder, workstation GC, with <paramref name="environment"/> added.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        start.ArgumentList.Add(Dll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["DOTNET_gcServer"] = "0";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        return start;
    }

    /// <summary>Runs a command (<c>db init</c>, <c>replay</c>, <c>demo</c>…) to completion, within three minutes.</summary>
    public static Task<ProcessResult> RunAsync(params string[] args) => Processes.RunAsync(StartInfo(args), TimeSpan.FromMinutes(3));
}
