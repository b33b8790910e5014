using System.Text;

namespace MLNetExt;

/// <summary>A token of a circuit file and the line and column it starts on.</summary>
internal readonly record struct CircuitToken(string Text, int Line, int Column = 0);

/// <summary>
/// One token of look-ahead over a <see cref="CharacterReader"/>, shared by the DEF and Verilog lexers: they differ only in
/// how a token is scanned and which exception names the file and line.
/// </summary>
internal abstract class TokenLexer(TextReader reader, string source)
{
    private CircuitToken? _peeked;

    /// <summary>The character stream (comments are skipped by the subclass's scanner).</summary>
    protected CharacterReader Chars { get; } = new(reader);

    /// <summary>File name for messages.</summary>
    public string Source { get; } = source;

    /// <summary>1-based line of the next character.</summary>
    public int Line => Chars.Line;

    /// <summary>1-based column of the next character.</summary>
    public int Column => Chars.Column;

    /// <summary>The next token without consuming it (null at the end).</summary>
    public CircuitToken? Peek() => _peeked ??= Scan();

    /// <summary>Consumes and returns the next token (null at the end).</summary>
    public CircuitToken? Next()
    {
        var t = Peek();
        _peeked = null;
        return t;
    }

    /// <summary>The next token; at the end of the input an error saying <paramref name="what"/> was expected.</summary>
    public CircuitToken Expect(string what) => Next() ?? throw Error(Line, $"end of file: expected {what}", what);

    /// <summary>Tokens up to (not including) the next <paramref name="end"/>, which is consumed.</summary>
    public IEnumerable<CircuitToken> Until(string end)
    {
        while (true)
        {
            var t = Expect($"'{end}'");
            if (t.Text == end) yield break;
            yield return t;
        }
    }

    /// <summary>Reads the next token from <see cref="Chars"/> (null at the end).</summary>
    protected abstract CircuitToken? Scan();

    /// <summary>The file format's exception for a problem at <paramref name="line"/> (and <paramref name="column"/> when known).</summary>
    public abstract CircuitFormatException Error(int line, string message, string? expected = null, int column = 0);

    /// <summary>The file format's exception for a problem at token <paramref name="at"/>.</summary>
    public CircuitFormatException Error(CircuitToken at, string message, string? expected = null) => Error(at.Line, message, expected, at.Column);

    /// <summary>Appends a character to a token being scanned, refusing tokens over the length limit.</summary>
    protected void Append(StringBuilder token, int c) => CharacterReader.Append(token, c, m => Error(Line, m, column: Column));

    /// <summary>The next character without consuming it.</summary>
    protected int PeekChar() => Chars.Peek();

    /// <summary>Consumes the next character.</summary>
    protected int ReadChar() => Chars.Read();
}
