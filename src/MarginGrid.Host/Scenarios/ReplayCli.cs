namespace MarginGrid.Host.Scenarios;

/// <summary>`margingrid replay`: exit 0 with a result, 2 for an invalid scenario (nothing written), 1 for a failure.</summary>
public static class ReplayCli
{
    public static async Task<int> RunAsync(FileInfo scenarioFile, FileInfo? output, CancellationToken cancellationToken, bool verbose = false)
    {
        Scenario scenario;
        try
        {
            if (!scenarioFile.Exists)
            {
                await Console.Error.WriteLineAsync($"margingrid replay: no such file: {scenarioFile.FullName}");
                return 2;
            }

            scenario = ScenarioReader.Read(await File.ReadAllTextAsync(scenarioFile.FullName, cancellationToken));
        }
        catch (ScenarioException e)
        {
            await Console.Error.WriteLineAsync($"margingrid replay: invalid scenario {scenarioFile.Name}: {e.Message}");
            return 2;
        }

        var result = await ReplayRunner.RunAsync(scenario, cancellationToken, verbose);
        var json = ResultWriter.ToJson(result);
        if (output is null)
        {
            await Console.Out.WriteAsync(json);
        }
        else
        {
            await File.WriteAllTextAsync(output.FullName, json, cancellationToken);
        }

        return 0;
    }
}
