namespace MLNetExt;

/// <summary>
/// Character-level reading with one character of look-ahead and line counting, shared by the circuit-file lexers
/// (Liberty, Verilog, DEF) so their error messages can name the line.
/// </summary>
internal sealed class CharacterReader(TextReader reader)
{
    private int _peek = -2;

    /// <summary>1-based line of the next character.</summary>
    public int Line { get; private set; } = 1;

    /// <summary>1-based column of the next character.</summary>
    public int Column { get; private set; } = 1;

    /// <summary>The next character without consuming it (−1 at the end).</summary>
    public int Peek() => _peek == -2 ? (_peek = reader.Read()) : _peek;

    /// <summary>Consumes and returns the next character (−1 at the end).</summary>
    public int Read()
    {
        int c = Peek();
        _peek = -2;
        if (c == '\n')
        {
            Line++;
            Column = 1;
        }
        else if (c >= 0) Column++;
        return c;
    }

    /// <summary>
    /// Appends <paramref name="c"/> to a token being scanned; a token longer than <see cref="InputLimits.MaxTokenLength"/>
    /// (a file without separators, or binary data) is refused through <paramref name="error"/>.
    /// </summary>
    public static void Append(System.Text.StringBuilder token, int c, Func<string, Exception> error)
    {
        if (token.Length >= InputLimits.MaxTokenLength) throw error($"a token is longer than {InputLimits.MaxTokenLength:N0} characters (is this a text file of the right format?)");
        token.Append((char)c);
    }

    /// <summary>Skips the rest of the line (a line comment); the newline stays unread.</summary>
    public void SkipLine()
    {
        while (Peek() >= 0 && Peek() != '\n') Read();
    }

    /// <summary>Skips past the two-character terminator (e.g. "*/"); false when the input ends first.</summary>
    public bool SkipPast(char first, char second)
    {
        while (true)
        {
            int c = Read();
            if (c < 0) return false;
            if (c == first && Peek() == second)
            {
                Read();
                return true;
            }
        }
    }
}
