#!/usr/bin/env bash
# Checkpoint/resume and signals, against the uninterrupted run as ground truth:
#  1. a run stopped by a checkpoint and resumed prints the same losses, bit for bit
#     (metrics.jsonl holds them with 9 significant digits: exact for float32);
#  2. SIGTERM mid-run: the trainer finishes the step, checkpoints, exits 0; the
#     resumed run ends with the same losses as the uninterrupted one;
#  3. a corrupt or mismatched checkpoint is refused with one line, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/resume; rm -rf "$tmp"; mkdir -p "$tmp"
# A small model keeps this quick: depth 2, width 64, 8x16x16 video.
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16
       train.batch=2 train.log_every=1 train.warmup=2 data.p_drop=0.2)
fail() { echo "FAIL: $*"; exit 1; }
losses() { /usr/bin/python3 -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1])))' "$1"; }

$T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.ckpt_every=4 train.out=$tmp/full >$tmp/full.log 2>&1 || fail "uninterrupted run"
full=$(losses $tmp/full/metrics.jsonl)
[ "$(echo $full | wc -w)" = 8 ] || fail "expected 8 losses, got: $full"

# 1. resume from the step-4 checkpoint of the same run: steps 5..8 again
mkdir -p $tmp/split && cp $tmp/full/ckpt_4.h5 $tmp/split/
$T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.ckpt_every=4 train.out=$tmp/split train.resume=auto >$tmp/split.log 2>&1 || fail "resumed run"
grep -q "resumed from $tmp/split/ckpt_4.h5 at step 4" $tmp/split.log || fail "did not resume from ckpt_4: $(tail -3 $tmp/split.log)"
split=$(losses $tmp/split/metrics.jsonl)
tail4=$(echo $full | cut -d' ' -f5-8)
[ "$split" = "$tail4" ] || fail "resumed losses differ:
  uninterrupted steps 5-8: $tail4
  resumed:                 $split"
echo "ok  resume at step 4 reproduces losses 5-8 exactly: $split"

# 2. SIGTERM mid-run
$T train configs/train/tiny.yaml "${small[@]}" train.steps=400 train.out=$tmp/sig >$tmp/sig1.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f $tmp/sig/metrics.jsonl ] && [ "$(wc -l < $tmp/sig/metrics.jsonl)" -ge 3 ] && break; sleep 0.1
done
kill -TERM $pid
wait $pid || fail "trainer exited non-zero after SIGTERM: $(tail -2 $tmp/sig1.log)"
grep -q "stopped by signal 15" $tmp/sig1.log || fail "no clean stop message"
stopped_at=$(ls $tmp/sig/ckpt_*.h5 | sed 's/.*ckpt_\([0-9]*\).h5/\1/' | sort -n | tail -1)
[ -n "$stopped_at" ] && [ "$stopped_at" -lt 400 ] || fail "no checkpoint written at the signal"
ls $tmp/sig/*.tmp 2>/dev/null && fail "temporary checkpoint left behind"
target=$((stopped_at + 3))
$T train configs/train/tiny.yaml "${small[@]}" train.steps=400 train.out=$tmp/sig train.resume=auto >$tmp/sig2.log 2>&1 &
pid=$!
for _ in $(seq 1 600); do [ "$(wc -l < $tmp/sig/metrics.jsonl)" -ge $target ] && break; sleep 0.1; done
kill -USR1 $pid; wait $pid || fail "trainer exited non-zero after SIGUSR1"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=400 train.out=$tmp/ref train.ckpt_every=1000 >/dev/null 2>&1 &
pid=$!
n=$(wc -l < $tmp/sig/metrics.jsonl)
for _ in $(seq 1 900); do [ -f $tmp/ref/metrics.jsonl ] && [ "$(wc -l < $tmp/ref/metrics.jsonl)" -ge $n ] && break; sleep 0.1; done
kill -TERM $pid; wait $pid || true
a=$(losses $tmp/sig/metrics.jsonl | cut -d' ' -f1-$n); b=$(losses $tmp/ref/metrics.jsonl | cut -d' ' -f1-$n)
[ "$a" = "$b" ] || fail "losses after SIGTERM+resume differ from the uninterrupted run:
  resumed: $a
  direct:  $b"
echo "ok  SIGTERM at step $stopped_at, resume, SIGUSR1: $n losses equal the uninterrupted run"

# 3. bad checkpoints
head -c 2000 $tmp/full/ckpt_8.h5 > $tmp/trunc.h5
for bad in $tmp/trunc.h5 $tmp/missing.h5; do
  set +e; $T train configs/train/tiny.yaml "${small[@]}" train.steps=9 train.out=$tmp/bad train.resume=$bad >$tmp/bad.out 2>$tmp/bad.err; rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l < $tmp/bad.err)" = 1 ] && grep -q "$bad" $tmp/bad.err || fail "bad checkpoint $bad: rc $rc, stderr: $(cat $tmp/bad.err)"
done
set +e; $T train configs/train/tiny.yaml "${small[@]}" model.depth=3 train.steps=9 train.out=$tmp/bad train.resume=$tmp/full/ckpt_8.h5 >/dev/null 2>$tmp/bad.err; rc=$?; set -e
[ $rc = 2 ] && grep -q "blocks.2" $tmp/bad.err || fail "mismatched model config: rc $rc, $(cat $tmp/bad.err)"
echo "ok  truncated, missing and mismatched checkpoints refused (exit 2, one line)"
