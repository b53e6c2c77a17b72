#!/usr/bin/env bash
# Data parallel training with ZeRO-1 and layout-independent checkpoints, held
# against the single-rank run of the same config (the independent answer):
#  0. ZeRO-1 unit test at 2 and 3 ranks (tests/unit/test_zero.c);
#  1. dp2 (and dp2 with gradient accumulation, and one rank with accumulation):
#     8 losses and gradient norms (clipping active) equal the single-rank ones
#     within 1e-5 relative; weights after
#     8 steps within 1e-5 absolute, AdamW moments within 1e-4 of their scale;
#  2. the dp2 checkpoint of step 4 resumes at 1 rank and at dp4 with the
#     uninterrupted single-rank losses of steps 5-8 (random clips and a corpus,
#     whose data cursor is resharded too);
#  3. ZeRO-1 memory: each rank's AdamW shard is 1/dp of the parameters;
#  4. a signal that reaches one rank stops every rank after the same step with
#     one complete checkpoint;
#  5. bad input: a layout that does not multiply to the world size, a batch
#     that does not split, a checkpoint of another model config: exit 2 with
#     one message.
# Tensor/sequence-parallel layouts: tests/test_parallel_train_mp.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh parallel_train

# 0. ZeRO-1 against plain AdamW at 2 and 3 ranks (3: shards padded), and the
# global norm under tp (tests/unit/test_zero.c; tests/run.sh runs it at 1 rank).
for np in 2 3; do
  timeout $limit mpirun --oversubscribe -np $np build/tests/test_zero >$tmp/zero$np.log 2>&1 ||
    fail "test_zero at $np ranks: $(grep -m5 FAIL $tmp/zero$np.log)"
  echo "ok  test_zero at $np ranks: $(grep -m1 "dp=$np" $tmp/zero$np.log | sed 's/^ *ok  //')"
done

# The reference: one process, no mpirun.
train ref 0; [ $rc = 0 ] || fail "single-rank run: $(tail -3 $tmp/ref.log)"
ref=$(losses $tmp/ref/metrics.jsonl)
[ "$(echo $ref | wc -w)" = 8 ] || fail "expected 8 losses, got: $ref"

# 1. dp2, dp2 x accum2, one rank x accum2
for v in "dp2 2 parallel.dp=2" "dp2acc2 2 parallel.dp=2 train.accum=2" "acc2 0 train.accum=2"; do
  set -- $v; name=$1 np=$2; shift 2
  train $name $np "$@"; [ $rc = 0 ] || fail "$name: exit $rc: $(tail -3 $tmp/$name.log)"
  got=$(losses $tmp/$name/metrics.jsonl)
  r=$(close "$ref" "$got") || fail "$name losses differ from one rank (max rel $r):
  1 rank: $ref
  $name:  $got"
  rn=$(close "$(norms $tmp/ref/metrics.jsonl)" "$(norms $tmp/$name/metrics.jsonl)") || fail "$name gradient norms differ (max rel $rn)"
  cmp=$($PY tests/ckpt_compare.py $tmp/ref/ckpt_8.h5 $tmp/$name/ckpt_8.h5) || fail "$name weights after 8 steps: $cmp"
  echo "ok  $name: 8 losses equal one rank's (max rel diff $r; grad norms $rn); step-8 checkpoint vs one rank's:$cmp"
done
[ -f $tmp/dp2/loss.png ] && [ "$(wc -l < $tmp/dp2/metrics.jsonl)" = 8 ] || fail "dp2: rank 0's metrics.jsonl/loss.png"
$PY -c 'import h5py,sys; f=h5py.File(sys.argv[1]); d=f["params/blocks.0.mlp.fc1.weight"]; sys.exit(0 if d.fletcher32 and f.attrs["saved_ranks"]==2 else 1)' \
  $tmp/dp2/ckpt_8.h5 || fail "dp2 checkpoint: not written by 2 ranks with fletcher32 checksums"

# 1b. from a corpus (16 clips): the loader deals dp rank r every dp-th clip of the
# epoch's order, and the checkpoint's data cursor is a global position.
timeout $limit $T data synth --out $tmp/corpus.h5 --clips 16 --frames 8 --size 8x8 --seed 3 >$tmp/synth.log 2>&1 ||
  fail "data synth: $(tail -2 $tmp/synth.log)"
train cref 0 data.path=$tmp/corpus.h5; [ $rc = 0 ] || fail "single-rank corpus run: $(tail -3 $tmp/cref.log)"
cref=$(losses $tmp/cref/metrics.jsonl)
train cdp2 2 data.path=$tmp/corpus.h5 parallel.dp=2; [ $rc = 0 ] || fail "dp2 corpus run: $(tail -3 $tmp/cdp2.log)"
r=$(close "$cref" "$(losses $tmp/cdp2/metrics.jsonl)") || fail "dp2 corpus losses differ from one rank's (max rel $r):
  1 rank: $cref
  dp2:    $(losses $tmp/cdp2/metrics.jsonl)"
mkdir -p $tmp/cdp4 && cp $tmp/cdp2/ckpt_4.h5 $tmp/cdp4/
train cdp4 4 data.path=$tmp/corpus.h5 parallel.dp=4 train.resume=auto; [ $rc = 0 ] || fail "dp4 corpus resume: $(tail -3 $tmp/cdp4.log)"
r2=$(close "$(echo $cref | cut -d' ' -f5-8)" "$(losses $tmp/cdp4/metrics.jsonl)") || fail "corpus: dp2 checkpoint resumed at dp4: losses 5-8 differ (max rel $r2):
  1 rank: $(echo $cref | cut -d' ' -f5-8)
  dp4:    $(losses $tmp/cdp4/metrics.jsonl)"
echo "ok  corpus (2 epochs): dp2 losses equal one rank's (max rel $r); its step-4 checkpoint resumed at dp4 gives losses 5-8 (max rel $r2)"

# 2. the dp2 checkpoint of step 4 resumes at 1 rank and at dp4
tail4=$(echo $ref | cut -d' ' -f5-8)
for v in "from_dp2_at1 0" "from_dp2_at4 4 parallel.dp=4"; do
  set -- $v; name=$1 np=$2; shift 2
  mkdir -p $tmp/$name && cp $tmp/dp2/ckpt_4.h5 $tmp/$name/
  train $name $np train.resume=auto "$@"; [ $rc = 0 ] || fail "$name: exit $rc: $(tail -3 $tmp/$name.log)"
  grep -q "resumed from $tmp/$name/ckpt_4.h5 at step 4" $tmp/$name.log || fail "$name did not resume: $(tail -3 $tmp/$name.log)"
  got=$(losses $tmp/$name/metrics.jsonl)
  r=$(close "$tail4" "$got") || fail "$name: losses 5-8 differ from the uninterrupted run (max rel $r):
  1 rank:  $tail4
  resumed: $got"
  cmp=$($PY tests/ckpt_compare.py $tmp/ref/ckpt_8.h5 $tmp/$name/ckpt_8.h5) || fail "$name step-8 checkpoint: $cmp"
  echo "ok  dp2 checkpoint resumed $( [ $np = 0 ] && echo "at 1 rank" || echo "at dp$np"): losses 5-8 equal the uninterrupted run's (max rel $r);$cmp"
done

# 3. ZeRO-1: "shard S of N floats per rank": S = N/dp rounded up to whole 16-float lines
for v in "ref 1" "dp2 2" "from_dp2_at4 4"; do
  set -- $v
  line=$(grep -m1 "zero-1 over dpsp=$2:" $tmp/$1.log) || fail "$1: no zero-1 memory line"
  read -r shard total <<<"$(echo "$line" | sed 's/.*shard \([0-9]*\) of \([0-9]*\) floats.*/\1 \2/')"
  [ $((shard * $2)) -ge $total ] && [ $((shard * $2 - total)) -lt $((16 * $2)) ] || fail "$1: shard $shard of $total over $2 ranks"
  echo "ok  zero-1 at dpsp=$2: AdamW state $shard of $total floats per rank ($(echo "$line" | sed 's/.*AdamW m+v \([0-9.]*\) MiB per rank.*/\1/') MiB m+v)"
done

# 4. SIGUSR1 to rank 1 only: all ranks agree to stop after the same step
long=(train.steps=2000 train.ckpt_every=0)
timeout $limit mpirun --oversubscribe -np 2 $T train configs/train/tiny.yaml "${small[@]}" "${long[@]}" parallel.dp=2 \
  train.out=$tmp/sig >$tmp/sig.log 2>&1 &
mpid=$!
for _ in $(seq 1 $((limit * 10))); do [ -f $tmp/sig/metrics.jsonl ] && [ "$(wc -l < $tmp/sig/metrics.jsonl)" -ge 3 ] && break; sleep 0.1; done
r1=""
for p in $(pgrep -f "train.out=$tmp/sig\b"); do grep -qz '^OMPI_COMM_WORLD_RANK=1$' /proc/$p/environ 2>/dev/null && r1=$p; done
[ -n "$r1" ] || { kill $mpid; fail "could not find rank 1's process"; }
kill -USR1 $r1
wait $mpid; rc=$?
[ $rc = 0 ] || fail "dp2 run after SIGUSR1 to rank 1: exit $rc: $(tail -3 $tmp/sig.log)"
stop=$(sed -n 's/.*stopped by signal 10 after step \([0-9]*\).*/\1/p' $tmp/sig.log)
[ -n "$stop" ] && [ -f $tmp/sig/ckpt_$stop.h5 ] || fail "no agreed stop and checkpoint: $(tail -3 $tmp/sig.log)"
ls $tmp/sig/*.tmp >/dev/null 2>&1 && fail "temporary checkpoint left behind"
[ "$(wc -l < $tmp/sig/metrics.jsonl)" = "$stop" ] || fail "metrics has $(wc -l < $tmp/sig/metrics.jsonl) steps, stop at $stop"
$PY -c 'import h5py,sys; f=h5py.File(sys.argv[1]); assert f.attrs["step"]==int(sys.argv[2]); [f[g][n][...] for g in ("params","optim/m","optim/v","ema") for n in f[g]]' \
  $tmp/sig/ckpt_$stop.h5 $stop || fail "checkpoint at the signal unreadable"
echo "ok  SIGUSR1 to rank 1 alone: both ranks stopped after step $stop with one complete checkpoint"

# 5. bad input: one message, exit 2
bad() {  # bad NAME NP PATTERN ARGS...
  local name=$1 np=$2 pat=$3; shift 3
  train $name $np "$@"
  local n; n=$(grep -c "tessera: error:" $tmp/$name.log)
  [ $rc = 2 ] && [ "$n" = 1 ] && grep -q -- "$pat" $tmp/$name.log || fail "$name: exit $rc, $n error lines (want 2, 1 matching '$pat'):
$(grep -v '^ ' $tmp/$name.log | tail -5)"
  echo "ok  $name: exit 2, one line: $(grep "tessera: error:" $tmp/$name.log | cut -c1-150)"
}
bad layout 3 "parallel layout dp=2 x sp=1 x tp=1 = 2 ranks, but the job has 3" parallel.dp=2
bad batch 2 "train.batch: expected a multiple of parallel.dp x train.accum" parallel.dp=2 train.batch=3
bad other_model 2 "blocks.2" parallel.dp=2 model.depth=3 train.resume=$tmp/dp2/ckpt_8.h5
bad other_width 4 "rope 4/2/2, but .* has heads 4 and rope 4/6/6" parallel.dp=4 model.dim=64 train.resume=$tmp/dp2/ckpt_8.h5
bad other_rope 2 "rope 4/2/2" parallel.dp=2 model.rope=[2,2,4] train.resume=$tmp/dp2/ckpt_8.h5
echo "test_parallel_train: all ok"
