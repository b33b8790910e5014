namespace MLNetExt;

/// <summary>
/// A circuit file (Liberty, Verilog, DEF, SPEF, CircuitOps CSV, or the gzip/tar container around one) is malformed,
/// truncated, or declares implausible sizes. The message starts with <c>file:line:column:</c>; each format has its
/// own subclass (<see cref="LibertyFormatException"/>, <see cref="NetlistFormatException"/>, <see cref="DefFormatException"/>,
/// <see cref="SpefFormatException"/>, <see cref="CircuitOpsFormatException"/>), so catching this catches them all.
/// </summary>
public class CircuitFormatException : InputFormatException
{
    /// <summary>Creates the exception (line and column 1-based, 0 when unknown).</summary>
    public CircuitFormatException(string file, int line, int column, string message, string? expected = null, Exception? inner = null)
        : base(file, line, column, message, expected, inner) { }
}

/// <summary>A Liberty file could not be read; the message names the file and line.</summary>
public sealed class LibertyFormatException(string file, int line, string message, int column = 0, string? expected = null)
    : CircuitFormatException(file, line, column, message, expected);

/// <summary>A structural netlist could not be read; the message names the file and line.</summary>
public sealed class NetlistFormatException(string file, int line, string message, int column = 0, string? expected = null)
    : CircuitFormatException(file, line, column, message, expected);

/// <summary>A DEF file could not be read; the message names the file and line.</summary>
public sealed class DefFormatException(string file, int line, string message, int column = 0, string? expected = null)
    : CircuitFormatException(file, line, column, message, expected);

/// <summary>A SPEF file could not be read; the message names the file and line.</summary>
public sealed class SpefFormatException(string file, int line, string message, int column = 0, string? expected = null)
    : CircuitFormatException(file, line, column, message, expected);

/// <summary>A CircuitOps IR table could not be read; the message names the file, line and column.</summary>
public sealed class CircuitOpsFormatException(string file, int line, string message, int column = 0, string? expected = null)
    : CircuitFormatException(file, line, column, message, expected);

/// <summary>Number checks shared by the circuit readers: finite values only, with the field named.</summary>
internal static class CircuitNumbers
{
    /// <summary>Parses a finite floating-point number (NaN, ±Infinity and overflowing values such as 1e400 are refused).</summary>
    public static bool TryFinite(string text, out double value) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    /// <summary>Why <paramref name="text"/> is not a finite number, for a message.</summary>
    public static string Problem(string text) =>
        double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v)
            ? $"'{Clip(text)}' is {(double.IsNaN(v) ? "NaN" : "not finite")}; only finite numbers are allowed"
            : $"'{Clip(text)}' is not a number";

    /// <summary>Text shortened for a message, line breaks and tabs shown as \n, \r, \t.</summary>
    public static string Clip(string text)
    {
        var shown = text.Length <= 60 ? text : text[..57] + "...";
        return shown.Replace("\r", "\\r").Replace("\n", "\\n").Replace("\t", "\\t");
    }
}
