#!/usr/bin/env bash
# Ring attention (parallel.ring, sp = Ulysses x ring; docs/ring.md) and
# activation recomputation (train.recompute) in training, held against the
# single-rank run of the same config (the independent answer):
#  1. 4 heads: ring 2 (2 ranks) and Ulysses 2 x ring 2 (4 ranks): 8 losses and
#     gradient norms within 1e-5 relative, weights after 8 steps within the
#     ckpt_compare tolerances;
#  2. 3 heads (the demo model's count, which no Ulysses degree > 1 divides):
#     ring 4 (4 ranks) and ring 2 x dp 2, the same against one rank;
#  3. resume across layouts: the ring2 x Ulysses2 checkpoint of step 4 at one
#     rank, the one-rank checkpoint at ring 4: losses 5-8 of the uninterrupted run;
#  4. recompute attention and block at ring2 x Ulysses2: losses and grad norms
#     identical to no recomputation (bit for bit), and test_recompute's
#     gradient memcmp at 1, 2 and 4 ranks;
#  5. bad input: a ring that does not divide sp, heads a Ulysses degree cannot
#     split: exit 2, one message naming the key;
#  6. the trainer's sequence-parallel bytes per step (its closing comm line)
#     against docs/ring.md: V_uly + V_ring, restated here;
#  7. the CUDA backend's host path over the CPU stand-in of the kernels
#     (build/cuda/tessera_standin, tests/test_train_standin.sh): Ulysses 2 x
#     ring 2 with run.device=cuda equals the CPU run bit for bit.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh ring_train

check() {  # check NAME REFNAME: losses, grad norms and step-8 weights against REFNAME's
  local name=$1 ref=$2 r rn cmp
  r=$(close "$(losses $tmp/$ref/metrics.jsonl)" "$(losses $tmp/$name/metrics.jsonl)") || fail "$name losses differ from one rank (max rel $r):
  1 rank: $(losses $tmp/$ref/metrics.jsonl)
  $name:  $(losses $tmp/$name/metrics.jsonl)"
  rn=$(close "$(norms $tmp/$ref/metrics.jsonl)" "$(norms $tmp/$name/metrics.jsonl)") || fail "$name gradient norms differ (max rel $rn)"
  cmp=$($PY tests/ckpt_compare.py $tmp/$ref/ckpt_8.h5 $tmp/$name/ckpt_8.h5) || fail "$name weights after 8 steps: $cmp"
  echo "ok  $name: 8 losses equal one rank's (max rel diff $r; grad norms $rn); step-8 checkpoint vs one rank's:$cmp"
}

# 1. 4 heads
train ref 0; [ $rc = 0 ] || fail "single-rank run: $(tail -3 $tmp/ref.log)"
[ "$(losses $tmp/ref/metrics.jsonl | wc -w)" = 8 ] || fail "expected 8 losses: $(tail -3 $tmp/ref.log)"
train ring2 2 parallel.sp=2 parallel.ring=2; [ $rc = 0 ] || fail "ring2: exit $rc: $(tail -3 $tmp/ring2.log)"
check ring2 ref
train uly2ring2 4 parallel.sp=4 parallel.ring=2; [ $rc = 0 ] || fail "uly2ring2: exit $rc: $(tail -3 $tmp/uly2ring2.log)"
check uly2ring2 ref

# 2. 3 heads, width 36 (head_dim 12)
h3=(model.heads=3 model.dim=36)
train ref3 0 "${h3[@]}"; [ $rc = 0 ] || fail "3-head single-rank run: $(tail -3 $tmp/ref3.log)"
train ring4_h3 4 "${h3[@]}" parallel.sp=4 parallel.ring=4; [ $rc = 0 ] || fail "ring4_h3: exit $rc: $(tail -3 $tmp/ring4_h3.log)"
check ring4_h3 ref3
train ring2dp2_h3 4 "${h3[@]}" parallel.sp=2 parallel.ring=2 parallel.dp=2
[ $rc = 0 ] || fail "ring2dp2_h3: exit $rc: $(tail -3 $tmp/ring2dp2_h3.log)"
check ring2dp2_h3 ref3

# 3. resume across layouts
resume() {  # resume NAME NP FROM REF ARGS...: FROM's ckpt_4 continued under ARGS, losses 5-8 vs REF's
  local name=$1 np=$2 from=$3 ref=$4 r; shift 4
  mkdir -p $tmp/$name && cp $tmp/$from/ckpt_4.h5 $tmp/$name/
  train $name $np train.resume=auto "$@"; [ $rc = 0 ] || fail "$name: exit $rc: $(tail -3 $tmp/$name.log)"
  grep -q "resumed from $tmp/$name/ckpt_4.h5 at step 4" $tmp/$name.log || fail "$name did not resume: $(tail -3 $tmp/$name.log)"
  r=$(close "$(losses $tmp/$ref/metrics.jsonl | cut -d' ' -f5-8)" "$(losses $tmp/$name/metrics.jsonl)") ||
    fail "$name: losses 5-8 differ from the uninterrupted run (max rel $r)"
  echo "ok  $name: $from's step-4 checkpoint resumed, losses 5-8 equal the uninterrupted run's (max rel $r)"
}
resume uly2ring2_at1 0 uly2ring2 ref
resume ref3_at_ring4 4 ref3 ref3 "${h3[@]}" parallel.sp=4 parallel.ring=4

# 4. recomputation: the same bits
for rcm in attention block; do
  train rc_$rcm 4 parallel.sp=4 parallel.ring=2 train.recompute=$rcm; [ $rc = 0 ] || fail "recompute $rcm: exit $rc: $(tail -3 $tmp/rc_$rcm.log)"
  [ "$(losses $tmp/rc_$rcm/metrics.jsonl) $(norms $tmp/rc_$rcm/metrics.jsonl)" = \
    "$(losses $tmp/uly2ring2/metrics.jsonl) $(norms $tmp/uly2ring2/metrics.jsonl)" ] ||
    fail "recompute $rcm at Ulysses2 x ring2: losses/norms not identical to no recomputation:
  none: $(losses $tmp/uly2ring2/metrics.jsonl)
  $rcm: $(losses $tmp/rc_$rcm/metrics.jsonl)"
  echo "ok  train.recompute=$rcm at Ulysses2 x ring2: 8 losses and grad norms identical to none"
done
for np in 0 2 4; do
  if [ $np = 0 ]; then timeout $limit build/tests/test_recompute >$tmp/recompute$np.log 2>&1
  else timeout $limit mpirun --oversubscribe -np $np build/tests/test_recompute >$tmp/recompute$np.log 2>&1; fi ||
    fail "test_recompute at $np ranks: $(grep -m5 FAIL $tmp/recompute$np.log)"
  grep "^  " $tmp/recompute$np.log
done

# 5. bad input
bad() {  # bad NAME NP PATTERN ARGS...
  local name=$1 np=$2 pat=$3 n; shift 3
  train $name $np "$@"
  n=$(grep -c "error" $tmp/$name.log)
  [ $rc = 2 ] && [ "$n" = 1 ] && grep -q -- "$pat" $tmp/$name.log || fail "$name: exit $rc, $n error lines (want 2, 1 matching '$pat'):
$(tail -5 $tmp/$name.log)"
  echo "ok  $name: exit 2, one line: $(grep "error" $tmp/$name.log | cut -c1-160)"
}
bad ring_not_divisor 2 "parallel.ring: expected a divisor of parallel.sp (2" parallel.sp=2 parallel.ring=4
bad heads3_ulysses 2 "parallel.ring > 1: ring attention splits no heads" "${h3[@]}" parallel.sp=2
bad heads3_hybrid 4 "expected tp\*sp/ring (1\*4/2) to divide model.heads (3)" "${h3[@]}" parallel.sp=4 parallel.ring=2
# 6. bytes per step over sp (Ulysses and ring sub-groups count into sp) against
# docs/ring.md: depth * (8*(U-1)/U + (3R-2)*2) * X * 4, X = micro-batch * N/sp * D
# (recomputation: + depth * (4*(U-1)/U + (R-1)*2) * X * 4, the forward's again)
sp_bytes() {  # sp_bytes NAME MB SP RING D [RECOMPUTED]: the counted and the modelled bytes
  local name=$1 mb=$2 sp=$3 ring=$4 D=$5 re=${6:-0} got want
  got=$(grep -o '"sp":[0-9.]*' $tmp/$name.log | head -1 | cut -d: -f2)
  want=$($PY -c "mb,sp,R,D,re=$mb,$sp,$ring,$D,$re; U=sp//R; X=mb*(16//sp)*D
print(float(2*(8*(U-1)/U + (3*R-2)*2*(R>1) + re*(4*(U-1)/U + (R-1)*2))*X*4))")
  [ "$got" = "$want" ] || fail "$name: the trainer counted $got bytes per step over sp, docs/ring.md says $want"
  echo "ok  $name: $got bytes per step over sp, as docs/ring.md's V_uly + V_ring"
}
sp_bytes ring2 4 2 2 32
sp_bytes uly2ring2 4 4 2 32
sp_bytes ring4_h3 4 4 4 36
sp_bytes ring2dp2_h3 2 2 2 36
sp_bytes rc_attention 4 4 2 32 1
sp_bytes rc_block 4 4 2 32 1
# 7. run.device=cuda over the stand-in (attention_merge through backend_cuda)
S=build/cuda/tessera_standin
if [ -x "$S" ]; then
  T=$S train dev_uly2ring2 4 parallel.sp=4 parallel.ring=2 run.device=cuda
  [ $rc = 0 ] && grep -q "device: cuda" $tmp/dev_uly2ring2.log || fail "stand-in run: exit $rc: $(grep -m3 'device\|error' $tmp/dev_uly2ring2.log)"
  [ "$(losses $tmp/dev_uly2ring2/metrics.jsonl) $(norms $tmp/dev_uly2ring2/metrics.jsonl)" = \
    "$(losses $tmp/uly2ring2/metrics.jsonl) $(norms $tmp/uly2ring2/metrics.jsonl)" ] ||
    fail "Ulysses2 x ring2 on the stand-in differs from the CPU: $(losses $tmp/dev_uly2ring2/metrics.jsonl)"
  echo "ok  Ulysses2 x ring2 with run.device=cuda over the stand-in: 8 losses and norms identical to the CPU's"
else
  echo "SKIP $S not built (a build without the CUDA objects)"
fi
echo "test_ring_train: all ok"
