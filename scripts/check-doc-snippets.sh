#!/usr/bin/env bash
# Compiles every ```csharp block of README.md and the method guides (docs/co2.md, federated.md, terminator.md,
# pragworld.md, preroutgnn.md, mlp-and-text.md) against the built package, so the
# examples users copy keep matching the API. Each block becomes one method body; the package's namespaces are global
# usings (taken from src/, so the check follows namespace changes), and the names a block uses without declaring
# (ml, mlp, serverData, siteData, keyA, keyB) are parameters. Needs a Release build of the tests
# (tests/MLNetExt.Tests/bin/Release/net10.0, which `bash scripts/test.sh` produces). Exit 1 lists the compiler errors.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/tests/MLNetExt.Tests/bin/Release/net10.0"
[ -f "$bin/MLNetExt.dll" ] || { echo "check-doc-snippets: build the tests first (dotnet build tests/MLNetExt.Tests -c Release)"; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$root" "$bin" "$work" <<'PY'
import glob, os, re, sys
root, bin_dir, work = sys.argv[1:4]
namespaces = sorted({m for f in glob.glob(f"{root}/src/**/*.cs", recursive=True)
                     for m in re.findall(r"^namespace ([A-Za-z.]+)", open(f, encoding="utf-8").read(), re.M)
                     if m.startswith("MLNetExt") and not m.endswith(".Protocol")})
usings = ["Microsoft.ML", "Microsoft.ML.Data", "System.Net", "System.Security.Cryptography"] + namespaces
files = ["README.md"] + [f"docs/{g}.md" for g in ("co2", "federated", "terminator", "pragworld", "preroutgnn", "mlp-and-text")]
blocks = []
for f in files:
    path = f if os.path.isabs(f) else os.path.join(root, f)
    text = open(path, encoding="utf-8").read()
    for i, block in enumerate(re.findall(r"```csharp\n(.*?)```", text, re.S)):
        body = "\n".join(l for l in block.splitlines() if not re.match(r"^using [A-Za-z.]+;\s*$", l))
        pre = ("var ml = mlParam;\n" if re.search(r"\bvar ml\s*=", body) is None else "") + \
              ("var mlp = mlpParam;\n" if re.search(r"\bvar mlp\s*=", body) is None else "")
        name = re.sub(r"[^A-Za-z0-9]", "_", os.path.relpath(path, root)) + f"_{i + 1}"
        blocks.append(f"    // {os.path.relpath(path, root)}, block {i + 1}\n"
                      f"    static async Task {name}(MLContext mlParam, MlpMulticlassTrainer mlpParam, IDataView serverData, IDataView siteData, string keyA, string keyB)\n"
                      f"    {{\n{pre}{body}\n        await Task.CompletedTask;\n    }}\n")
src = "".join(f"global using {u};\n" for u in usings)
src += "#pragma warning disable CS1998, CS0168, CS0219, CS8321\nstatic class Snippets\n{\n" + "\n".join(blocks) + "}\n"
open(os.path.join(work, "Snippets.cs"), "w", encoding="utf-8").write(src)
refs = "\n".join(f'    <Reference Include="{d}" />' for d in sorted(glob.glob(f"{bin_dir}/*.dll"))
                 if os.path.basename(d).startswith(("Microsoft.ML", "TorchSharp", "MLNetExt.", "Grpc", "Google.Protobuf"))
                 and "Tests" not in os.path.basename(d) and "Bench" not in os.path.basename(d))
open(os.path.join(work, "Snippets.csproj"), "w").write(f"""<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><OutputType>Library</OutputType><Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup>
{refs}
    <FrameworkReference Include="Microsoft.AspNetCore.App" />
  </ItemGroup>
</Project>
""")
print(f"check-doc-snippets: {len(blocks)} blocks from {len(files)} files")
PY
cp "$root/global.json" "$work/" 2>/dev/null || true
if dotnet build "$work/Snippets.csproj" -c Release --nologo > "$work/build.log" 2>&1; then
  echo "check-doc-snippets: ok"
else
  grep -E "error " "$work/build.log" | sed "s|$work/||; s| \[.*||" | sort -u
  echo "check-doc-snippets: the examples above do not compile against the package" >&2
  exit 1
fi
