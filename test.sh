#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test project against real parts (ffmpeg, an
# in-process MQTT broker, Mosquitto, ONNX Runtime, TorchSharp) and ends with "N passed, N failed, N skipped".
# Extra arguments go to dotnet test (e.g. ./test.sh --filter FullyQualifiedName~Config).
set -euo pipefail
cd "$(dirname "$0")"
bash build/setup.sh
dotnet build Inspection.sln -c Release -nologo -v q
results=artifacts/test-results
rm -rf "$results"
status=0
dotnet test Inspection.sln -c Release --no-build -nologo --logger "trx" --results-directory "$results" "$@" || status=$?
# Sum the counters of every test run (one .trx per test project). The trx counters leave skipped tests out
# (notExecuted stays 0), so skipped tests are counted from their results' outcome instead.
read -r passed failed < <(cat "$results"/*.trx 2>/dev/null | grep -o '<Counters [^>]*>' | awk '
  { for (i = 1; i <= NF; i++) { split($i, kv, "=\""); v = kv[2]; sub(/".*/, "", v);
      if (kv[1] == "passed") p += v; if (kv[1] == "failed") f += v } }
  END { printf "%d %d\n", p, f }')
skipped_names=$(cat "$results"/*.trx 2>/dev/null | { grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' || true; } |
  sed 's/.* testName="\([^"]*\)".*/\1/')
skipped=$(printf '%s' "$skipped_names" | grep -c . || true)
[ -z "$skipped_names" ] || printf '%s\n' "$skipped_names" | sed 's/^/skipped: /' >&2
# A test host that crashes leaves its unfinished test out of every counter: count each aborted run as a failure.
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  if grep -q '<ResultSummary outcome="\(Failed\|Aborted\|Error\)"' "$trx" && grep -q '<Counters [^>]* failed="0"' "$trx"; then
    echo "test run aborted ($trx): $(grep -o '<Text>[^<]*' "$trx" | head -1 | cut -c7-)" >&2
    failed=$((failed + 1))
  fi
done
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then exit 1; fi
