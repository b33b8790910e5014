using System.Text;

namespace MLNetExt;

/// <summary>Direction of a module port.</summary>
public enum PortDirection
{
    /// <summary>input</summary>
    Input,
    /// <summary>output</summary>
    Output,
    /// <summary>inout</summary>
    InOut,
}

/// <summary>A port bit (buses are expanded to <c>name[i]</c>).</summary>
public sealed record NetlistPort(string Name, PortDirection Direction);

/// <summary>A cell instance: library cell, instance name and pin → net connections (bus bits as <c>net[i]</c>).</summary>
public sealed record NetlistInstance(string CellType, string Name, IReadOnlyDictionary<string, string> Connections, int Line);

/// <summary>A flat structural Verilog module (what place-and-route flows write).</summary>
public sealed record VerilogModule(string Name, IReadOnlyList<NetlistPort> Ports, IReadOnlyList<NetlistInstance> Instances,
    IReadOnlyList<(string Target, string Source)> Assigns);

/// <summary>
/// Streaming reader of flat structural Verilog: module header, port declarations (buses expanded), wires, cell instances
/// with named connections, and simple assigns. Behavioural constructs are rejected with the file and line.
/// </summary>
public static class VerilogNetlistReader
{
    /// <summary>Reads the first module of <paramref name="path"/> (plain, .gz, or tar-in-gzip).</summary>
    public static VerilogModule Read(string path)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>Reads the first module of Verilog text.</summary>
    public static VerilogModule Read(TextReader reader, string source = "<text>")
    {
        var lexer = new Lexer(reader, source);
        string? name = null;
        var portOrder = new List<string>();
        var ports = new Dictionary<string, List<NetlistPort>>(StringComparer.Ordinal);
        var instances = new List<NetlistInstance>();
        var instanceLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var portLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var assignLines = new Dictionary<string, int>(StringComparer.Ordinal);
        var assigns = new List<(string, string)>();
        while (lexer.Next() is { } token)
        {
            switch (token.Text)
            {
                case "module":
                    if (name is not null) throw lexer.Error(token, $"'module' inside module '{name}': 'endmodule' is missing", "'endmodule'");
                    name = lexer.Expect("a module name").Text;
                    if (lexer.Peek()?.Text == "(")
                    {
                        lexer.Next();
                        foreach (var p in lexer.Until(")")) if (p.Text != ",") portOrder.Add(p.Text);
                    }
                    lexer.ExpectSymbol(";");
                    break;
                case "input" or "output" or "inout":
                {
                    var direction = token.Text == "input" ? PortDirection.Input : token.Text == "output" ? PortDirection.Output : PortDirection.InOut;
                    var (names, range) = Declaration(lexer);
                    foreach (var n in names)
                    {
                        if (!portLines.TryAdd(n.Text, n.Line))
                            throw lexer.Error(n, $"port '{n.Text}' is declared twice: at line {portLines[n.Text]} and at line {n.Line}");
                        ports[n.Text] = Bits(n.Text, range).Select(b => new NetlistPort(b, direction)).ToList();
                    }
                    break;
                }
                case "wire" or "tri" or "supply0" or "supply1":
                    Declaration(lexer);
                    break;
                case "assign":
                {
                    int at = lexer.Peek()?.Line ?? token.Line;
                    var target = Signal(lexer);
                    lexer.ExpectSymbol("=");
                    var value = Signal(lexer);
                    lexer.ExpectSymbol(";");
                    if (!assignLines.TryAdd(target, at))
                        throw lexer.Error(token, $"'{target}' is assigned twice (two drivers): at line {assignLines[target]} and at line {at}");
                    assigns.Add((target, value));
                    break;
                }
                case "endmodule":
                    if (name is null) throw new NetlistFormatException(source, token.Line, "'endmodule' without 'module'");
                    var orderedPorts = portOrder.Where(ports.ContainsKey).SelectMany(p => ports[p])
                        .Concat(ports.Where(kv => !portOrder.Contains(kv.Key)).SelectMany(kv => kv.Value)).ToList();
                    return new VerilogModule(name, orderedPorts, instances, assigns);
                case "always" or "initial" or "reg" or "function" or "task" or "generate":
                    throw new NetlistFormatException(source, token.Line, $"'{token.Text}' is behavioural Verilog; only flat structural netlists (cell instances) are supported");
                default:
                    if (name is null) throw lexer.Error(token, $"'{CircuitNumbers.Clip(token.Text)}' before 'module'", "'module'");
                    var instance = Instance(lexer, token);
                    if (!instanceLines.TryAdd(instance.Name, instance.Line))
                        throw lexer.Error(token, $"instance '{instance.Name}' is defined twice: at line {instanceLines[instance.Name]} and at line {instance.Line}");
                    instances.Add(instance);
                    break;
            }
        }
        throw new NetlistFormatException(source, lexer.Line, name is null ? "no module found" : $"module '{name}' has no 'endmodule'");
    }

    private static NetlistInstance Instance(Lexer lexer, CircuitToken cell)
    {
        if (lexer.Peek()?.Text == "#") throw new NetlistFormatException(lexer.Source, cell.Line, $"parameterised instance of '{cell.Text}' is not supported");
        var instance = lexer.Expect($"an instance name after cell '{cell.Text}'");
        lexer.ExpectSymbol("(");
        var connections = new Dictionary<string, string>(StringComparer.Ordinal);
        while (true)
        {
            var t = lexer.Expect($"a connection in instance '{instance.Text}'");
            if (t.Text == ")") break;
            if (t.Text == ",") continue;
            if (t.Text != ".")
                throw new NetlistFormatException(lexer.Source, t.Line, $"instance '{instance.Text}' uses positional connections; only named (.PIN(net)) connections are supported");
            var pin = lexer.Expect("a pin name").Text;
            lexer.ExpectSymbol("(");
            if (lexer.Peek()?.Text == ")") { lexer.Next(); continue; } // unconnected pin
            var net = Signal(lexer);
            lexer.ExpectSymbol(")");
            if (!connections.TryAdd(pin, net))
                throw lexer.Error(t, $"instance '{instance.Text}' connects pin '{pin}' twice", "one connection per pin");
        }
        lexer.ExpectSymbol(";");
        return new NetlistInstance(cell.Text, instance.Text, connections, cell.Line);
    }

    // name or name[i], or a constant like 1'b0.
    private static string Signal(Lexer lexer)
    {
        var t = lexer.Expect("a signal");
        if (t.Text == "{") throw new NetlistFormatException(lexer.Source, t.Line, "concatenations ({…}) in connections are not supported");
        if (lexer.Peek()?.Text == "[")
        {
            lexer.Next();
            var index = lexer.Expect("a bit index").Text;
            lexer.ExpectSymbol("]");
            return $"{t.Text}[{index}]";
        }
        return t.Text;
    }

    // [msb:lsb] names… ; — the range is checked (integers, at most InputLimits.MaxBusWidth bits) before any bit is expanded.
    private static (List<CircuitToken> Names, (int Msb, int Lsb)? Range) Declaration(Lexer lexer)
    {
        (int, int)? range = null;
        if (lexer.Peek()?.Text == "[")
        {
            var open = lexer.Next()!.Value;
            int msb = BitIndex(lexer, lexer.Expect("an msb"));
            lexer.ExpectSymbol(":");
            int lsb = BitIndex(lexer, lexer.Expect("an lsb"));
            lexer.ExpectSymbol("]");
            long width = Math.Abs((long)msb - lsb) + 1;
            if (width > InputLimits.MaxBusWidth)
                throw lexer.Error(open, $"bus range [{msb}:{lsb}] is {width:N0} bits wide; at most {InputLimits.MaxBusWidth:N0} are supported", $"at most {InputLimits.MaxBusWidth:N0} bits");
            range = (msb, lsb);
        }
        var names = new List<CircuitToken>();
        foreach (var t in lexer.Until(";"))
        {
            if (t.Text == ",") continue;
            if (t.Text is "[" or "]" or "(" or ")" or "=" or "{" or "}" or ":" or "." or "#")
                throw lexer.Error(t, $"expected a name in the declaration, found '{t.Text}'", "a name");
            names.Add(t);
        }
        return (names, range);
    }

    private static int BitIndex(Lexer lexer, CircuitToken t) =>
        int.TryParse(t.Text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int v)
            ? v : throw lexer.Error(t, $"bus bound '{CircuitNumbers.Clip(t.Text)}' is not a non-negative integer below 2^31", "a bit index");

    private static IEnumerable<string> Bits(string name, (int Msb, int Lsb)? range)
    {
        if (range is not { } r) { yield return name; yield break; }
        int step = r.Msb >= r.Lsb ? -1 : 1;
        for (int i = r.Msb; ; i += step)
        {
            yield return $"{name}[{i}]";
            if (i == r.Lsb) break;
        }
    }

    private sealed class Lexer(TextReader reader, string source) : TokenLexer(reader, source)
    {
        public void ExpectSymbol(string symbol)
        {
            var t = Expect($"'{symbol}'");
            if (t.Text != symbol) throw Error(t, $"expected '{symbol}', found '{CircuitNumbers.Clip(t.Text)}'", $"'{symbol}'");
        }

        public override CircuitFormatException Error(int line, string message, string? expected = null, int column = 0) =>
            new NetlistFormatException(Source, line, message, column, expected);

        protected override CircuitToken? Scan()
        {
            while (true)
            {
                int c = ReadChar();
                if (c < 0) return null;
                if (char.IsWhiteSpace((char)c)) continue;
                if (c == '/' && PeekChar() == '/') { Chars.SkipLine(); continue; }
                if (c == '/' && PeekChar() == '*')
                {
                    int start = Line;
                    ReadChar();
                    if (!Chars.SkipPast('*', '/')) throw new NetlistFormatException(Source, start, "unterminated /* comment");
                    continue;
                }
                if (c == '(' && PeekChar() == '*') // (* attribute *)
                {
                    ReadChar();
                    if (!Chars.SkipPast('*', ')')) throw new NetlistFormatException(Source, Line, "unterminated (* attribute *)");
                    continue;
                }
                int line = Line, column = Column - 1;
                if (c == '\\')
                {
                    // Escaped identifier: everything up to the next white space, kept without the backslash.
                    var escaped = new StringBuilder();
                    while (PeekChar() >= 0 && !char.IsWhiteSpace((char)PeekChar())) Append(escaped, ReadChar());
                    if (escaped.Length == 0) throw Error(line, "'\\' starts an escaped identifier but no name follows", "a name", column);
                    return new CircuitToken(escaped.ToString(), line, column);
                }
                if ("().,;:[]{}=#".IndexOf((char)c) >= 0) return new CircuitToken(((char)c).ToString(), line, column);
                var word = new StringBuilder().Append((char)c);
                while (PeekChar() >= 0 && (char.IsLetterOrDigit((char)PeekChar()) || "_$'".IndexOf((char)PeekChar()) >= 0)) Append(word, ReadChar());
                return new CircuitToken(word.ToString(), line, column);
            }
        }
    }
}
