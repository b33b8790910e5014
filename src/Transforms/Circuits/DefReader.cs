using System.Globalization;
using System.Text;

namespace MLNetExt;

/// <summary>A placed component (cell instance); coordinates in DEF database units.</summary>
public sealed record DefComponent(string Name, string Cell, long X, long Y, string Orientation, bool IsPlaced);

/// <summary>A design port (I/O pin) and where it is placed.</summary>
public sealed record DefPin(string Name, string Net, string Direction, long X, long Y, bool IsPlaced);

/// <summary>
/// A routed wire segment (two points on one layer) or a via (one point, <see cref="Via"/> set). <see cref="Layer"/> is the
/// layer its ROUTED/NEW statement names; DEF changes layer at every via along a statement's path, so the layer a segment
/// really lies on follows from the vias before it in the same <see cref="Statement"/> (see <see cref="DefViaLayers"/>).
/// </summary>
public sealed record DefRouteSegment(string Layer, long X0, long Y0, long X1, long Y1, string? Via, int Statement = 0);

/// <summary>A net: its connections (instance, pin; instance "PIN" for a design port) and routed segments (kept for RC extraction).</summary>
public sealed record DefNet(string Name, IReadOnlyList<(string Instance, string Pin)> Connections, IReadOnlyList<DefRouteSegment> Routes);

/// <summary>
/// What a DEF file describes: units, die area, components with placement, pins and nets with routing, and
/// (<c>ViaLayers</c>) the bottom and top routing layer of each via its VIAS section defines (vias from the LEF are not listed).
/// </summary>
public sealed record DefDesign(string Name, int DatabaseUnitsPerMicron, (long X0, long Y0, long X1, long Y1) DieArea,
    IReadOnlyDictionary<string, DefComponent> Components, IReadOnlyDictionary<string, DefPin> Pins, IReadOnlyDictionary<string, DefNet> Nets,
    IReadOnlyDictionary<string, (string Bottom, string Top)>? ViaLayers = null);

/// <summary>Streaming reader of the DEF sections timing needs (UNITS, DIEAREA, COMPONENTS, PINS, NETS with ROUTED/NEW).</summary>
public static class DefReader
{
    /// <summary>Reads <paramref name="path"/> (plain, .gz, or tar-in-gzip).</summary>
    public static DefDesign Read(string path)
    {
        using var reader = CircuitFiles.OpenText(path);
        return Read(reader, Path.GetFileName(path));
    }

    /// <summary>Reads DEF text.</summary>
    public static DefDesign Read(TextReader reader, string source = "<text>")
    {
        var lexer = new Lexer(reader, source);
        string name = "";
        int dbu = 0;
        (long, long, long, long) die = default;
        var components = new Dictionary<string, DefComponent>(StringComparer.Ordinal);
        var pins = new Dictionary<string, DefPin>(StringComparer.Ordinal);
        var nets = new Dictionary<string, DefNet>(StringComparer.Ordinal);
        var vias = new Dictionary<string, (string, string)>(StringComparer.Ordinal);
        var lines = new Dictionary<(string Section, string Name), int>();
        bool ended = false;
        // Records a section item's name, refusing one defined twice (DEF does not redefine; keeping either copy would be silently wrong).
        void Unique(string section, CircuitToken itemName)
        {
            if (!lines.TryAdd((section, itemName.Text), itemName.Line))
                throw lexer.Error(itemName, $"{section}: '{itemName.Text}' is defined twice: at line {lines[(section, itemName.Text)]} and at line {itemName.Line}");
        }
        while (!ended && lexer.Next() is { } t)
        {
            switch (t.Text)
            {
                case "DESIGN":
                    name = lexer.Expect("a design name").Text;
                    lexer.SkipStatement();
                    break;
                case "UNITS":
                {
                    var words = lexer.Statement();
                    if (words.Count < 3 || !int.TryParse(words[^1].Text, out dbu) || dbu <= 0)
                        throw new DefFormatException(source, t.Line, "UNITS must be 'UNITS DISTANCE MICRONS <positive integer> ;'");
                    break;
                }
                case "DIEAREA":
                {
                    var points = Points(lexer.Statement(), lexer);
                    if (points.Count < 2) throw new DefFormatException(source, t.Line, "DIEAREA needs at least two points");
                    die = (points.Min(p => p.X), points.Min(p => p.Y), points.Max(p => p.X), points.Max(p => p.Y));
                    break;
                }
                case "COMPONENTS":
                    foreach (var item in Items(lexer, t))
                    {
                        if (item.Count < 2) throw lexer.Error(item[0], "a component needs a name and a cell", "- name cell … ;");
                        Unique("COMPONENTS", item[0]);
                        var (x, y, orient, placed) = Placement(item, lexer);
                        components[item[0].Text] = new DefComponent(item[0].Text, item[1].Text, x, y, orient, placed);
                    }
                    break;
                case "PINS":
                    foreach (var item in Items(lexer, t))
                    {
                        string Option(string key) => item.SkipWhile(w => w.Text != key).Skip(1).FirstOrDefault().Text ?? "";
                        Unique("PINS", item[0]);
                        var (x, y, _, placed) = Placement(item, lexer);
                        pins[item[0].Text] = new DefPin(item[0].Text, Option("NET"), Option("DIRECTION"), x, y, placed);
                    }
                    break;
                case "NETS":
                    foreach (var item in Items(lexer, t))
                    {
                        Unique("NETS", item[0]);
                        nets[item[0].Text] = Net(item, lexer);
                    }
                    break;
                case "END":
                    if (lexer.Next() is not { Text: "DESIGN" })
                        throw lexer.Error(t, "'END' outside a section: expected 'END DESIGN'", "END DESIGN");
                    ended = true;
                    break;
                case "VIAS":
                    foreach (var item in Items(lexer, t))
                    {
                        Unique("VIAS", item[0]);
                        if (ViaLayerPair(item) is { } pair) vias[item[0].Text] = pair;
                    }
                    break;
                case "SPECIALNETS" or "NONDEFAULTRULES" or "REGIONS" or "GROUPS" or "BLOCKAGES" or "FILLS" or "PROPERTYDEFINITIONS" or "STYLES":
                    lexer.SkipSection(t.Text);
                    break;
                default:
                    lexer.SkipStatement(); // VERSION, DIVIDERCHAR, ROW, TRACKS, GCELLGRID, …
                    break;
            }
        }
        if (!ended) throw lexer.Error(lexer.Line, "end of file before 'END DESIGN': the file is truncated", "END DESIGN");
        if (dbu == 0) throw lexer.Error(lexer.Line, "no UNITS DISTANCE MICRONS statement", "UNITS DISTANCE MICRONS <n> ;");
        return new DefDesign(name, dbu, die, components, pins, nets, vias);
    }

    // A via's routing layers: "+ LAYERS bottom cut top" (generated vias), else the first and last layer of its RECT shapes.
    private static (string, string)? ViaLayerPair(List<CircuitToken> item)
    {
        int at = item.FindIndex(t => t.Text == "LAYERS");
        if (at >= 0 && at + 3 < item.Count) return (item[at + 1].Text, item[at + 3].Text);
        var rects = new List<string>();
        for (int i = 0; i + 1 < item.Count; i++)
            if (item[i].Text == "RECT" && !rects.Contains(item[i + 1].Text)) rects.Add(item[i + 1].Text);
        return rects.Count >= 2 ? (rects[0], rects[^1]) : null;
    }

    // The "- name … ;" items of a section ("SECTION count ;" … "END SECTION"); the number of items must be the declared count.
    private static IEnumerable<List<CircuitToken>> Items(Lexer lexer, CircuitToken start)
    {
        string section = start.Text;
        var header = lexer.Statement();
        if (header.Count != 1 || !int.TryParse(header[0].Text, NumberStyles.None, CultureInfo.InvariantCulture, out int declared))
            throw lexer.Error(start, $"{section} must be followed by its item count and ';'", $"{section} <count> ;");
        int count = 0;
        while (true)
        {
            var t = lexer.Expect($"END {section}");
            if (t.Text == "END")
            {
                var what = lexer.Expect(section);
                if (what.Text != section) throw lexer.Error(what, $"expected END {section}, found END {CircuitNumbers.Clip(what.Text)}", $"END {section}");
                if (count != declared)
                    throw lexer.Error(t, $"{section} (line {start.Line}) declares {declared:N0} items but holds {count:N0}", $"{declared} items");
                yield break;
            }
            if (t.Text != "-") throw lexer.Error(t, $"in {section}: expected '-' starting an item, found '{CircuitNumbers.Clip(t.Text)}'", "'-'");
            var item = lexer.Statement();
            if (item.Count == 0) throw lexer.Error(t, $"in {section}: an item has no name ('- ;')", "- name … ;");
            count++;
            yield return item;
        }
    }

    private static (long X, long Y, string Orientation, bool Placed) Placement(List<CircuitToken> item, Lexer lexer)
    {
        for (int i = 0; i < item.Count; i++)
        {
            if (item[i].Text is "PLACED" or "FIXED" or "COVER")
            {
                if (i + 5 >= item.Count || item[i + 1].Text != "(" || item[i + 4].Text != ")")
                    throw lexer.Error(item[i], $"{item[i].Text} must be followed by ( x y ) orientation", "( x y ) orientation");
                return (Long(item[i + 2], lexer), Long(item[i + 3], lexer), item[i + 5].Text, true);
            }
        }
        return (0, 0, "", false);
    }

    // "- name ( inst pin )… [+ option …]… ;" with the routing of "+ ROUTED layer ( x y [ext] ) [via] … NEW layer …".
    // Inside a route only points, vias, NEW and the routing keywords (TAPER, TAPERRULE, STYLE, SHAPE, MASK, RECT, VIRTUAL)
    // may appear, so a lost parenthesis or a stray number is refused instead of silently dropping a segment.
    private static DefNet Net(List<CircuitToken> item, Lexer lexer)
    {
        string net = item[0].Text;
        var connections = new List<(string, string)>();
        var routes = new List<DefRouteSegment>();
        int i = 1;
        while (i < item.Count && item[i].Text == "(")
        {
            if (i + 3 >= item.Count || item[i + 3].Text != ")" || item[i + 1].Text is "(" or ")" || item[i + 2].Text is "(" or ")")
                throw lexer.Error(item[i], $"net '{net}': a connection must be ( instance pin )", "( instance pin )");
            connections.Add((item[i + 1].Text, item[i + 2].Text));
            i += 4;
        }
        if (i < item.Count && item[i].Text != "+")
            throw lexer.Error(item[i], $"net '{net}': expected '( instance pin )' or '+', found '{CircuitNumbers.Clip(item[i].Text)}'", "'(' or '+'");
        string? layer = null;
        long? lastX = null, lastY = null;
        int statement = -1;
        for (; i < item.Count; i++)
        {
            var w = item[i].Text;
            if (w.Length == 0) throw lexer.Error(item[i], $"net '{net}': an empty string (\"\") in its connections or routing", "a name, a point or a net option");
            if (w == "+")
            {
                layer = null; // a new net option starts (+ USE, + ROUTED, + WEIGHT …)
                lastX = lastY = null;
                continue;
            }
            if (w == "NEW" || w is "ROUTED" or "FIXED" or "COVER" or "NOSHIELD" && item[i - 1].Text == "+")
            {
                if (i + 1 >= item.Count || item[i + 1].Text is "(" or "+" or "NEW")
                    throw lexer.Error(item[i], $"net '{net}': {w} without a layer", "a layer name");
                layer = item[i + 1].Text;
                lastX = lastY = null;
                statement++;
                i++;
                continue;
            }
            if (layer is null) continue; // the words of another net option (USE SIGNAL, WEIGHT 2, …)
            if (w == "(")
            {
                // ( x y [ext] ) — '*' repeats the previous coordinate.
                int close = i + 3 < item.Count && item[i + 3].Text == ")" ? i + 3 : i + 4 < item.Count && item[i + 4].Text == ")" ? i + 4 : -1;
                if (close < 0) throw lexer.Error(item[i], $"net '{net}': malformed route point (expected '( x y )' or '( x y ext )')", "( x y )");
                long x = item[i + 1].Text == "*" ? lastX ?? throw lexer.Error(item[i], $"net '{net}': '*' with no previous point") : Long(item[i + 1], lexer);
                long y = item[i + 2].Text == "*" ? lastY ?? throw lexer.Error(item[i], $"net '{net}': '*' with no previous point") : Long(item[i + 2], lexer);
                if (close == i + 4) Long(item[i + 3], lexer); // the extension value
                if (lastX is long px && lastY is long py) routes.Add(new DefRouteSegment(layer, px, py, x, y, null, statement));
                lastX = x;
                lastY = y;
                i = close;
                continue;
            }
            switch (w)
            {
                case "TAPER":
                    continue;
                case "TAPERRULE" or "STYLE" or "SHAPE" or "MASK":
                    if (i + 1 >= item.Count) throw lexer.Error(item[i], $"net '{net}': {w} needs a value");
                    i++;
                    continue;
                case "RECT" or "VIRTUAL":
                {
                    int values = w == "RECT" ? 4 : 2;
                    if (i + values + 2 >= item.Count || item[i + 1].Text != "(" || item[i + values + 2].Text != ")")
                        throw lexer.Error(item[i], $"net '{net}': {w} must be followed by ( {(w == "RECT" ? "dx1 dy1 dx2 dy2" : "x y")} )");
                    for (int k = 0; k < values; k++) if (item[i + 2 + k].Text != "*") Long(item[i + 2 + k], lexer);
                    i += values + 2;
                    continue;
                }
            }
            if (w == ")" || char.IsDigit(w[0]) || w[0] == '-' || w == "*")
                throw lexer.Error(item[i], $"net '{net}': unexpected '{CircuitNumbers.Clip(w)}' in its routing (a lost parenthesis?)", "a point, a via or NEW");
            if (lastX is not long vx || lastY is not long vy)
                throw lexer.Error(item[i], $"net '{net}': via '{CircuitNumbers.Clip(w)}' before the first point of its route", "( x y )");
            routes.Add(new DefRouteSegment(layer, vx, vy, vx, vy, w, statement)); // a via at the last point
        }
        return new DefNet(net, connections, routes);
    }

    private static List<(long X, long Y)> Points(List<CircuitToken> words, Lexer lexer)
    {
        var points = new List<(long, long)>();
        for (int i = 0; i + 3 < words.Count; i++)
            if (words[i].Text == "(" && words[i + 3].Text == ")")
                points.Add((Long(words[i + 1], lexer), Long(words[i + 2], lexer)));
        return points;
    }

    // DEF coordinates are 32-bit integers in database units (LEF/DEF 5.8); larger values are refused rather than wrapped.
    private static long Long(CircuitToken t, Lexer lexer) =>
        int.TryParse(t.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
            ? v : throw lexer.Error(t, $"'{CircuitNumbers.Clip(t.Text)}' is not an integer coordinate (32-bit, database units)", "an integer");

    internal sealed class Lexer(TextReader reader, string source) : TokenLexer(reader, source)
    {
        /// <summary>Tokens up to (not including) the next ';'.</summary>
        public List<CircuitToken> Statement() => Until(";").ToList();

        public void SkipStatement() => Statement();

        public void SkipSection(string section)
        {
            while (true)
            {
                var t = Expect($"END {section}");
                if (t.Text == "END" && Peek()?.Text == section) { Next(); return; }
            }
        }

        public override CircuitFormatException Error(int line, string message, string? expected = null, int column = 0) =>
            new DefFormatException(Source, line, message, column, expected);

        protected override CircuitToken? Scan()
        {
            while (true)
            {
                int c = ReadChar();
                if (c < 0) return null;
                if (char.IsWhiteSpace((char)c)) continue;
                if (c == '#') { Chars.SkipLine(); continue; }
                int line = Line, column = Column - 1;
                if (c == '"')
                {
                    var s = new StringBuilder();
                    while (PeekChar() >= 0 && PeekChar() != '"') Append(s, ReadChar());
                    if (ReadChar() < 0) throw Error(line, "unterminated string", "'\"'", column);
                    return new CircuitToken(s.ToString(), line, column);
                }
                var word = new StringBuilder().Append((char)c);
                while (PeekChar() >= 0 && !char.IsWhiteSpace((char)PeekChar())) Append(word, ReadChar());
                return new CircuitToken(word.ToString(), line, column);
            }
        }
    }
}
