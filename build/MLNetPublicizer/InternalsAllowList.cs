using Mono.Cecil;

/// <summary>
/// The allow-list of ML.NET internals: one <c>assembly|key</c> per line, keys being <c>T Namespace.Type</c>,
/// <c>M Namespace.Type::Method(ParameterType, ...)</c> or <c>F Namespace.Type::field</c>. Nested types are written
/// <c>Outer+Inner</c>, generic instances <c>Name`1&lt;Arg&gt;</c>, type and method generic parameters <c>`0</c> and
/// <c>``0</c>, by-ref parameters with a trailing <c>&amp;</c>: the same text the test builds from System.Reflection.
/// </summary>
internal static class InternalsAllowList
{
    public sealed record Entry(string Assembly, string Key, int Line);

    public static List<Entry> Read(string path)
    {
        var entries = new List<Entry>();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int bar = line.IndexOf('|');
            if (bar <= 0) throw new FormatException($"{path}:{i + 1}: expected 'assembly|key', found '{line}'.");
            entries.Add(new Entry(line[..bar], line[(bar + 1)..], i + 1));
        }
        return entries;
    }

    /// <summary>Every type, method and field of <paramref name="module"/> by key.</summary>
    public static Dictionary<string, object> Index(ModuleDefinition module)
    {
        var index = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var t in module.GetTypes())
        {
            index[Key(t)] = t;
            foreach (var m in t.Methods) index.TryAdd(Key(m), m);
            foreach (var f in t.Fields) index.TryAdd(Key(f), f);
        }
        return index;
    }

    public static string Key(TypeDefinition t) => "T " + Format(t);

    public static string Key(MethodReference m)
        => $"M {Format(m.DeclaringType.GetElementType())}::{m.Name}({string.Join(", ", m.Parameters.Select(p => Format(p.ParameterType)))})";

    public static string Key(FieldReference f) => $"F {Format(f.DeclaringType.GetElementType())}::{f.Name}";

    public static string Format(TypeReference t) => t switch
    {
        RequiredModifierType r => Format(r.ElementType),
        OptionalModifierType o => Format(o.ElementType),
        ByReferenceType b => Format(b.ElementType) + "&",
        PointerType p => Format(p.ElementType) + "*",
        ArrayType a => Format(a.ElementType) + "[" + new string(',', a.Rank - 1) + "]",
        GenericInstanceType g => Format(g.ElementType) + "<" + string.Join(",", g.GenericArguments.Select(Format)) + ">",
        GenericParameter gp => (gp.Type == GenericParameterType.Method ? "``" : "`") + gp.Position,
        _ when t.IsNested => Format(t.DeclaringType) + "+" + t.Name,
        _ => string.IsNullOrEmpty(t.Namespace) ? t.Name : t.Namespace + "." + t.Name,
    };
}
