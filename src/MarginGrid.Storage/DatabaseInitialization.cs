namespace MarginGrid.Storage;

/// <summary>What <see cref="DatabaseInitializer"/> did.</summary>
/// <param name="AppliedScripts">
/// The scripts this call applied, in order (Orleans file names such as <c>PostgreSQL-Main.sql</c>, then MarginGrid
/// migrations such as <c>001-audit</c>); empty when the database was already up to date.
/// </param>
public sealed record DatabaseInitialization(IReadOnlyList<string> AppliedScripts)
{
    /// <summary>True when the database was already up to date and nothing was applied.</summary>
    public bool WasUpToDate => AppliedScripts.Count == 0;
}
