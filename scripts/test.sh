#!/usr/bin/env bash
# Runs the whole test suite: machine set-up (idempotent), build, xunit tests, then one totals line.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash scripts/setup.sh || exit 1; else bash scripts/setup.sh --check || echo "[test] continuing; tests needing the missing parts will skip or fail"; fi
mkdir -p artifacts
# A test that runs 10 minutes (the slowest takes about one) is taken as hung: the test host is stopped and the run
# names the tests that were running, instead of the whole run waiting for its outer limit.
dotnet test MLNetExt.sln -c Release --nologo --blame-hang-timeout 10m --blame-hang-dump-type none 2>&1 | tee artifacts/test.log
rc=${PIPESTATUS[0]}
# dotnet prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 28, Skipped: 0, Total: 28, ..."
summary=$(grep -E '(Passed|Failed)! +- Failed: +[0-9]+, Passed: +[0-9]+, Skipped: +[0-9]+' artifacts/test.log || true)
passed=$(echo "$summary" | sed -nE 's/.*Passed: +([0-9]+),.*/\1/p' | awk '{s+=$1} END {print s+0}')
failed=$(echo "$summary" | sed -nE 's/.*Failed: +([0-9]+), Passed.*/\1/p' | awk '{s+=$1} END {print s+0}')
skipped=$(echo "$summary" | sed -nE 's/.*Skipped: +([0-9]+),.*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "xunit: $passed passed, $failed failed, $skipped skipped"
if [ "$rc" = 0 ] && [ "$passed" = 0 ]; then echo "[test] no test ran"; exit 1; fi
exit "$rc"
