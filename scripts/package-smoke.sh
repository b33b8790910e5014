#!/usr/bin/env bash
# Packs the MLNetExt packages into a temporary feed, checks their declared dependencies, then builds samples/PackageSmoke
# outside the repository against the packages (restore and build warnings are errors), trains and saves in one process
# and reloads and checks in a second one.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
version="1.1.0-smoke.$(date +%s)"   # a fresh version each run, so NuGet's cache never serves an older build
echo "[package] packing $version into $work/feed"
for p in src/Transforms/MLNetExt.Transforms.csproj src/Export/MLNetExt.Export.csproj src/Estimators/MLNetExt.Estimators.csproj src/Estimators/FederatedGrpc/MLNetExt.Federated.Grpc.csproj; do
  dotnet pack "$p" -c Release --nologo -p:Version="$version" -o "$work/feed" -warnaserror > "$work/pack.log" 2>&1 || { cat "$work/pack.log"; echo "[package] pack failed: $p"; exit 1; }
done
# Declared dependencies of the core package: ML.NET (a range), managed TorchSharp, managed ONNX Runtime; no GPU runtime, no chart library.
nuspec=$(unzip -p "$work/feed/MLNetExt.$version.nupkg" MLNetExt.nuspec)
echo "$nuspec" | grep -oE '<dependency id="[^"]+" version="[^"]+"' | sed 's/<dependency /[package] MLNetExt depends on /'
for want in 'id="Microsoft.ML" version="\[5.0.1, 7.0.0)"' 'id="TorchSharp"' 'id="MLNetExt.Export"'; do
  echo "$nuspec" | grep -qE "$want" || { echo "[package] MLNetExt.nuspec lacks dependency $want"; exit 1; }
done
for bad in OnnxRuntime.Gpu ScottPlot SkiaSharp; do
  if unzip -p "$work/feed/MLNetExt.Export.$version.nupkg" MLNetExt.Export.nuspec | grep -q "$bad" || echo "$nuspec" | grep -q "$bad"; then echo "[package] a package depends on $bad"; exit 1; fi
done
unzip -p "$work/feed/MLNetExt.Export.$version.nupkg" MLNetExt.Export.nuspec | grep -q 'id="Microsoft.ML.OnnxRuntime.Managed"' || { echo "[package] MLNetExt.Export should depend on Microsoft.ML.OnnxRuntime.Managed"; exit 1; }
mkdir -p "$work/app"
cp samples/PackageSmoke/PackageSmoke.csproj samples/PackageSmoke/Program.cs "$work/app/"
cat > "$work/app/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><add key="mlnetext-local" value="$work/feed" /></packageSources></configuration>
XML
echo '{ "sdk": { "version": "10.0.100", "rollForward": "latestFeature" } }' > "$work/app/global.json"
(cd "$work/app" && dotnet build -c Release --nologo -p:MLNetExtVersion="$version" -warnaserror > "$work/build.log" 2>&1) || { cat "$work/build.log"; echo "[package] the consumer app did not restore or build cleanly"; exit 1; }
app="$work/app/bin/Release/net10.0/PackageSmoke.dll"
dotnet "$app" train "$work/model"
dotnet "$app" check "$work/model"
echo "[package] smoke test passed"
