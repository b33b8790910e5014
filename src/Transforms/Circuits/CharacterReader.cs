namespace MLNetExt.Transforms.Circuits;

/// <summary>
/// Character-level reading with one character of look-ahead and line counting, shared by the circuit-file lexers
/// (Liberty, Verilog, DEF) so their error messages can name the line.
/// </summary>
internal sealed class CharacterReader(TextReader reader)
{
    private int _peek = -2;

    /// <summary>1-based line of the next character.</summary>
    public int Line { get; private set; } = 1;

    /// <summary>The next character without consuming it (−1 at the end).</summary>
    public int Peek() => _peek == -2 ? (_peek = reader.Read()) : _peek;

    /// <summary>Consumes and returns the next character (−1 at the end).</summary>
    public int Read()
    {
        int c = Peek();
        _peek = -2;
        if (c == '\n') Line++;
        return c;
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
