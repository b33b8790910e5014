using System.Reflection;
using Microsoft.ML;

namespace MLNetExt.Tests.Core;

/// <summary>
/// The package compiles against a few ML.NET internals (build/MLNetPublicizer/mlnet-internals.txt). These tests check,
/// with System.Reflection on the ML.NET assemblies the tests run with, that every one of them still exists with the
/// listed signature (so an ML.NET upgrade fails here naming the member), and that none leaks into our public API.
/// </summary>
public sealed class MLNetInternalsTests
{
    private static string AllowListPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "MLNetExt.sln"))) dir = dir.Parent;
        Assert.NotNull(dir);
        return Path.Combine(dir!.FullName, "build", "MLNetPublicizer", "mlnet-internals.txt");
    }

    private static List<(string Assembly, string Key, int Line)> Entries(IEnumerable<string> lines)
        => lines.Select((l, i) => (Text: l.Trim(), Line: i + 1)).Where(l => l.Text.Length > 0 && !l.Text.StartsWith('#'))
            .Select(l => (l.Text[..l.Text.IndexOf('|')], l.Text[(l.Text.IndexOf('|') + 1)..], l.Line)).ToList();

    /// <summary>Messages for the entries that the loaded ML.NET assemblies do not have.</summary>
    internal static List<string> Missing(IEnumerable<string> allowList)
    {
        var missing = new List<string>();
        var indexes = new Dictionary<string, HashSet<string>>();
        foreach (var (assembly, key, line) in Entries(allowList))
        {
            if (!indexes.TryGetValue(assembly, out var index))
                indexes[assembly] = index = Index(Assembly.Load(new AssemblyName(assembly)));
            if (!index.Contains(key))
                missing.Add($"{key} (allow-list line {line}) is not in {assembly} {typeof(MLContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion}");
        }
        return missing;
    }

    private static HashSet<string> Index(Assembly assembly)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in assembly.GetTypes())
        {
            keys.Add("T " + Format(t));
            foreach (var m in t.GetMethods(all).Cast<MethodBase>().Concat(t.GetConstructors(all)))
                keys.Add($"M {Format(t)}::{m.Name}({string.Join(", ", m.GetParameters().Select(p => Format(p.ParameterType)))})");
            foreach (var f in t.GetFields(all)) keys.Add($"F {Format(t)}::{f.Name}");
        }
        return keys;
    }

    // The allow-list's type syntax (see build/MLNetPublicizer/InternalsAllowList.cs).
    private static string Format(Type t)
    {
        if (t.IsByRef) return Format(t.GetElementType()!) + "&";
        if (t.IsPointer) return Format(t.GetElementType()!) + "*";
        if (t.IsArray) return Format(t.GetElementType()!) + "[" + new string(',', t.GetArrayRank() - 1) + "]";
        if (t.IsGenericParameter) return (t.DeclaringMethod != null ? "``" : "`") + t.GenericParameterPosition;
        if (t.IsGenericType && !t.IsGenericTypeDefinition)
            return Format(t.GetGenericTypeDefinition()) + "<" + string.Join(",", t.GetGenericArguments().Select(Format)) + ">";
        if (t.IsNested) return Format(t.DeclaringType!) + "+" + t.Name;
        return string.IsNullOrEmpty(t.Namespace) ? t.Name : t.Namespace + "." + t.Name;
    }

    [Fact]
    public void EveryMLNetInternalThePackageUsesExistsWithItsSignature()
    {
        var lines = File.ReadAllLines(AllowListPath());
        Assert.True(Entries(lines).Count >= 10, "the allow-list should name the internals the package uses");
        var missing = Missing(lines);
        Assert.True(missing.Count == 0, "ML.NET internals the package relies on are missing:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void ARenamedOrRemovedInternalIsReportedByName()
    {
        // A test double of an ML.NET upgrade: the same allow-list with one method renamed and one type removed.
        var lines = File.ReadAllLines(AllowListPath())
            .Select(l => l.Replace("ModelSaveContext::SetVersionInfo(", "ModelSaveContext::SetVersionInformation("))
            .Append("Microsoft.ML.Core|T Microsoft.ML.VersionInfoV2").ToList();
        var missing = Missing(lines);
        Assert.Equal(2, missing.Count);
        Assert.Contains(missing, m => m.StartsWith("M Microsoft.ML.ModelSaveContext::SetVersionInformation(Microsoft.ML.VersionInfo) (allow-list line"));
        Assert.Contains(missing, m => m.StartsWith("T Microsoft.ML.VersionInfoV2"));
    }

    [Fact]
    public void NoPublicMemberOfThePackageExposesAnInternalMLNetType()
    {
        const BindingFlags declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var mlnet = new[] { typeof(MLContext).Assembly, typeof(ModelSaveContext).Assembly, typeof(IDataView).Assembly };
        bool Internal(Type t)
        {
            while (t.HasElementType) t = t.GetElementType()!;
            if (t.IsGenericType && t.GetGenericArguments().Any(Internal)) return true;
            return mlnet.Contains(t.Assembly) && !t.IsGenericParameter && !(t.IsVisible);
        }
        var leaks = new List<string>();
        foreach (var assembly in new[] { typeof(MLNetExt.TorchModelTransformer).Assembly, typeof(MLNetExt.FashionMnist).Assembly })
            foreach (var t in assembly.GetExportedTypes())
            {
                foreach (var m in t.GetMethods(declared).Where(m => m.IsPublic || ((m.IsFamily || m.IsFamilyOrAssembly) && !t.IsSealed)))
                    if (Internal(m.ReturnType) || m.GetParameters().Any(p => Internal(p.ParameterType))) leaks.Add($"{t.FullName}.{m.Name}");
                foreach (var f in t.GetFields(declared).Where(f => f.IsPublic || (f.IsFamily && !t.IsSealed)))
                    if (Internal(f.FieldType)) leaks.Add($"{t.FullName}.{f.Name}");
                if (t.BaseType is { } b && Internal(b)) leaks.Add($"{t.FullName} : {b.Name}");
            }
        Assert.True(leaks.Count == 0, "public or protected members with internal ML.NET types:\n" + string.Join("\n", leaks));
    }
}
