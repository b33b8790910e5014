using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace MLNetExt.Transforms.Circuits;

/// <summary>A Liberty file could not be read; the message names the file and line.</summary>
public sealed class LibertyFormatException(string file, int line, string message)
    : FormatException($"{file}:{line}: {message}")
{
    /// <summary>The file (or source name).</summary>
    public string File { get; } = file;
    /// <summary>1-based line number.</summary>
    public int Line { get; } = line;
}

/// <summary>A Liberty group (<c>name (args) { … }</c>) with its attributes and subgroups, in file order.</summary>
public sealed class LibertyGroup
{
    /// <summary>Group keyword, e.g. "cell", "pin", "timing", "cell_rise".</summary>
    public required string Kind { get; init; }
    /// <summary>Arguments in parentheses (e.g. the cell name, the table template).</summary>
    public required IReadOnlyList<string> Arguments { get; init; }
    /// <summary>Line where the group starts.</summary>
    public int Line { get; init; }
    /// <summary>Simple (<c>name : value ;</c>) and complex (<c>name (v1, v2) ;</c>) attributes: name → values.</summary>
    public List<(string Name, IReadOnlyList<string> Values, int Line)> Attributes { get; } = new();
    /// <summary>Subgroups.</summary>
    public List<LibertyGroup> Groups { get; } = new();

    /// <summary>The first group argument, or "" when there is none.</summary>
    public string Name => Arguments.Count > 0 ? Arguments[0] : "";

    /// <summary>The first value of attribute <paramref name="name"/>, or null.</summary>
    public string? Attribute(string name)
    {
        foreach (var a in Attributes) if (a.Name == name && a.Values.Count > 0) return a.Values[0];
        return null;
    }

    /// <summary>All values of attribute <paramref name="name"/> (e.g. the rows of <c>values</c>), or null.</summary>
    public IReadOnlyList<string>? AttributeValues(string name)
    {
        foreach (var a in Attributes) if (a.Name == name) return a.Values;
        return null;
    }

    /// <summary>Subgroups of kind <paramref name="kind"/>.</summary>
    public IEnumerable<LibertyGroup> GroupsOf(string kind) => Groups.Where(g => g.Kind == kind);
}

/// <summary>
/// Reads Liberty (.lib, .lib.gz) files into a <see cref="LibertyGroup"/> tree with a streaming tokenizer (comments,
/// quoted strings, backslash line continuations), then into a typed <see cref="LibertyLibrary"/>.
/// </summary>
public static class LibertyParser
{
    /// <summary>Parses <paramref name="path"/> (gzip when it ends in .gz) into a library.</summary>
    public static LibertyLibrary ReadLibrary(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Liberty file not found: {path}", path);
        using var stream = File.OpenRead(path);
        using var decoded = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(stream, CompressionMode.Decompress) : (Stream)stream;
        using var reader = new StreamReader(decoded, Encoding.UTF8);
        return LibertyLibrary.From(Parse(reader, Path.GetFileName(path)), Path.GetFileName(path));
    }

    /// <summary>Parses Liberty text into its top-level group (normally <c>library (name) { … }</c>).</summary>
    public static LibertyGroup Parse(TextReader reader, string source = "<text>")
    {
        var lexer = new Lexer(reader, source);
        var top = ParseGroupBody(lexer, null) ?? throw new LibertyFormatException(source, lexer.Line, "the file holds no Liberty group");
        return top;
    }

    // Reads statements until the closing brace of `group` (or the end of input for the top level).
    private static LibertyGroup? ParseGroupBody(Lexer lexer, LibertyGroup? group)
    {
        while (true)
        {
            var token = lexer.Next();
            if (token is null)
            {
                if (group is null) return null;
                throw new LibertyFormatException(lexer.Source, lexer.Line, $"end of file inside group '{group.Kind} ({group.Name})' opened at line {group.Line}: a '}}' is missing");
            }
            if (token.Value.Text == "}" && !token.Value.Quoted)
            {
                if (group is null) throw new LibertyFormatException(lexer.Source, token.Value.Line, "unexpected '}'");
                return group;
            }
            if (token.Value.Text == ";" && !token.Value.Quoted) continue;
            if (!IsIdentifier(token.Value))
                throw new LibertyFormatException(lexer.Source, token.Value.Line, $"expected an attribute or group name, found '{token.Value.Text}'");
            string name = token.Value.Text;
            int line = token.Value.Line;
            var next = lexer.Next() ?? throw new LibertyFormatException(lexer.Source, line, $"end of file after '{name}'");
            if (next.Text == ":" && !next.Quoted)
            {
                var values = new List<string>();
                var sb = new StringBuilder();
                while (true)
                {
                    var v = lexer.Next() ?? throw new LibertyFormatException(lexer.Source, line, $"attribute '{name}' is not terminated by ';'");
                    if (!v.Quoted && v.Text == ";") break;
                    if (!v.Quoted && (v.Text == "}" || v.Text == "{"))
                    {
                        // Some files omit the ';' before '}' — accept it and let the brace close the group.
                        lexer.PushBack(v);
                        break;
                    }
                    if (v.Line != line && !v.Quoted && values.Count + sb.Length > 0)
                    {
                        lexer.PushBack(v); // a missing ';' at the end of the line
                        break;
                    }
                    if (sb.Length > 0) sb.Append(' ');
                    sb.Append(v.Text);
                }
                values.Add(sb.ToString());
                (group ?? throw new LibertyFormatException(lexer.Source, line, $"attribute '{name}' outside any group")).Attributes.Add((name, values, line));
                continue;
            }
            if (next.Text != "(" || next.Quoted)
                throw new LibertyFormatException(lexer.Source, next.Line, $"after '{name}' expected ':' or '(', found '{next.Text}'");
            var arguments = new List<string>();
            while (true)
            {
                var a = lexer.Next() ?? throw new LibertyFormatException(lexer.Source, line, $"'(' after '{name}' is never closed");
                if (!a.Quoted && a.Text == ")") break;
                if (!a.Quoted && a.Text == ",") continue;
                arguments.Add(a.Text);
            }
            var after = lexer.Next();
            if (after is { Quoted: false, Text: "{" })
            {
                var child = new LibertyGroup { Kind = name, Arguments = arguments, Line = line };
                ParseGroupBody(lexer, child);
                if (group is null) return child;
                group.Groups.Add(child);
            }
            else
            {
                if (after is not null && !(after.Value.Text == ";" && !after.Value.Quoted)) lexer.PushBack(after.Value);
                (group ?? throw new LibertyFormatException(lexer.Source, line, $"attribute '{name}' outside any group")).Attributes.Add((name, arguments, line));
            }
        }
    }

    private static bool IsIdentifier(Token t) => !t.Quoted && t.Text.Length > 0 && (char.IsLetter(t.Text[0]) || t.Text[0] == '_');

    private readonly record struct Token(string Text, bool Quoted, int Line);

    private sealed class Lexer(TextReader reader, string source)
    {
        private readonly Stack<Token> _pushed = new();
        private readonly CharacterReader _chars = new(reader);

        public string Source { get; } = source;
        public int Line => _chars.Line;

        public void PushBack(Token token) => _pushed.Push(token);

        public Token? Next()
        {
            if (_pushed.Count > 0) return _pushed.Pop();
            while (true)
            {
                int c = Read();
                if (c < 0) return null;
                if (c == '\\' && (Peek() == '\n' || Peek() == '\r')) continue; // line continuation
                if (char.IsWhiteSpace((char)c)) continue;
                if (c == '/' && Peek() == '*')
                {
                    int start = Line;
                    Read();
                    if (!_chars.SkipPast('*', '/')) throw new LibertyFormatException(Source, start, "unterminated /* comment");
                    continue;
                }
                if (c == '/' && Peek() == '/')
                {
                    _chars.SkipLine();
                    continue;
                }
                if (c == '"')
                {
                    int start = Line;
                    var sb = new StringBuilder();
                    while (true)
                    {
                        int d = Read();
                        if (d < 0) throw new LibertyFormatException(Source, start, "unterminated string");
                        if (d == '\\' && (Peek() == '\n' || Peek() == '\r')) continue;
                        if (d == '"') break;
                        sb.Append((char)d);
                    }
                    return new Token(sb.ToString(), true, start);
                }
                if ("(){}:;,".IndexOf((char)c) >= 0) return new Token(((char)c).ToString(), false, Line);
                var word = new StringBuilder().Append((char)c);
                while (Peek() >= 0 && !char.IsWhiteSpace((char)Peek()) && "(){}:;,\"".IndexOf((char)Peek()) < 0) word.Append((char)Read());
                return new Token(word.ToString(), false, Line);
            }
        }

        private int Peek() => _chars.Peek();

        private int Read() => _chars.Read();
    }

    internal static double[] Numbers(string text, string what, string source, int line)
    {
        var parts = text.Split(new[] { ',', ' ', '\t' }, StringSplitOptions.RemoveEmptyEntries);
        var result = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out result[i]))
                throw new LibertyFormatException(source, line, $"{what}: '{parts[i]}' is not a number");
        return result;
    }
}
