namespace MLNetExt;

/// <summary>
/// Reads lines (ending in \n, \r\n or \r) with a length limit, counting them, so a file without line breaks cannot make
/// the reader hold one huge string.
/// </summary>
internal sealed class LineReader(TextReader reader, string source, int maxLength, Func<string, int, string, Exception> error)
{
    private readonly char[] _buffer = new char[1 << 14];
    private int _start, _end;
    private readonly System.Text.StringBuilder _line = new();

    /// <summary>1-based number of the line last returned.</summary>
    public int LineNumber { get; private set; }

    /// <summary>Whether the line last returned ended with a line break (false for a last line cut short).</summary>
    public bool Terminated { get; private set; } = true;

    /// <summary>The next line without its terminator, or null at the end.</summary>
    public string? ReadLine()
    {
        _line.Clear();
        Terminated = true;
        bool any = false;
        while (true)
        {
            if (_start == _end)
            {
                _start = 0;
                _end = reader.Read(_buffer, 0, _buffer.Length);
                if (_end <= 0)
                {
                    _end = 0;
                    if (!any) return null;
                    Terminated = false;
                    break;
                }
            }
            any = true;
            int i = _start;
            while (i < _end && _buffer[i] != '\n' && _buffer[i] != '\r') i++;
            Append(i - _start);
            if (i < _end)
            {
                char c = _buffer[i];
                _start = i + 1;
                if (c == '\r')
                {
                    if (_start == _end) { _start = 0; _end = Math.Max(0, reader.Read(_buffer, 0, _buffer.Length)); }
                    if (_start < _end && _buffer[_start] == '\n') _start++;
                }
                break;
            }
            _start = i;
        }
        LineNumber++;
        return _line.ToString();
    }

    private void Append(int count)
    {
        if (_line.Length + count > maxLength)
            throw error(source, LineNumber + 1, $"the line is longer than {maxLength:N0} characters (is this the right file?)");
        _line.Append(_buffer, _start, count);
    }
}
