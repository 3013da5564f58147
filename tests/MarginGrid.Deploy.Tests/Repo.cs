namespace MarginGrid.Deploy.Tests;

/// <summary>Paths inside the repository, found by walking up from the test assembly to MarginGrid.sln.</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string ReadText(params string[] parts) => File.ReadAllText(PathOf(parts));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MarginGrid.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"MarginGrid.sln not found above {AppContext.BaseDirectory}");
    }
}
