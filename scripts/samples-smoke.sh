#!/usr/bin/env bash
# Builds every sample (samples/Samples.slnf) and runs each with --smoke: tiny data and epochs, but every step (train,
# save, reload, predict, ONNX Runtime where the method exports ONNX) and every check. One line per sample, ok / FAILED /
# skipped with its time; exit 1 if any failed. OnnxDeploy runs after QuickStart, whose ONNX file it scores
# (<temp>/mlnetext-quickstart/fashion-mlp.onnx). A sample whose data is absent (TimingPrediction without
# ../shared/data/circuits beside the repository, or without OpenSTA) exits 3 and is reported as skipped, with the reason.
# Logs: artifacts/samples/<sample>.log.
set -uo pipefail
cd "$(dirname "$0")/.."
logs=artifacts/samples
mkdir -p "$logs"
total_start=$(date +%s.%N)
seconds() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

start=$(date +%s.%N)
if ! dotnet build samples/Samples.slnf -c Release -v q -nodeReuse:false > "$logs/build.log" 2>&1; then
  grep -E "error" "$logs/build.log" | sort -u | head -20
  echo "samples: build FAILED ($(seconds "$start") s), see $logs/build.log"
  exit 1
fi
echo "samples: build ok ($(seconds "$start") s)"

failed=0
# name, then the command (run from the repository root).
run() {
  local name=$1; shift
  local start rc
  start=$(date +%s.%N)
  # A smoke run takes seconds to a minute; one that reaches the limit is reported as failed (exit 124), not waited for.
  timeout -k 10 300 "$@" > "$logs/$name.log" 2>&1; rc=$?
  if [ $rc = 0 ]; then
    echo "samples: $name ok ($(seconds "$start") s)"
  elif [ $rc = 3 ]; then
    echo "samples: $name skipped ($(seconds "$start") s): $(grep -m1 '^SKIPPED: ' "$logs/$name.log" | cut -c10-)"
  else
    failed=1
    [ $rc = 124 ] && echo "  $name | did not finish within 300 s"
    tail -n 15 "$logs/$name.log" | sed "s/^/  $name | /"
    echo "samples: $name FAILED (exit $rc, $(seconds "$start") s), see $logs/$name.log"
  fi
}
bin() { echo "samples/$1/bin/Release/net10.0/$1.dll"; }

run QuickStart dotnet "$(bin QuickStart)" --smoke
run OnnxDeploy dotnet "$(bin OnnxDeploy)" --smoke
run TerminatorFashionMnist dotnet "$(bin TerminatorFashionMnist)" --smoke
run Co2Training dotnet "$(bin Co2Training)" --smoke --workers 2
if command -v mpiexec > /dev/null; then
  run Co2Training-mpi mpiexec -n 2 dotnet "$(bin Co2Training)" --smoke
else
  echo "samples: Co2Training-mpi skipped: mpiexec not found (Debian package mpich; bash scripts/setup.sh)"
fi
run FederatedTraining dotnet "$(bin FederatedTraining)" --smoke
run TimingPrediction dotnet "$(bin TimingPrediction)" --smoke
run PragWorldEvaluation dotnet "$(bin PragWorldEvaluation)" --smoke

echo "samples: $([ $failed = 0 ] && echo "all ok" || echo "FAILED") in $(seconds "$total_start") s"
exit $failed
