#!/usr/bin/env bash
# One generation pipeline (infer/pipeline.h, docs/layers.md): generate, render
# and eval are callers of it, so the same request made through each gives the
# same video (the media compared without the C2PA manifest, which differs per
# file) and the same provenance record (timings left out).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/pipeline_same; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1
same_video() { cmp -s <(/usr/bin/python3 tests/prov/strip_c2pa.py "$1" /dev/stdout) <(/usr/bin/python3 tests/prov/strip_c2pa.py "$2" /dev/stdout); }
$T data synth --out $tmp/s.h5 --clips 8 --frames 8 --size 32x32 --seed 2 >$tmp/log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml model.depth=1 model.dim=32 model.video.frames=8 model.video.height=32 \
  model.video.width=32 train.batch=2 train.warmup=1 train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >>$tmp/log 2>&1 ||
  fail "train: $(tail -2 $tmp/log)"
ckpt=$tmp/run/ckpt_2.h5
prompt="a red circle moves left"
$T generate --ckpt $ckpt --prompt "$prompt" --seed 5 --steps 2 --cfg 3 --upscale 4 --out $tmp/g.mp4 >>$tmp/log 2>&1 || fail "generate"
echo "{\"prompt\": \"$prompt\", \"seed\": 5}" >$tmp/list.jsonl
$T render $tmp/list.jsonl --ckpt $ckpt --steps 2 --cfg 3 --upscale 4 --out $tmp/r >>$tmp/log 2>&1 || fail "render"
printf 'name: one\nitems:\n  - {prompt: %s, mode: t2v, colour: red, shape: circle, motion: left}\n' "$prompt" >$tmp/suite.yaml
$T eval --ckpt $ckpt --suite $tmp/suite.yaml --seed 5 --steps 2 --cfg 3 --upscale 4 --out $tmp/e >>$tmp/log 2>&1 || fail "eval"
ev=$(ls $tmp/e/*.mp4)
same_video $tmp/g.mp4 $tmp/r/item00000.mp4 || fail "render's video differs from generate's"
same_video $tmp/g.mp4 $ev || fail "eval's video differs from generate's"
cmp -s $tmp/g.png $tmp/r/item00000.png && cmp -s $tmp/g.png ${ev%.mp4}.png || fail "contact sheets differ"
/usr/bin/python3 - $tmp/g.json $tmp/r/item00000.json ${ev%.mp4}.json <<'PY' || fail "provenance records differ"
import json, sys
def core(p):
    d = json.load(open(p))
    for k in ("seconds", "render", "layout"): d.pop(k, None)
    return d
g, r, e = (core(p) for p in sys.argv[1:])
assert g == r == e, (g, r, e)
PY
echo "ok  generate, render and eval make the same video, sheet and provenance record for the same request"
