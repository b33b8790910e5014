using System.Text;

namespace MLNetExt;


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
    /// <summary>Parses <paramref name="path"/> (plain or gzip, whatever the name) into a library.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="CircuitFormatException">The file (or its gzip container) is malformed; the message names file and line.</exception>
    public static LibertyLibrary ReadLibrary(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"Liberty file not found: {path}", path);
        using var reader = CircuitFiles.OpenText(path);
        return LibertyLibrary.From(Parse(reader, Path.GetFileName(path)), Path.GetFileName(path));
    }

    /// <summary>
    /// Parses Liberty text into its top-level group (normally <c>library (name) { … }</c>). Groups are parsed without
    /// recursion; nesting deeper than <see cref="InputLimits.MaxNestingDepth"/> levels is refused.
    /// </summary>
    /// <exception cref="LibertyFormatException">The text is malformed; the message names the source, line and column.</exception>
    public static LibertyGroup Parse(TextReader reader, string source = "<text>")
    {
        var lexer = new Lexer(reader, source);
        var open = new Stack<LibertyGroup>(); // groups whose '}' is still to come; the top one receives statements
        LibertyGroup? top = null;
        while (true)
        {
            var token = lexer.Next();
            var group = open.Count > 0 ? open.Peek() : null;
            if (token is null)
            {
                if (group is null) break;
                throw lexer.Error(lexer.Line, $"end of file inside group '{group.Kind} ({group.Name})' opened at line {group.Line}: a '}}' is missing", "'}'");
            }
            if (token.Value.Text == "}" && !token.Value.Quoted)
            {
                if (group is null) throw lexer.Error(token.Value, "unexpected '}' outside any group");
                open.Pop();
                continue;
            }
            if (token.Value.Text == ";" && !token.Value.Quoted) continue;
            if (group is null && top is not null)
                throw lexer.Error(token.Value, $"'{CircuitNumbers.Clip(token.Value.Text)}' after the end of group '{top.Kind} ({top.Name})' (line {top.Line}): a Liberty file holds one top-level group");
            if (!IsIdentifier(token.Value))
                throw lexer.Error(token.Value, $"expected an attribute or group name, found '{CircuitNumbers.Clip(token.Value.Text)}'", "an attribute or group name");
            string name = token.Value.Text;
            int line = token.Value.Line;
            var next = lexer.Next() ?? throw lexer.Error(token.Value, $"end of file after '{name}'", "':' or '('");
            if (next.Text == ":" && !next.Quoted)
            {
                var values = new List<string>();
                var sb = new StringBuilder();
                while (true)
                {
                    var v = lexer.Next() ?? throw lexer.Error(token.Value, $"attribute '{name}' is not terminated by ';'", "';'");
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
                    if (sb.Length > InputLimits.MaxTokenLength) throw lexer.Error(v, $"attribute '{name}' is longer than {InputLimits.MaxTokenLength:N0} characters");
                    sb.Append(v.Text);
                }
                values.Add(sb.ToString());
                (group ?? throw lexer.Error(token.Value, $"attribute '{name}' outside any group")).Attributes.Add((name, values, line));
                continue;
            }
            if (next.Text != "(" || next.Quoted)
                throw lexer.Error(next, $"after '{name}' expected ':' or '(', found '{CircuitNumbers.Clip(next.Text)}'", "':' or '('");
            var arguments = new List<string>();
            long argumentChars = 0;
            while (true)
            {
                var a = lexer.Next() ?? throw lexer.Error(next, $"'(' after '{name}' is never closed", "')'");
                if (!a.Quoted && a.Text == ")") break;
                if (!a.Quoted && a.Text == ",") continue;
                if (!a.Quoted && a.Text is "{" or "}" or ";")
                    throw lexer.Error(a, $"'(' after '{name}' (line {line}) is not closed before '{a.Text}'", "')'");
                if ((argumentChars += a.Text.Length) > InputLimits.MaxTokenLength)
                    throw lexer.Error(a, $"the arguments of '{name}' are longer than {InputLimits.MaxTokenLength:N0} characters");
                arguments.Add(a.Text);
            }
            var after = lexer.Next();
            if (after is { Quoted: false, Text: "{" })
            {
                if (open.Count >= InputLimits.MaxNestingDepth)
                    throw lexer.Error(after.Value, $"groups are nested deeper than {InputLimits.MaxNestingDepth} levels (is a '}}' missing?)");
                var child = new LibertyGroup { Kind = name, Arguments = arguments, Line = line };
                if (group is null) top = child;
                else group.Groups.Add(child);
                open.Push(child);
            }
            else
            {
                if (after is not null && !(after.Value.Text == ";" && !after.Value.Quoted)) lexer.PushBack(after.Value);
                (group ?? throw lexer.Error(token.Value, $"attribute '{name}' outside any group")).Attributes.Add((name, arguments, line));
            }
        }
        return top ?? throw new LibertyFormatException(source, lexer.Line, "the file holds no Liberty group", expected: "library (name) { … }");
    }

    private static bool IsIdentifier(Token t) => !t.Quoted && t.Text.Length > 0 && (char.IsLetter(t.Text[0]) || t.Text[0] == '_');

    private readonly record struct Token(string Text, bool Quoted, int Line, int Column = 0);

    private sealed class Lexer(TextReader reader, string source)
    {
        private readonly Stack<Token> _pushed = new();
        private readonly CharacterReader _chars = new(reader);

        public string Source { get; } = source;
        public int Line => _chars.Line;

        public void PushBack(Token token) => _pushed.Push(token);

        public LibertyFormatException Error(int line, string message, string? expected = null, int column = 0) =>
            new(Source, line, message, column, expected);

        public LibertyFormatException Error(Token at, string message, string? expected = null) => Error(at.Line, message, expected, at.Column);

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
                int column = _chars.Column - 1;
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
                        CharacterReader.Append(sb, d, m => Error(start, m, column: column));
                    }
                    return new Token(sb.ToString(), true, start, column);
                }
                if ("(){}:;,".IndexOf((char)c) >= 0) return new Token(((char)c).ToString(), false, Line, column);
                var word = new StringBuilder().Append((char)c);
                while (Peek() >= 0 && !char.IsWhiteSpace((char)Peek()) && "(){}:;,\"".IndexOf((char)Peek()) < 0) CharacterReader.Append(word, Read(), m => Error(Line, m, column: column));
                return new Token(word.ToString(), false, Line, column);
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
            if (!CircuitNumbers.TryFinite(parts[i], out result[i]))
                throw new LibertyFormatException(source, line, $"{what}: {CircuitNumbers.Problem(parts[i])}", expected: "a finite number");
        return result;
    }
}
