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
#     the single-rank run's;
#  4. a frozen text encoder (train.text_encoder=frozen) at dp2 x tp2 gives the
#     single-rank frozen run's losses, and text.* stay at their initial values
#     (the step-4 weights of a run with lr 1e-30) while the rest moves.
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

# 4. frozen text encoder: one rank vs dp2 x tp2 (tp skips the context gradient's all-reduce)
train fref 0 train.text_encoder=frozen; [ $rc = 0 ] || fail "single-rank frozen run: $(tail -3 $tmp/fref.log)"
train fdp2tp2 4 train.text_encoder=frozen parallel.dp=2 parallel.tp=2
[ $rc = 0 ] || fail "dp2 x tp2 frozen run: $(grep -v '^ ' $tmp/fdp2tp2.log | tail -3)"
r=$(close "$(losses $tmp/fref/metrics.jsonl)" "$(losses $tmp/fdp2tp2/metrics.jsonl)") ||
  fail "dp2 x tp2 frozen-text losses differ from one rank's (max rel $r)"
[ "$(losses $tmp/fref/metrics.jsonl)" != "$ref" ] || fail "frozen-text losses equal the trained-text run's"
train finit 0 train.text_encoder=frozen train.lr=1e-30 train.min_lr=0; [ $rc = 0 ] || fail "lr 1e-30 run: $(tail -3 $tmp/finit.log)"
$PY - $tmp/finit/ckpt_4.h5 $tmp/fref/ckpt_8.h5 $tmp/fdp2tp2/ckpt_8.h5 <<'PY' || fail "frozen text encoder moved"
import sys, h5py, numpy as np
init, *runs = [h5py.File(f, "r") for f in sys.argv[1:]]
names = []
init["params"].visit(lambda n: names.append(n) if isinstance(init["params"][n], h5py.Dataset) else None)
text = [n for n in names if n.startswith("text.")]
assert text, "no text.* parameters"
for f in runs:
    for n in names:
        same = np.array_equal(np.array(init["params"][n]), np.array(f["params"][n]))
        assert same == n.startswith("text."), f"{f.filename}: {n} {'moved' if not same else 'did not move'}"
print(f"{len(text)} text tensors unchanged, {len(names) - len(text)} others moved")
PY
echo "ok  frozen text encoder: dp2 x tp2 losses equal one rank's (max rel $r); text.* at their initial values"

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
