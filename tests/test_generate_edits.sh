#!/usr/bin/env bash
# The video edits of `tessera generate` end to end on a checkpoint made in
# seconds (pictures meaningless, mechanics checked; the windows themselves are
# held to the sampler bit for bit in tests/unit/test_edits.c):
#  1. --extend --backward: the input is the output's end (--new-only: only the
#     new frames); --first/--last videos: both kept around the transition;
#     --loop: window + bridge frames and its seam said; --remix of a 16-frame
#     video covers all 16. Frames compared on the decoded MP4s (--upscale 1)
#     with the inputs as tests/test_generate.sh does (H.264 is lossy).
#  2. `tessera eval` with one item of each edit mode: the table rows and totals,
#     eval.json with each video's frames, the inputs kept bit for bit (backward,
#     connect: measured on the frames before encoding);
#  3. bad input: --loop with --last, --backward without --extend, --first and
#     --last of different sizes, --remix with --image, --new-only without an
#     input video: one line naming what and why, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/generate_edits; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 train.batch=2 train.warmup=1)

$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
G() { $T generate --ckpt $ckpt --steps 2 --cfg 2 --upscale 1 "$@"; }
run() { local out=$1; shift; G --prompt "a red square moves right" --out $tmp/$out.mp4 "$@" >$tmp/$out.log 2>&1 || fail "$out: $(tail -2 $tmp/$out.log)"; }

# 1. each edit: lengths and kept inputs
run a --seed 1
run b --seed 2
run long --frames 16 --seed 3
run back --extend $tmp/a.mp4 --backward
run back_new --extend $tmp/a.mp4 --backward --frames 6 --new-only
run conn --first $tmp/a.mp4 --last $tmp/b.mp4
run conn_new --first $tmp/a.mp4 --last $tmp/b.mp4 --new-only
run loop --loop
run remix --remix $tmp/long.mp4 --strength 0.5
grep -q "^loop seam: last-to-first step" $tmp/loop.log || fail "the loop's seam is not reported: $(cat $tmp/loop.log)"
/usr/bin/python3 - $tmp <<'PY' || fail "edits: lengths or kept frames"
import sys, subprocess, numpy as np
d = sys.argv[1]
def frames(p):
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", d + "/" + p + ".mp4", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, 16, 16, 3).astype(float)
def err(x, y): return np.abs(x - y).mean()
a, b, back, back_new, conn, conn_new, loop, remix, long = map(frames, "a b back back_new conn conn_new loop remix long".split())
lengths = {"back": (len(back), 12), "back --new-only --frames 6": (len(back_new), 6), "connection": (len(conn), 20),
           "connection --new-only": (len(conn_new), 4), "loop": (len(loop), 12), "remix of 16": (len(remix), 16)}
for k, (got, want) in lengths.items():
    assert got == want, "%s: %d frames, expected %d" % (k, got, want)
free = err(a[0], b[0])  # two unrelated generated frames
checks = {"backward: input = output's end": err(back[4:], a), "connection: first video kept": err(conn[:8], a),
          "connection: last video kept": err(conn[12:], b), "connection --new-only = its transition": err(conn_new, conn[8:12])}
for k, v in checks.items():
    print("  %-40s mean abs err %.2f (unrelated frames: %.1f)" % (k, v, free))
    assert v < 0.25 * free, (k, v, free)  # H.264 twice over noise-like frames: ~11 here
PY
echo "ok  backward extension, connection, loop, long remix: lengths and kept inputs"

# 2. the eval's edit items
cat >$tmp/suite.yaml <<'EOF2'
name: edits-smoke
items:
  - {prompt: "a red circle moves right", colour: red, shape: circle, motion: right, mode: backward}
  - {prompt: "a blue square stays still", colour: blue, shape: square, motion: still, mode: loop}
  - {prompt: "a green circle moves up", colour: green, shape: circle, motion: up, mode: connect, background: gray}
  - {prompt: "a red square moves left", colour: red, shape: square, motion: left, mode: remix, from: blue}
EOF2
$T eval --ckpt $ckpt --suite $tmp/suite.yaml --out $tmp/eval --steps 2 --cfg 2 --seeds 1 >$tmp/eval.log 2>&1 || fail "eval: $(tail -3 $tmp/eval.log)"
[ "$(grep -cE '^[0-9]+ +(backward|loop|connect|remix) ' $tmp/eval.log)" = 4 ] || fail "expected 4 edit rows: $(cat $tmp/eval.log)"
for t in "backward extension" "loop" "connection of two videos" "long remix"; do
  grep -q "^$t " $tmp/eval.log || fail "no totals row '$t': $(tail -8 $tmp/eval.log)"
done
/usr/bin/python3 - $tmp/eval/eval.json <<'PY' || fail "eval.json of the edits"
import json, sys
d = json.load(open(sys.argv[1]))
v = [it["videos"][0] for it in d["items"]]
assert [x["frames"] for x in v] == [8, 12, 20, 16], [x["frames"] for x in v]
assert v[0]["kept"] == 1 and v[2]["kept"] == 1 and v[1]["kept"] is None, v
assert v[0]["seam"] is not None and v[1]["seam"] is not None and v[2]["continuity"] is not None, v
for k in ("backward", "loop", "connect", "remix"):
    assert d["totals"][k]["videos"] == 1, (k, d["totals"][k])
PY
echo "ok  eval: backward, loop, connect, remix items scored; inputs kept bit for bit"

# 3. bad input
bad() {  # expect exit 2 and one stderr line containing $1
  local want=$1; shift
  set +e; "$@" >$tmp/bad.out 2>$tmp/bad.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l < $tmp/bad.err)" = 1 ] && grep -q -- "$want" $tmp/bad.err || fail "expected exit 2 and one line with '$want' from: $* (rc $rc: $(cat $tmp/bad.err))"
}
/usr/bin/python3 -c '
import sys, numpy as np, imageio as iio
iio.imwrite(sys.argv[1] + "/wide.png", np.zeros((16, 24, 3), np.uint8))
iio.imwrite(sys.argv[1] + "/square.png", np.zeros((16, 16, 3), np.uint8))' $tmp || fail "could not make input images"
bad "--loop with --last" G --prompt x --loop --first $tmp/a.mp4 --last $tmp/b.mp4 --out $tmp/x.mp4
bad "--backward needs --extend" G --prompt x --backward --out $tmp/x.mp4
bad "is 16x24 but --last $tmp/square.png is 16x16" G --prompt x --first $tmp/wide.png --last $tmp/square.png --out $tmp/x.mp4
bad "is 16x16 but --last $tmp/wide.png is 16x24" G --prompt x --first $tmp/a.mp4 --last $tmp/wide.png --out $tmp/x.mp4
bad "--remix with --image" G --prompt x --remix $tmp/a.mp4 --image $tmp/square.png --out $tmp/x.mp4
bad "--new-only drops the input video" G --prompt x --new-only --out $tmp/x.mp4
bad "frames 3" G --prompt x --first $tmp/a.mp4 --last $tmp/b.mp4 --frames 3 --out $tmp/x.mp4
[ ! -e $tmp/x.mp4 ] || fail "a refused edit left $tmp/x.mp4"
echo "ok  contradictory edits and inputs of different sizes: one line, exit 2"
