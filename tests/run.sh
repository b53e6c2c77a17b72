#!/usr/bin/env bash
# Runs every test: the unit binaries in build/tests/, then the scripts
# tests/test_*.sh. Prints one line per test and a summary; exit 1 if any failed.
set -u
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
pass=0; fail=0; failed=()
mkdir -p build/test-logs
run() {
  local name=$1; shift
  local log=build/test-logs/$name.log
  local t0=$(date +%s%N)
  if "$@" >"$log" 2>&1; then
    pass=$((pass+1)); local ms=$(( ($(date +%s%N) - t0) / 1000000 )); printf "PASS  %-28s %5d.%01ds\n" "$name" $((ms/1000)) $(((ms%1000)/100))
  else
    fail=$((fail+1)); failed+=("$name"); printf "FAIL  %-28s (log: %s)\n" "$name" "$log"; tail -n 20 "$log" | sed 's/^/      /'
  fi
}
for t in build/tests/test_*; do [ -x "$t" ] && run "$(basename "$t")" "$t"; done
for s in tests/test_*.sh; do [ -f "$s" ] && run "$(basename "$s")" bash "$s"; done
echo "tests: $pass passed, $fail failed${failed:+ (${failed[*]})}"
[ "$fail" -eq 0 ]
