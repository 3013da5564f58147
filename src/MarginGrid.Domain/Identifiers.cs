namespace MarginGrid.Domain;

/// <summary>
/// The patterns of names that reach grains, storage and the audit trail. ASCII only, so no control character, space,
/// NUL, or look-alike (Cyrillic "а" for "a", fullwidth, zero-width) can pass.
/// <list type="bullet">
/// <item>Ids (account ids, command ids, price sources): 1–128 characters of <c>[A-Za-z0-9._:@-]</c>, starting with a
/// letter or digit.</item>
/// <item>Symbols (markets) and asset names: 1–32 characters of <c>[A-Za-z0-9._-]</c>, starting with a letter or digit.</item>
/// </list>
/// </summary>
public static class Identifiers
{
    public const int MaxIdLength = 128;

    public const int MaxSymbolLength = 32;

    public const string IdPattern = "^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$";

    public const string SymbolPattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$";

    public static bool IsValidId(string? id) => Matches(id, MaxIdLength, extra: "._:@-");

    public static bool IsValidSymbol(string? symbol) => Matches(symbol, MaxSymbolLength, extra: "._-");

    /// <summary>Why <paramref name="id"/> is not a valid id, or null when it is.</summary>
    public static string? WhyNotId(string? id) =>
        IsValidId(id) ? null : Describe(id, MaxIdLength, IdPattern);

    /// <summary>Why <paramref name="symbol"/> is not a valid symbol or asset name, or null when it is.</summary>
    public static string? WhyNotSymbol(string? symbol) =>
        IsValidSymbol(symbol) ? null : Describe(symbol, MaxSymbolLength, SymbolPattern);

    private static bool Matches(string? value, int maxLength, string extra)
    {
        if (string.IsNullOrEmpty(value) || value.Length > maxLength || !char.IsAsciiLetterOrDigit(value[0]))
        {
            return false;
        }

        foreach (var c in value)
        {
            if (!char.IsAsciiLetterOrDigit(c) && extra.IndexOf(c, StringComparison.Ordinal) < 0)
            {
                return false;
            }
        }

        return true;
    }

    private static string Describe(string? value, int maxLength, string pattern) =>
        string.IsNullOrEmpty(value) ? "must not be empty"
        : value.Length > maxLength ? $"must be at most {maxLength} characters, got {value.Length}"
        : $"must match {pattern} (ASCII letters, digits and a few separators; no spaces or control characters)";
}
