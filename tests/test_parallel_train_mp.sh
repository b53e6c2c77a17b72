#!/usr/bin/env bash
# Training under tensor and sequence parallelism (the model's Megatron TP and
# Ulysses SP, src/model) with ZeRO-1 over dp x sp, against the single-rank run:
#  1. tp2, sp2, tp2 x sp2, dp2 x tp2, dp2 x sp2: 8 losses equal the single-rank
#     losses within 1e-5 relative; weights after 8 steps within 1e-5 absolute,
#     AdamW moments within 1e-4 of their scale (tests/ckpt_compare.py);
#  2. the tp2 x sp2 checkpoint of step 4 (TP-sharded tensors written as strided
#     hyperslabs, ZeRO shards of m/v over dp x sp) resumes at 1 rank and at dp4
#     with the uninterrupted single-rank losses of steps 5-8; the dp2 checkpoint
#     resumes at tp2 x sp2;
#  3. from a corpus at sp2 x dp2 (the loader's token slices) the losses equal
#     the single-rank run's.
# Data parallel alone, signals and bad input: tests/test_parallel_train.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh parallel_train_mp

train ref 0; [ $rc = 0 ] || fail "single-rank run: $(tail -3 $tmp/ref.log)"
ref=$(losses $tmp/ref/metrics.jsonl)
[ "$(echo $ref | wc -w)" = 8 ] || fail "expected 8 losses, got: $ref"

# 1. layouts
for v in "tp2 2 parallel.tp=2" "sp2 2 parallel.sp=2" "tp2sp2 4 parallel.tp=2 parallel.sp=2" \
         "dp2tp2 4 parallel.dp=2 parallel.tp=2" "dp2sp2 4 parallel.dp=2 parallel.sp=2"; do
  set -- $v; name=$1 np=$2; shift 2
  train $name $np "$@"; [ $rc = 0 ] || fail "$name: exit $rc: $(grep -v '^ ' $tmp/$name.log | tail -3)"
  got=$(losses $tmp/$name/metrics.jsonl)
  r=$(close "$ref" "$got") || fail "$name losses differ from one rank (max rel $r):
  1 rank: $ref
  $name:  $got"
  rn=$(close "$(norms $tmp/ref/metrics.jsonl)" "$(norms $tmp/$name/metrics.jsonl)") || fail "$name gradient norms differ (max rel $rn)"
  cmp=$($PY tests/ckpt_compare.py $tmp/ref/ckpt_8.h5 $tmp/$name/ckpt_8.h5) || fail "$name weights after 8 steps: $cmp"
  echo "ok  $name: 8 losses equal one rank's (max rel diff $r; grad norms $rn); step-8 checkpoint vs one rank's:$cmp"
done

# 1b. from a corpus: each sp rank's loader reads only its token slice of the clip
timeout $limit $T data synth --out $tmp/corpus.h5 --clips 16 --frames 8 --size 8x8 --seed 3 >$tmp/synth.log 2>&1 ||
  fail "data synth: $(tail -2 $tmp/synth.log)"
train cref 0 data.path=$tmp/corpus.h5; [ $rc = 0 ] || fail "single-rank corpus run: $(tail -3 $tmp/cref.log)"
train csp2dp2 4 data.path=$tmp/corpus.h5 parallel.sp=2 parallel.dp=2
[ $rc = 0 ] || fail "sp2 x dp2 corpus run: $(grep -v '^ ' $tmp/csp2dp2.log | tail -3)"
r=$(close "$(losses $tmp/cref/metrics.jsonl)" "$(losses $tmp/csp2dp2/metrics.jsonl)") ||
  fail "sp2 x dp2 corpus losses differ from one rank's (max rel $r)"
echo "ok  corpus: sp2 x dp2 (token slices from the loader) losses equal one rank's (max rel $r)"

# 2. resharding checkpoints: tp2 x sp2 -> 1 rank, dp4; dp2 x tp2 -> tp2 x sp2
tail4=$(echo $ref | cut -d' ' -f5-8)
for v in "tp2sp2_at1 tp2sp2 0" "tp2sp2_at_dp4 tp2sp2 4 parallel.dp=4" "dp2tp2_at_tp2sp2 dp2tp2 4 parallel.tp=2 parallel.sp=2"; do
  set -- $v; name=$1 from=$2 np=$3; shift 3
  mkdir -p $tmp/$name && cp $tmp/$from/ckpt_4.h5 $tmp/$name/
  train $name $np train.resume=auto "$@"; [ $rc = 0 ] || fail "$name: exit $rc: $(grep -v '^ ' $tmp/$name.log | tail -3)"
  grep -q "resumed from $tmp/$name/ckpt_4.h5 at step 4" $tmp/$name.log || fail "$name did not resume: $(tail -3 $tmp/$name.log)"
  got=$(losses $tmp/$name/metrics.jsonl)
  r=$(close "$tail4" "$got") || fail "$name: losses 5-8 differ from the uninterrupted run (max rel $r):
  1 rank:  $tail4
  resumed: $got"
  cmp=$($PY tests/ckpt_compare.py $tmp/ref/ckpt_8.h5 $tmp/$name/ckpt_8.h5) || fail "$name step-8 checkpoint: $cmp"
  echo "ok  $from checkpoint resumed as $name: losses 5-8 equal the uninterrupted run's (max rel $r);$cmp"
done
echo "test_parallel_train_mp: all ok"
