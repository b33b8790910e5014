using System.Security.Cryptography;
using System.Text;
using Mono.Cecil;

// usage:
//   MLNetPublicizer publicize <allowList> <outDir> <assembly.dll>...
//     Copies the given ML.NET assemblies into outDir with exactly the internal types and members named in allowList made
//     public. Fails, naming the entry, when an entry does not exist in the assembly (an ML.NET upgrade renamed or
//     removed it). Skips an output whose inputs (assembly bytes, allow-list, this tool) have the same content hash.
//   MLNetPublicizer list <our.dll> <assembly.dll>...
//     Prints the allow-list our.dll needs: every internal type or member of the given assemblies its IL refers to.
if (args.Length >= 4 && args[0] == "publicize") return Publicize(args[1], args[2], args.Skip(3).ToArray());
if (args.Length >= 3 && args[0] == "list") return List(args[1], args.Skip(2).ToArray());
Console.Error.WriteLine("usage: MLNetPublicizer publicize <allowList> <outDir> <assembly.dll>... | list <our.dll> <assembly.dll>...");
return 2;

static int Publicize(string allowListPath, string outDir, string[] inputs)
{
    var entries = InternalsAllowList.Read(allowListPath);
    Directory.CreateDirectory(outDir);
    var tool = File.ReadAllBytes(typeof(InternalsAllowList).Assembly.Location);
    var failures = new List<string>();
    foreach (var input in inputs)
    {
        var output = Path.Combine(outDir, Path.GetFileName(input));
        var stamp = output + ".sha256";
        var hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(input).Concat(File.ReadAllBytes(allowListPath)).Concat(tool).ToArray()));
        if (File.Exists(output) && File.Exists(stamp) && File.ReadAllText(stamp) == hash) continue;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Path.GetDirectoryName(input));
        using var asm = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { AssemblyResolver = resolver });
        var name = asm.Name.Name;
        var index = InternalsAllowList.Index(asm.MainModule);
        foreach (var entry in entries.Where(e => e.Assembly == name))
        {
            if (!index.TryGetValue(entry.Key, out var member)) { failures.Add($"{entry.Key} (allow-list line {entry.Line}) does not exist in {input}"); continue; }
            switch (member)
            {
                case TypeDefinition t: for (var x = t; x != null; x = x.DeclaringType) { if (x.IsNested) x.IsNestedPublic = true; else x.IsPublic = true; } break;
                case MethodDefinition m: m.IsPublic = true; break;
                case FieldDefinition f: f.IsPublic = true; break;
            }
        }
        var tmp = output + ".tmp";
        asm.Write(tmp);
        File.Move(tmp, output, overwrite: true);
        File.WriteAllText(stamp, hash);
    }
    foreach (var f in failures) Console.Error.WriteLine($"error MLNX0001: ML.NET internal member {f}: the package relies on it; see docs/architecture.md, 'ML.NET internals'.");
    return failures.Count == 0 ? 0 : 1;
}

static int List(string ours, string[] mlnet)
{
    var originals = mlnet.Select(p => AssemblyDefinition.ReadAssembly(p)).ToDictionary(a => a.Name.Name);
    var needed = new SortedSet<string>(StringComparer.Ordinal);
    using var module = ModuleDefinition.ReadModule(ours);
    var indexes = new Dictionary<ModuleDefinition, Dictionary<string, object>>();
    void Need(IMemberDefinition definition)
    {
        var asmName = (definition as TypeDefinition ?? definition.DeclaringType).Module.Assembly.Name.Name;
        if (!originals.ContainsKey(asmName)) return;
        for (var t = definition as TypeDefinition ?? definition.DeclaringType; t != null; t = t.DeclaringType)
            if (!(t.IsPublic || t.IsNestedPublic)) needed.Add($"{asmName}|{InternalsAllowList.Key(t)}");
        if (definition is MethodDefinition m && !m.IsPublic) needed.Add($"{asmName}|{InternalsAllowList.Key(m)}");
        if (definition is FieldDefinition f && !f.IsPublic) needed.Add($"{asmName}|{InternalsAllowList.Key(f)}");
    }
    TypeDefinition Resolve(TypeReference r)
    {
        var e = r.GetElementType();
        if (e.Scope is not AssemblyNameReference scope || !originals.TryGetValue(scope.Name, out var a)) return null;
        return a.MainModule.GetType(e.FullName);
    }
    foreach (var r in module.GetTypeReferences()) if (Resolve(r) is { } t) Need(t);
    foreach (var r in module.GetMemberReferences())
    {
        var owner = Resolve(r.DeclaringType);
        if (owner == null) continue;
        Need(owner);
        var key = r is MethodReference mr ? InternalsAllowList.Key(mr) : InternalsAllowList.Key((FieldReference)r);
        if (!indexes.TryGetValue(owner.Module, out var index)) indexes[owner.Module] = index = InternalsAllowList.Index(owner.Module);
        if (index.TryGetValue(key, out var d)) Need((IMemberDefinition)d);
        else Console.Error.WriteLine($"warning: {key} not found");
    }
    Console.WriteLine("# ML.NET internals MLNetExt compiles against (generated by MLNetPublicizer list; checked by MLNetInternalsTests).");
    Console.WriteLine("# assembly|kind signature  — T = type, M = method (parameter types), F = field.");
    foreach (var n in needed) Console.WriteLine(n);
    return 0;
}
