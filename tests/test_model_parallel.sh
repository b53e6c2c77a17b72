#!/usr/bin/env bash
# Tensor and sequence parallel model (src/model/parallel.c) against the
# single-rank model: build/tests/test_model_parallel under mpirun at 2 ranks
# (tp2, sp2, sampler sp2 and CFG-parallel) and 4 ranks (tp2 x dp2, sp2 x dp2,
# tp2 x sp2, sp4, tp4, sampler sp4 and sp2 x CFG-parallel); output, loss and
# every gradient within 1e-5 relative (see the test's header).
set -uo pipefail
cd "$(dirname "$0")/.."
T=${TEST_MODEL_PARALLEL:-build/tests/test_model_parallel}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/model_parallel; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
for np in 2 4; do
  timeout 90 mpirun --oversubscribe -np $np "$T" >"$tmp/np$np.log" 2>&1
  rc=$?
  [ $rc = 124 ] && fail "np $np hung (timeout 90 s): $(tail -5 "$tmp/np$np.log")"
  [ $rc = 0 ] || fail "np $np exit $rc: $(grep -m8 'FAIL\|error' "$tmp/np$np.log")"
  echo "np $np:"; grep "^  " "$tmp/np$np.log"
done
echo "ok  model parallel layouts equal the single-rank model"
