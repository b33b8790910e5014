using Mono.Cecil;

// usage: MLNetPublicizer <outDir> <assembly.dll>...
// Makes every type, method and field public in copies of the given assemblies. Incremental: skips an
// output that is newer than its input.
if (args.Length < 2) { Console.Error.WriteLine("usage: MLNetPublicizer <outDir> <assembly.dll>..."); return 2; }
var outDir = args[0];
Directory.CreateDirectory(outDir);
foreach (var input in args.Skip(1))
{
    var output = Path.Combine(outDir, Path.GetFileName(input));
    if (File.Exists(output) && File.GetLastWriteTimeUtc(output) >= File.GetLastWriteTimeUtc(input)) continue;
    var resolver = new DefaultAssemblyResolver();
    resolver.AddSearchDirectory(Path.GetDirectoryName(input));
    using var asm = AssemblyDefinition.ReadAssembly(input, new ReaderParameters { AssemblyResolver = resolver });
    foreach (var type in asm.MainModule.GetTypes())
    {
        if (type.IsNested) type.IsNestedPublic = true; else type.IsPublic = true;
        foreach (var m in type.Methods)
            // Virtual members keep their accessibility: changing it would change how overrides bind.
            if (!m.IsVirtual) m.IsPublic = true;
        foreach (var f in type.Fields)
            // Keep backing fields of events private: a public field and event of one name would clash.
            if (!type.Events.Any(e => e.Name == f.Name)) f.IsPublic = true;
    }
    var tmp = output + ".tmp";
    asm.Write(tmp);
    File.Move(tmp, output, overwrite: true);
}
return 0;
