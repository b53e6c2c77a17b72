#!/usr/bin/env bash
# src/comm across world sizes and its failure modes (build/tests/test_comm does
# the checking; see tests/unit/test_comm.c):
#  1. every layout, group and collective at 1..4 ranks and as a plain singleton;
#  2. a layout that does not multiply to the world size: exit 2, one message;
#  3. a rank killed before an allreduce ends the whole job (no hang: timeout 60);
#  4. an MPI error names rank, group and call and aborts every rank;
#  5. NCCL: on a machine with a GPU the same checks on device buffers; without
#     one, asking for it is one clear error and exit 2.
set -uo pipefail
cd "$(dirname "$0")/.."
T=${TEST_COMM:-build/tests/test_comm}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=build/tmp/comm; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
# run NAME NP ARGS...: NP=0 is a plain singleton (no mpirun); sets $rc, log in $tmp/NAME.log
run() {
  local name=$1 np=$2; shift 2
  if [ "$np" = 0 ]; then timeout 60 "$T" "$@" >"$tmp/$name.log" 2>&1
  else timeout 60 mpirun --oversubscribe -np "$np" "$T" "$@" >"$tmp/$name.log" 2>&1; fi
  rc=$?
  [ $rc = 124 ] && fail "$name hung (killed by timeout 60): $(tail -5 "$tmp/$name.log")"
  return 0
}
count() { grep -c -- "$1" "$2" || true; }

# 1. correctness at every world size
for np in 0 1 2 3 4; do
  run "np$np" $np
  [ $rc = 0 ] || fail "test_comm at np $np (0 = singleton) exit $rc: $(grep -m5 'FAIL\|error' "$tmp/np$np.log")"
  grep "test_comm (" "$tmp/np$np.log"
done

# 2. a layout that does not multiply: one message (from rank 0), every rank exits 2
for np in 0 4; do
  run "layout$np" $np --bad-layout
  [ $rc = 2 ] || fail "bad layout at np $np: exit $rc, want 2"
  want="tessera: error: configs/bad.yaml: parallel layout dp=1 x sp=1 x tp=3 = 3 ranks, but the job has $((np > 0 ? np : 1))"
  n=$(count "$want" "$tmp/layout$np.log")
  [ "$n" = 1 ] || fail "bad layout at np $np: message seen $n times, want 1:
$(cat "$tmp/layout$np.log")"
done
echo "ok  bad layout: exit 2, one message"

# 3. rank 1 dies (SIGKILL) while the others wait in an allreduce
run die 3 --die-before-allreduce
[ $rc != 0 ] || fail "a killed rank left the job with status 0"
echo "ok  rank killed before an allreduce: the job ended with status $rc"

# 4. an MPI error (invalid root) names the rank, group and call, and every rank aborts
run badroot 2 --bad-root
[ $rc != 0 ] || fail "an invalid bcast root left the job with status 0"
grep -q "tessera\[rank [01]\] comm: MPI_Bcast on group world (rank [01] of 2): MPI_ERR_ROOT" "$tmp/badroot.log" ||
  fail "MPI error not named as expected:
$(head -5 "$tmp/badroot.log")"
echo "ok  MPI error: $(grep -m1 'comm: MPI_Bcast' "$tmp/badroot.log")"

# 5. NCCL
if command -v nvidia-smi >/dev/null && ngpu=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') && [ "$ngpu" -gt 0 ]; then
  nps=0; [ "$ngpu" -ge 2 ] && nps="0 $((ngpu < 4 ? ngpu : 4))"  # NCCL wants one GPU per rank
  for np in $nps; do
    run "nccl$np" $np --nccl
    [ $rc = 0 ] || fail "test_comm --nccl at np $np: exit $rc: $(grep -m5 'FAIL\|error' "$tmp/nccl$np.log")"
    grep "test_comm (" "$tmp/nccl$np.log"
  done
else
  for np in 0 2; do
    run "nonccl$np" $np --nccl-refused
    [ $rc = 2 ] || fail "NCCL without a GPU at np $np: exit $rc, want 2: $(head -3 "$tmp/nonccl$np.log")"
    n=$(count "tessera: error: NCCL backend requested" "$tmp/nonccl$np.log")
    [ "$n" = 1 ] || fail "NCCL without a GPU at np $np: message seen $n times, want 1"
  done
  echo "ok  NCCL without a GPU: $(grep -m1 'tessera: error' "$tmp/nonccl0.log")"
fi
echo "test_comm.sh: all passed"
