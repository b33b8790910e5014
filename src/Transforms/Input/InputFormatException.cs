namespace MLNetExt;

/// <summary>
/// An input file is malformed, truncated or implausible. Every reader of the package throws a subclass of this for bad
/// input (<c>CircuitFormatException</c>, <c>IdxFormatException</c>, <c>PragWorldFormatException</c>, <c>PragWorldCsvFormatException</c>); the message starts
/// with <c>file:line:column:</c> (line and column when they are known).
/// </summary>
public class InputFormatException : FormatException
{
    /// <summary>Creates the exception; the message becomes <c>file:line:column: message</c>.</summary>
    /// <param name="file">File (or source) name.</param>
    /// <param name="line">1-based line, or 0 when the input has no lines (binary files) or the line is unknown.</param>
    /// <param name="column">1-based column, or 0 when unknown.</param>
    /// <param name="message">What is wrong.</param>
    /// <param name="expected">What the reader expected at that place, when that is a single thing.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public InputFormatException(string file, int line, int column, string message, string? expected = null, Exception? inner = null)
        : base($"{Location(file, line, column)}: {message}", inner)
    {
        File = file;
        Line = line;
        Column = column;
        Expected = expected;
    }

    /// <summary>The file (or source name) being read.</summary>
    public string File { get; }

    /// <summary>1-based line, or 0 when not applicable.</summary>
    public int Line { get; }

    /// <summary>1-based column, or 0 when unknown.</summary>
    public int Column { get; }

    /// <summary>What was expected at <see cref="Line"/>, or null.</summary>
    public string? Expected { get; }

    /// <summary><c>file:line:column</c>, leaving out the parts that are 0.</summary>
    public static string Location(string file, int line, int column) =>
        line <= 0 ? file : column <= 0 ? $"{file}:{line}" : $"{file}:{line}:{column}";
}
