#!/usr/bin/env bash
# `tessera eval` end to end on a checkpoint made in seconds (a 2-step model on a
# small synth corpus: the scores are meaningless, the plumbing is checked):
#  1. a small suite of every kind (t2v, two objects, i2v, extend) runs, prints the
#     table and totals, writes eval.json (valid JSON with every item and metric)
#     and one MP4 per video with the model's frame count and 4x its size;
#  2. bad input: a broken suite, a missing checkpoint, an unknown option: one
#     line naming what and why, exit code 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/eval; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }

$T data synth --out $tmp/s.h5 --clips 64 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth: $(tail -2 $tmp/synth.log)"
$T train configs/train/tiny.yaml model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 \
  model.video.width=16 train.batch=2 train.warmup=1 train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 \
  >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5

cat >$tmp/suite.yaml <<'EOF'
name: smoke
items:
  - {prompt: "a red circle moves left", colour: red, shape: circle, motion: left}
  - {prompt: "a blue square stays still", colour: blue, shape: square, motion: still}
  - {prompt: "a red circle moves right and a blue square stays still", colour: red, shape: circle, motion: right, objects: 2, colour2: blue, shape2: square, motion2: still}
  - {prompt: "a cyan circle moves right", colour: cyan, shape: circle, motion: right, mode: i2v, background: navy}
  - {prompt: "a green circle moves up", colour: green, shape: circle, motion: up, mode: extend, background: gray}
EOF
$T eval --ckpt $ckpt --suite $tmp/suite.yaml --out $tmp/out --steps 2 --cfg 2 --shift 3 --sampler heun --seeds 2 >$tmp/eval.log 2>&1 \
  || fail "eval: $(tail -3 $tmp/eval.log)"
grep -q "single-object text-to-video" $tmp/eval.log || fail "no totals row: $(tail -5 $tmp/eval.log)"
grep -q "targets (single-object t2v): colour" $tmp/eval.log || fail "no targets line"
[ "$(grep -cE '^[0-9]+ +(t2v|i2v|extend) ' $tmp/eval.log)" = 5 ] || fail "expected 5 table rows: $(cat $tmp/eval.log)"
/usr/bin/python3 - "$tmp/out/eval.json" <<'EOF' || fail "eval.json"
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["shift"] == 3 and d["sampler"] == "heun", d
assert d["seeds"] == 2 and d["steps"] == 2 and d["cfg"] == 2 and d["frames"] == 8 and d["size"] == [16, 16], d
items = d["items"]
assert len(items) == 5, len(items)
for it in items:
    assert len(it["videos"]) == 2
    for v in it["videos"]:
        for k in ("colour", "shape", "motion", "consistency"):
            assert v[k] is not None and 0 <= v[k] <= 1, (k, v)
        assert os.path.getsize(v["video"]) > 0, v["video"]
assert items[2]["videos"][0]["permanence"] is not None and items[0]["videos"][0]["permanence"] is None
assert items[3]["videos"][0]["first_frame"] == 1, items[3]  # the image is kept exactly
assert items[4]["videos"][0]["seam"] is not None and items[4]["conditioning_frames"] == 4
t = d["totals"]["single_object_t2v"]
assert t["videos"] == 4 and t["direction"] is not None, t
assert [v["seed"] for v in items[0]["videos"]] == [0, 1]
EOF
n=$(ls $tmp/out/*.mp4 | wc -l)
[ "$n" = 10 ] || fail "expected 10 MP4s, found $n"
if command -v ffprobe >/dev/null; then
  mp4=$(ls $tmp/out/*.mp4 | head -1)
  probe=$(ffprobe -v error -select_streams v:0 -count_frames -show_entries stream=nb_read_frames,width,height -of csv=p=0 "$mp4")
  [ "$probe" = "64,64,8" ] || fail "$mp4: ffprobe says width,height,frames = $probe, expected 64,64,8"
fi
echo "ok  eval end to end: 5 items x 2 seeds, table, eval.json, 10 MP4s (8 frames, 64x64)"

# bad input: one line, exit 2
expect2() {  # expect2 WHAT PATTERN -- command...
  local what=$1 pat=$2; shift 3
  set +e; out=$("$@" 2>&1); rc=$?; set -e
  [ $rc = 2 ] || fail "$what: exit $rc, expected 2: $out"
  [ "$(echo "$out" | wc -l)" = 1 ] || fail "$what: expected one line, got: $out"
  echo "$out" | grep -q -- "$pat" || fail "$what: '$out' lacks '$pat'"
}
printf 'items:\n  - {prompt: "a red circle moves left", colour: red, shape: hexagon, motion: left}\n' >$tmp/bad.yaml
expect2 "bad suite" "$tmp/bad.yaml:2:61: items\[0\].shape: expected one of circle, square, triangle" -- \
  $T eval --ckpt $ckpt --suite $tmp/bad.yaml --out $tmp/bad
printf 'items:\n  - {prompt: "x", colour: red\n' >$tmp/broken.yaml
expect2 "broken YAML" "$tmp/broken.yaml:3:1: invalid YAML" -- $T eval --ckpt $ckpt --suite $tmp/broken.yaml
expect2 "missing suite" "no_such.yaml: cannot open" -- $T eval --ckpt $ckpt --suite $tmp/no_such.yaml
expect2 "missing checkpoint" "no_such.h5" -- $T eval --ckpt $tmp/no_such.h5 --suite $tmp/suite.yaml
expect2 "unknown option" "unknown option '--bogus'" -- $T eval --ckpt $ckpt --bogus 1
expect2 "bad --seeds" "--seeds: expected an integer" -- $T eval --ckpt $ckpt --seeds 0
expect2 "bad --sampler" "--sampler: expected euler or heun, got 'rk4'" -- $T eval --ckpt $ckpt --sampler rk4
expect2 "bad --shift" "--shift" -- $T eval --ckpt $ckpt --shift 0
[ ! -e $tmp/bad ] || fail "a refused suite created its output directory"
echo "ok  bad suites, a missing checkpoint and bad options: one line, exit 2"
