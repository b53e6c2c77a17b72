#!/usr/bin/env bash
# Checkpoint/resume and signals, against the uninterrupted run as ground truth:
#  1. a run stopped by a checkpoint and resumed prints the same losses, bit for bit
#     (metrics.jsonl holds them with 9 significant digits: exact for float32);
#  2. SIGTERM mid-run: the trainer finishes the step, checkpoints, exits 0; the
#     resumed run ends with the same losses as the uninterrupted one;
#  3. a corrupt or mismatched checkpoint is refused with one line, exit 2;
#  4. a hostile checkpoint read by `generate` (docs/checkpoint.md "Reading"): a
#     broken object header, a bad stored config, string attributes of the wrong
#     kind, a vocabulary of the wrong type or with bad offsets, the version 2
#     vocabulary: one line naming the checkpoint and the item, exit 2.
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

# 4. hostile checkpoints, read by generate (a checkpoint with a vocabulary: trained on a corpus)
PY=/usr/bin/python3
$T data synth --out $tmp/s.h5 --clips 8 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=1 train.out=$tmp/voc data.path=$tmp/s.h5 >$tmp/voc.log 2>&1 || fail "train on a corpus"
ck=$tmp/voc/ckpt_1.h5
$PY - $ck <<'EOF' || fail "checkpoint layout (docs/checkpoint.md)"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["version"] == 3, f.attrs["version"]
for a in ("format", "config", "run_id"):  # fixed-length strings only
    t = f.attrs.get_id(a).get_type()
    assert t.get_class() == h5py.h5t.STRING and not t.is_variable_str(), a
g = f["tokenizer/vocab"]
assert isinstance(g, h5py.Group) and g["bytes"].dtype == np.uint8 and g["offsets"].dtype == np.uint64
assert g["bytes"].fletcher32 and g["offsets"].fletcher32
o = g["offsets"][...]; b = g["bytes"][...].tobytes()
assert o[0] == 0 and o[-1] == len(b) and (np.diff(o.astype(np.int64)) >= 0).all()
assert b[o[0]:o[1]] == b"<pad>" and b[o[1]:o[2]] == b"<bos>", b[:20]
EOF
gen() { set +e; $T generate --ckpt $1 --steps 1 --prompt "a red circle" --out $tmp/g.mp4 >$tmp/g.out 2>$tmp/g.err; rc=$?; set -e; }
gen $ck; [ $rc = 0 ] || fail "generate on an intact checkpoint: $(cat $tmp/g.err)"
refused() {  # refused NAME GREP EDIT...: a copy of $ck edited by ckpt_edit.py EDIT is one line, exit 2
  local name=$1 want=$2; shift 2
  cp $ck $tmp/$name.h5; $PY tests/ckpt_edit.py $tmp/$name.h5 "$@"
  gen $tmp/$name.h5
  [ $rc = 2 ] && [ "$(wc -l < $tmp/g.err)" = 1 ] && grep -q -- "$tmp/$name.h5:.*$want" $tmp/g.err ||
    fail "$name: rc $rc (want 2, one line with '$tmp/$name.h5:.*$want'): $(cat $tmp/g.err)"
  grep -qE "(^|[ :])/tmp/" $tmp/g.err && fail "$name: names a temporary file: $(cat $tmp/g.err)"; true
}
refused ohdr "/ema/y_embed.weight: cannot open" ohdr /params/y_embed.weight /ema/y_embed.weight
refused steps "[0-9]*:[0-9]*: train.steps: expected an integer >= 1" config "steps: 1" "steps: -5"
refused key "[0-9]*:[0-9]*: train.stepz: unknown key" config "steps: 1" "stepz: 1"
refused cfgvlen "attribute config: expected a fixed-length string, found a variable-length string" str config "model: {}" vlen
refused fmtvlen "format.*fixed-length string" str format tessera-ckpt vlen
refused vocint "/tokenizer/vocab: expected a group" vocab int
refused vocoff "/tokenizer/vocab/offsets: entry 2: expected offsets in" vocab offset 3 1000000
refused vocv2 "version 2 .*no longer read" vocab v2
# a version 2 file still resumes training (floats and fixed-length attributes only)
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/v2run data.path=$tmp/s.h5 train.resume=$tmp/vocv2.h5 >$tmp/v2.log 2>&1 ||
  fail "resume from a version 2 checkpoint: $(tail -2 $tmp/v2.log)"
gen $tmp/v2run/ckpt_2.h5; [ $rc = 0 ] || fail "generate on the checkpoint resumed from version 2: $(cat $tmp/g.err)"
echo "ok  hostile checkpoints refused by generate (one line naming the checkpoint and item, exit 2); version 2 resumes"
