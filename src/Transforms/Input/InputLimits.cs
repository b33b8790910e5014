namespace MLNetExt;

/// <summary>
/// Bounds the readers check declared or accumulated sizes against before allocating, so a hostile or damaged file
/// fails with a clear message instead of exhausting memory.
/// </summary>
public static class InputLimits
{
    /// <summary>Longest line of a line-oriented text format (SPEF, CSV), in characters: 1 Mi.</summary>
    public const int MaxLineLength = 1 << 20;

    /// <summary>Longest JSONL line (one PragWorld conversation), in characters: 4 Mi.</summary>
    public const int MaxJsonLineLength = 4 << 20;

    /// <summary>Longest token (name, number or quoted string) of Liberty, Verilog and DEF, in characters: 1 Mi.</summary>
    public const int MaxTokenLength = 1 << 20;

    /// <summary>Deepest nesting of Liberty groups.</summary>
    public const int MaxNestingDepth = 1000;

    /// <summary>Widest Verilog bus (bits of one declaration): 65,536.</summary>
    public const int MaxBusWidth = 1 << 16;
}
