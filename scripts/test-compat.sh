#!/usr/bin/env bash
# Runs the save/load and ONNX test subset against the highest supported ML.NET and ONNX Runtime
# (the main test run uses the lowest: ML.NET 5.0.1, ONNX Runtime 1.31). Build output goes to artifacts/compat.
# Usage: bash scripts/test-compat.sh [mlnetVersion=6.0.0] [onnxRuntimeVersion=1.32.0]
set -uo pipefail
cd "$(dirname "$0")/.."
mlnet=${1:-6.0.0}
ort=${2:-1.32.0}
filter='FullyQualifiedName~MLNetInternalsTests|FullyQualifiedName~PipelineOnnxTests|FullyQualifiedName~MlpCoreTests|FullyQualifiedName~SavesLoadsAndExportsToOnnx'
mkdir -p artifacts
dotnet test tests/MLNetExt.Tests/MLNetExt.Tests.csproj -c Release --nologo -p:MLNetVersion="$mlnet" -p:OnnxRuntimeVersion="$ort" \
  --artifacts-path artifacts/compat --filter "$filter" 2>&1 | tee artifacts/test-compat.log
rc=${PIPESTATUS[0]}
# The versions actually loaded, from the test output folder.
deps=$(find artifacts/compat/bin -name MLNetExt.Tests.deps.json | head -1)
for id in Microsoft.ML Microsoft.ML.OnnxRuntime; do
  got=$(grep -oE "\"$id/[0-9.]+\"" "$deps" | head -1 | tr -d '"')
  echo "[compat] resolved $got"
done
grep -qE "\"Microsoft.ML/$mlnet\"" "$deps" || { echo "[compat] the tests did not run on Microsoft.ML $mlnet"; exit 1; }
line=$(grep -E '(Passed|Failed)! +- Failed:' artifacts/test-compat.log | tail -1)
echo "[compat] ML.NET $mlnet, ONNX Runtime $ort: ${line:-no summary}"
echo "$line" | grep -qE 'Passed: +[1-9]' || { echo "[compat] no test ran"; exit 1; }
exit "$rc"
