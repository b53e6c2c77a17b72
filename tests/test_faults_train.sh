#!/usr/bin/env bash
# Faults during training (issue 14; docs/checkpoint.md), each checked several
# times where it used to be a race:
#  1. a corrupt corpus chunk read by the prefetch thread, and a read-only
#     train.out: one correct line, exit 2, no signal, no false corpus blame;
#  2. run directories belong to a run: a fresh run refuses run A's directory,
#     resume=auto continues A, --overwrite starts over;
#  3. checkpoint integrity: a flipped bit in a tp=2 checkpoint, NaN with the
#     checksum recomputed, an absurd step, x- resumed as v-prediction: refused;
#  4. a full disk during a checkpoint: one line, .tmp removed, earlier checkpoint intact;
#  5. kill -9 during checkpoint writes and SIGTERM/SIGUSR1 at random steps:
#     no half file under a real name, resume=auto continues, losses match.
# (scripts/fault_signals.sh runs part 5 many more times.)
set -euo pipefail
cd "$(dirname "$0")/.."
T=$(realpath "${TESSERA:-bin/tessera}")
PY=/usr/bin/python3
tmp=build/tmp/faults_train; rm -rf "$tmp"; mkdir -p "$tmp"
mnt=$tmp/mnt; mkdir -p $mnt
cleanup() { mountpoint -q $mnt && umount $mnt; true; }
trap cleanup EXIT
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16
       train.batch=2 train.log_every=1 train.warmup=2)
fail() { echo "FAIL: $*"; exit 1; }
train() { $T train configs/train/tiny.yaml "${small[@]}" "$@"; }
tessera_train=($T train configs/train/tiny.yaml "${small[@]}")  # in the background: $! is tessera itself
# expect_error RC_WANT GREP LOG: exit status, exactly one error line, matching GREP, nothing else blamed
errors() { grep -c "^tessera: error:\|^tessera\[rank" "$1" || true; }
expect_error() {
  local rc=$1 want=$2 log=$3
  [ "$rc" = 2 ] || fail "exit $rc (want 2): $(tail -3 $log)"
  [ "$(errors $log)" = 1 ] || fail "expected one error line: $(grep error $log)"
  grep "^tessera: error:" $log | grep -q -- "$want" || fail "error line lacks '$want': $(grep error $log)"
}

$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
# every patch chunk from clip 4 on corrupt (as tests/test_corpus_bad.sh does for one)
cp $tmp/s.h5 $tmp/bad.h5
$PY - $tmp/bad.h5 <<'EOF'
import sys, h5py
f = h5py.File(sys.argv[1], "r"); d = f["buckets/8x16x16/patches"]
chunks = [d.id.get_chunk_info(i) for i in range(d.id.get_num_chunks())]; f.close()
with open(sys.argv[1], "r+b") as fh:
    for c in chunks[4:]:
        fh.seek(c.byte_offset + 4); fh.write((bytes(range(256)) * (c.size // 256 + 1))[:c.size - 8])  # inside the chunk
EOF

# 1. failures while the prefetch thread runs
for i in $(seq 1 10); do
  set +e; train data.path=$tmp/bad.h5 data.prefetch=4 train.steps=50 train.out=$tmp/bad_run.$i >$tmp/l1 2>&1; rc=$?; set -e
  expect_error $rc "bad.h5: /buckets/8x16x16/patches: clip [0-9]*: checksum mismatch" $tmp/l1
done
echo "ok  corrupt chunk with prefetch on: one line, exit 2, 10 of 10 runs"
mount -t tmpfs -o ro,size=1m tmpfs $mnt
for i in $(seq 1 10); do
  set +e; train data.path=$tmp/s.h5 data.prefetch=4 train.steps=4 train.out=$mnt >$tmp/l1 2>&1; rc=$?; set -e
  expect_error $rc "train.out: cannot write in directory '$mnt': Read-only file system" $tmp/l1
  grep -q "s.h5" <(grep error $tmp/l1) && fail "healthy corpus blamed: $(grep error $tmp/l1)"
done
umount $mnt
echo "ok  read-only train.out: one line naming the directory, exit 2, 10 of 10 runs"

# 2. run A, then a fresh run B in the same directory
A=$tmp/runA
train train.steps=6 train.ckpt_every=2 train.keep_ckpts=2 train.out=$A >$tmp/a.log 2>&1 || fail "run A: $(tail -2 $tmp/a.log)"
before=$(cd $A && md5sum ckpt_*.h5 metrics.jsonl)
set +e; train train.steps=3 train.ckpt_every=1 train.out=$A >$tmp/b.log 2>&1; rc=$?; set -e
expect_error $rc "holds 2 checkpoints of another run" $tmp/b.log
[ "$(cd $A && md5sum ckpt_*.h5 metrics.jsonl)" = "$before" ] || fail "run B changed run A's files"
train train.steps=8 train.ckpt_every=2 train.keep_ckpts=2 train.out=$A train.resume=auto >$tmp/a2.log 2>&1 || fail "resume A"
grep -q "resumed from $A/ckpt_6.h5 at step 6" $tmp/a2.log || fail "resume=auto did not continue A"
runA=$($PY -c 'import json,sys; print({json.loads(l)["run"] for l in open(sys.argv[1])})' $A/metrics.jsonl)
[ "$(echo "$runA" | tr -cd ',' | wc -c)" = 0 ] || fail "metrics of A name several runs: $runA"
$T train --overwrite configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$A >$tmp/b2.log 2>&1 || fail "--overwrite"
[ "$(ls $A/ckpt_*.h5)" = "$A/ckpt_2.h5" ] && [ "$(wc -l < $A/metrics.jsonl)" = 2 ] || fail "--overwrite left: $(ls $A)"
echo "ok  a fresh run refuses run A's directory (A untouched), resume=auto continues A, --overwrite starts over"

# 3. integrity of checkpoints written by tp=2 (hyperslab writes, no fletcher32)
mpi="mpirun --allow-run-as-root --oversubscribe -n 2"
$mpi $T train configs/train/tiny.yaml "${small[@]}" parallel.tp=2 train.steps=2 train.out=$tmp/tp2 >$tmp/tp2.log 2>&1 ||
  fail "tp=2 run: $(tail -3 $tmp/tp2.log)"
ck=$tmp/tp2/ckpt_2.h5
resume_from() {  # resume_from FILE [overrides]: exit status into rc, output into $tmp/r.log
  local f=$1; shift
  set +e; train train.steps=3 train.out=$tmp/r.$RANDOM train.resume=$f "$@" >$tmp/r.log 2>&1; rc=$?; set -e
}
resume_from $ck; [ $rc = 0 ] || fail "intact tp=2 checkpoint refused: $(tail -2 $tmp/r.log)"
cp $ck $tmp/flip.h5; $PY tests/ckpt_edit.py $tmp/flip.h5 flip /params/blocks.1.attn.qkv.weight
resume_from $tmp/flip.h5; expect_error $rc "/params/blocks.1.attn.qkv.weight: checksum mismatch" $tmp/r.log
cp $ck $tmp/nan.h5; $PY tests/ckpt_edit.py $tmp/nan.h5 nan /ema/blocks.0.mlp.fc1.weight
resume_from $tmp/nan.h5; expect_error $rc "/ema/blocks.0.mlp.fc1.weight: element 0 is NaN" $tmp/r.log
for step in -1 4611686018427387904; do
  cp $ck $tmp/step.h5; $PY tests/ckpt_edit.py $tmp/step.h5 attr step $step
  resume_from $tmp/step.h5; expect_error $rc "attribute step: expected a step count" $tmp/r.log
done
train model.predict=x train.steps=2 train.out=$tmp/xpred >$tmp/x.log 2>&1 || fail "x-prediction run"
resume_from $tmp/xpred/ckpt_2.h5 model.predict=v; expect_error $rc "trained with model.predict x" $tmp/r.log
echo "ok  tp=2 checkpoint: flipped bit, NaN with checksum recomputed, absurd step, other model.predict: refused"

# 4. a full disk during a checkpoint (a checkpoint of this model is about 9.5 MB)
mount -t tmpfs -o size=14m tmpfs $mnt
set +e; train train.steps=4 train.ckpt_every=2 train.keep_ckpts=0 train.out=$mnt >$tmp/full.log 2>&1; rc=$?; set -e
expect_error $rc "$mnt/ckpt_4.h5: cannot write the checkpoint (.*): No space left on device" $tmp/full.log
grep -q "HDF5-DIAG\|H5[A-Z][a-z_]*(" $tmp/full.log && fail "HDF5 diagnostics printed: $(grep -c HDF5 $tmp/full.log) lines"
ls $mnt/*.tmp 2>/dev/null && fail "temporary checkpoint left on the full disk"
cp $mnt/ckpt_2.h5 $tmp/kept.h5; umount $mnt
resume_from $tmp/kept.h5; [ $rc = 0 ] || fail "checkpoint before the full disk does not load: $(tail -2 $tmp/r.log)"
echo "ok  full disk: one line with 'No space left on device', .tmp removed, the earlier checkpoint loads"

# 5a. kill -9 at random moments of a run that checkpoints every step
K=$tmp/kill
for i in 1 2 3; do
  "${tessera_train[@]}" train.steps=400 train.ckpt_every=1 train.keep_ckpts=2 train.out=$K train.resume=auto >$tmp/k.log 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do [ "$(ls $K/ckpt_*.h5 2>/dev/null | wc -l)" -ge 1 ] && break; sleep 0.05; done
  sleep 0.$((RANDOM % 10)); kill -9 $pid; wait $pid 2>/dev/null || true
  for f in $K/ckpt_*.h5; do $PY -c 'import h5py,sys; h5py.File(sys.argv[1],"r")["params"]' $f || fail "half file $f after kill -9"; done
done
last=$(ls $K/ckpt_*.h5 | sed 's/.*ckpt_\([0-9]*\).h5/\1/' | sort -n | tail -1)
train train.steps=$((last + 1)) train.out=$K train.resume=auto >$tmp/k.log 2>&1 || fail "resume after kill -9: $(tail -2 $tmp/k.log)"
grep -q "resumed from $K/ckpt_$last.h5" $tmp/k.log || fail "did not resume from the last checkpoint ckpt_$last"
ls $K/*.tmp 2>/dev/null && fail "stale temporaries not removed"
echo "ok  kill -9 during checkpoint writes (3 times): real names hold whole files, resume=auto continues from ckpt_$last"

# 5b. SIGTERM / SIGUSR1 at random steps, resumed each time; the losses equal an uninterrupted run's
S=$tmp/sig; n=0
train train.steps=12 train.ckpt_every=1000 train.out=$tmp/ref >/dev/null 2>&1 || fail "reference run"
while [ $n -lt 6 ]; do
  "${tessera_train[@]}" train.steps=12 train.ckpt_every=1000 train.out=$S train.resume=auto >$tmp/s.log 2>&1 &
  pid=$!; want=$((RANDOM % 4 + 1)); have=$( [ -f $S/metrics.jsonl ] && wc -l < $S/metrics.jsonl || echo 0)
  for _ in $(seq 1 400); do [ -f $S/metrics.jsonl ] && [ "$(wc -l < $S/metrics.jsonl)" -ge $((have + want)) ] && break; sleep 0.02; done
  sig=$([ $((n % 2)) = 0 ] && echo TERM || echo USR1)
  kill -$sig $pid 2>/dev/null || true
  wait $pid || fail "exit $? after SIG$sig: $(tail -2 $tmp/s.log)"
  n=$((n + 1))
  grep -q "step 12 " $tmp/s.log && break
done
losses() { $PY -c 'import json,sys; d={}
for l in open(sys.argv[1]): j=json.loads(l); d[j["step"]]=repr(j["loss"])
print(" ".join(d[k] for k in sorted(d)))' "$1"; }
[ "$(losses $S/metrics.jsonl)" = "$(losses $tmp/ref/metrics.jsonl)" ] || fail "losses after $n signals differ:
  signalled: $(losses $S/metrics.jsonl)
  direct:    $(losses $tmp/ref/metrics.jsonl)"
echo "ok  $n runs stopped by SIGTERM/SIGUSR1 at random steps and resumed: every loss equals the uninterrupted run's"
