#!/usr/bin/env bash
# The backward's tensor-parallel all-reduces and the Ulysses all-to-alls (forward:
# v's during q/k's norm and RoPE; backward) overlapped
# with independent compute (model/parallel.h col_linear_backward and the
# sp_*_start/_finish halves, the default) against the blocking path
# (layout.comm_blocking): build/tests/test_tpsp_overlap under mpirun at 2 ranks
# (tp2, sp2), 4 ranks (tp2 x dp2, sp2 x dp2, tp2 x sp2, tp2 x ring2, sp4,
# Ulysses 2 x ring 2, tp4) and 8 ranks (tp4 x dp2, tp4 x ring2; all
# oversubscribed): 4 SGD steps, the forward's outputs (losses), every gradient
# and the tp and sp bytes bit-identical (see the test's header).
set -uo pipefail
cd "$(dirname "$0")/.."
T=${TEST_TPSP_OVERLAP:-build/tests/test_tpsp_overlap}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/tpsp_overlap; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
for np in 2 4 8; do
  args=; [ $np = 8 ] && args=--tp4
  timeout 90 mpirun --oversubscribe -np $np "$T" $args >"$tmp/np$np.log" 2>&1
  rc=$?
  [ $rc = 124 ] && fail "np $np hung (timeout 90 s): $(tail -5 "$tmp/np$np.log")"
  [ $rc = 0 ] || fail "np $np exit $rc: $(grep -m8 'FAIL\|error\|differ' "$tmp/np$np.log")"
  echo "np $np:"; grep "^  " "$tmp/np$np.log"
done
echo "ok  tp/sp forward and backward overlapped = blocking, bit for bit"
