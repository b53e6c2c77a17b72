#!/usr/bin/env bash
# The CUDA backend's host code with the whole model, on this machine: the
# model built on backend_cuda over the CPU stand-in of the gpu_* functions
# (build/cuda/test_model_standin: libtessera + tests/cuda/mock_gpu.c, see
# tests/cuda/test_model_backends.c) against the CPU backend. fp32: the loss,
# the output and every gradient bit for bit (the stand-in calls the CPU
# backend's ops, so only the backend's memory, upload / download and table
# are tested), at one rank with 200 training steps bit for bit too, and
# under mpirun at tp2 and at sp2 (the groups' collectives on the backend's
# buffers); bf16 mode against fp32 within the test's stated tolerances.
set -uo pipefail
cd "$(dirname "$0")/.."
T=${TEST_MODEL_STANDIN:-build/cuda/test_model_standin}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/cuda_standin; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$T" ] || fail "$T not built (run make)"
timeout 120 "$T" --steps 200 >"$tmp/np1.log" 2>&1 || fail "one rank: $(grep -m8 'FAIL\|error' "$tmp/np1.log")"
grep "^  " "$tmp/np1.log"
timeout 120 mpirun --oversubscribe -np 2 "$T" >"$tmp/np2.log" 2>&1
rc=$?
[ $rc = 124 ] && fail "np 2 hung (timeout 120 s): $(tail -5 "$tmp/np2.log")"
[ $rc = 0 ] || fail "np 2 exit $rc: $(grep -m8 'FAIL\|error' "$tmp/np2.log")"
grep "^  " "$tmp/np2.log"
for l in "tp1 sp1: cuda fp32" "tp2 sp1: cuda fp32" "tp1 sp2: cuda fp32"; do
  grep -q "$l vs cpu .*bit-identical" "$tmp/np1.log" "$tmp/np2.log" || fail "no bit-identical result for '$l'"
done
grep -q "train 200 steps, cuda fp32 vs cpu.*(bit-identical)" "$tmp/np1.log" || fail "200 fp32 steps not bit-identical"
echo "ok  the model on backend_cuda over the CPU stand-in equals the CPU backend (1 rank, tp2, sp2)"
