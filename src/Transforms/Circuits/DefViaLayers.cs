namespace MLNetExt;

/// <summary>
/// Follows the layer changes along DEF routing: a ROUTED/NEW statement names only the layer it starts on, and every via
/// on its path moves the path to the via's other layer. Reading every segment on the starting layer puts, e.g., a
/// sky130 net's met2/met3 wires on the local-interconnect layer li1 (80× the resistance per micrometre).
/// </summary>
public static class DefViaLayers
{
    /// <summary>
    /// The route segments of one net with <see cref="DefRouteSegment.Layer"/> set to the layer each really lies on; a via
    /// keeps the layer the path arrives on. Vias whose layers cannot be told leave the path on its current layer.
    /// </summary>
    /// <param name="routes">A net's segments in file order (<see cref="DefNet.Routes"/>).</param>
    /// <param name="stack">Routing layers bottom to top (<see cref="LayerRc.Stack"/>).</param>
    /// <param name="defined">Vias defined in the DEF's VIAS section with their layers (<see cref="DefDesign.ViaLayers"/>), or null.</param>
    /// <param name="known">Optional memo of via name → layer pair shared across the nets of one design: a design uses a
    /// handful of via names over hundreds of thousands of vias.</param>
    public static IEnumerable<DefRouteSegment> Resolve(IEnumerable<DefRouteSegment> routes, IReadOnlyList<string> stack,
        IReadOnlyDictionary<string, (string Bottom, string Top)>? defined, IDictionary<string, (string Bottom, string Top)?>? known = null)
    {
        int statement = int.MinValue;
        string current = "";
        foreach (var segment in routes)
        {
            if (segment.Statement != statement) { statement = segment.Statement; current = segment.Layer; }
            yield return segment.Layer == current ? segment : segment with { Layer = current };
            if (segment.Via is { } via) current = Other(Pair(via, stack, defined, known), current) ?? current;
        }
    }

    /// <summary>The layer a path on <paramref name="current"/> continues on after <paramref name="via"/>, or null when unknown.</summary>
    public static string? Next(string via, string current, IReadOnlyList<string> stack, IReadOnlyDictionary<string, (string Bottom, string Top)>? defined) =>
        Other(Pair(via, stack, defined, null), current);

    private static (string Bottom, string Top)? Pair(string via, IReadOnlyList<string> stack, IReadOnlyDictionary<string, (string Bottom, string Top)>? defined,
        IDictionary<string, (string Bottom, string Top)?>? known)
    {
        if (known is not null && known.TryGetValue(via, out var seen)) return seen;
        var pair = defined is not null && defined.TryGetValue(via, out var d) ? d : FromName(via, stack);
        if (known is not null) known[via] = pair;
        return pair;
    }

    private static string? Other((string Bottom, string Top)? pair, string current) =>
        pair is not { } p ? null : current == p.Bottom ? p.Top : current == p.Top ? p.Bottom : null;

    /// <summary>
    /// The adjacent layer pair a library (LEF) via's name refers to, by the naming of OpenROAD's platforms: both layers'
    /// initials and numbers (sky130 <c>L1M1_PR</c>, <c>M2M3_PR</c>), both numbers (asap7 <c>VIA12</c>), or the lower
    /// layer's number after "via" (nangate45 <c>via1_4</c>). Null when no single pair of <paramref name="stack"/> fits.
    /// </summary>
    public static (string Bottom, string Top)? FromName(string via, IReadOnlyList<string> stack)
    {
        var name = via.ToUpperInvariant();
        var pairs = Enumerable.Range(0, Math.Max(0, stack.Count - 1)).Select(i => (Bottom: stack[i], Top: stack[i + 1])).ToList();
        string firstNumber = new(name.SkipWhile(c => !char.IsDigit(c)).TakeWhile(char.IsDigit).ToArray());
        var rules = new Func<(string Bottom, string Top), bool>[]
        {
            p => Number(p.Bottom) != "" && name.Contains(Short(p.Bottom) + Short(p.Top), StringComparison.Ordinal),
            p => firstNumber != "" && Number(p.Bottom) + Number(p.Top) == firstNumber,
            p => firstNumber != "" && name.StartsWith("VIA", StringComparison.Ordinal) && Number(p.Bottom) == firstNumber,
        };
        foreach (var rule in rules)
        {
            var fits = pairs.Where(rule).ToList();
            if (fits.Count == 1) return fits[0];
        }
        return null;
    }

    private static string Number(string layer) => new(layer.Reverse().TakeWhile(char.IsDigit).Reverse().ToArray());
    private static string Short(string layer) => char.ToUpperInvariant(layer[0]) + Number(layer);
}
