#!/usr/bin/env bash
# The edits in `tessera render` prompt lists (docs/render.md): the keys
# backward, loop and new_only (true/false, as generate's --backward, --loop and
# --new-only) and videos as first/last, on a checkpoint made in seconds:
#  1. each item's video equals, frame for frame after decoding, what `generate`
#     makes with the same flags and seed (one pipeline), and its conditioning
#     frames are the inputs' (backward: the input is the output's end; first/last
#     videos: both kept around the transition; new_only: the transition alone;
#     loop: its length and the seam said by generate);
#  2. bad values and contradictory edits fail that item alone (file:line in the
#     manifest and on stderr, exit 1 as for every malformed item), the rest
#     renders; an item key's value that is not true/false names the key.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
tmp=build/tmp/render_edits; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 train.batch=2 train.warmup=1)

$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 ||
  fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
S=(--ckpt $ckpt --steps 2 --cfg 2 --upscale 1)
G() { local out=$1; shift; $T generate "${S[@]}" --prompt "a red square moves right" --out $tmp/$out.mp4 "$@" \
        >$tmp/$out.log 2>&1 || fail "generate $out: $(tail -2 $tmp/$out.log)"; }
G a --seed 1
G b --seed 2
G g_back --extend $tmp/a.mp4 --backward --seed 5
G g_back_new --extend $tmp/a.mp4 --backward --frames 6 --new-only --seed 6
G g_conn --first $tmp/a.mp4 --last $tmp/b.mp4 --seed 7
G g_conn_new --first $tmp/a.mp4 --last $tmp/b.mp4 --new-only --seed 7
G g_loop --loop --seed 9

# 1. the same edits as render items (YAML, paths relative to the list's folder)
cat >$tmp/list.yaml <<'EOF2'
- {prompt: "a red square moves right", extend: a.mp4, backward: true, seed: 5, id: back}
- {prompt: "a red square moves right", extend: a.mp4, backward: true, frames: 6, new_only: true, seed: 6, id: back_new}
- {prompt: "a red square moves right", first: a.mp4, last: b.mp4, seed: 7, id: conn}
- {prompt: "a red square moves right", first: a.mp4, last: b.mp4, new_only: true, seed: 7, id: conn_new}
- {prompt: "a red square moves right", loop: true, seed: 9, id: loop}
- {prompt: "a red square moves right", extend: a.mp4, backward: false, seed: 5, id: fwd}
EOF2
$T render $tmp/list.yaml "${S[@]}" --out $tmp/r >$tmp/render.log 2>&1 || fail "render: $(tail -3 $tmp/render.log)"
G g_fwd --extend $tmp/a.mp4 --seed 5
$PY - $tmp <<'PY' || fail "render edits: lengths, kept frames or generate's videos"
import sys, subprocess, numpy as np
d = sys.argv[1]
def frames(p):
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", d + "/" + p + ".mp4", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, 16, 16, 3).astype(float)
def err(x, y): return np.abs(x - y).mean()
a, b = frames("a"), frames("b")
free = err(a[0], b[0])  # two unrelated generated frames
r = {k: frames("r/" + k) for k in "back back_new conn conn_new loop fwd".split()}
for k, v in r.items():  # one pipeline: render's item is generate's video
    g = frames("g_" + k)
    assert v.shape == g.shape and (v == g).all(), "%s: render %s differs from generate %s (max %g)" % (
        k, v.shape, g.shape, np.abs(v - g).max() if v.shape == g.shape else -1)
lengths = {"back": 12, "back_new": 6, "conn": 20, "conn_new": 4, "loop": 12, "fwd": 12}
for k, n in lengths.items():
    assert len(r[k]) == n, "%s: %d frames, expected %d" % (k, len(r[k]), n)
checks = {"backward: input = output's end": err(r["back"][4:], a), "first video kept": err(r["conn"][:8], a),
          "last video kept": err(r["conn"][12:], b), "new_only = the transition": err(r["conn_new"], r["conn"][8:12]),
          "backward false: input = output's start": err(r["fwd"][:8], a)}
for k, v in checks.items():
    print("  %-40s mean abs err %.2f (unrelated frames: %.1f)" % (k, v, free))
    assert v < 0.25 * free, (k, v, free)  # H.264 twice over noise-like frames, as tests/test_generate_edits.sh
assert err(r["back"][:8], a) > 0.25 * free, "backward: the input is at the start, not the end"
PY
echo "ok  render backward, backward+new_only, first/last videos (+new_only), loop: generate's videos, inputs kept"

# 2. bad values and contradictions: that item fails (file:line), the others render, exit 1
cat >$tmp/bad.jsonl <<'EOF2'
{"prompt": "x", "extend": "a.mp4", "backward": "yes", "id": "b1"}
{"prompt": "x", "loop": 1, "id": "b2"}
{"prompt": "x", "backward": true, "id": "b3"}
{"prompt": "x", "loop": true, "first": "a.mp4", "last": "b.mp4", "id": "b4"}
{"prompt": "x", "new_only": true, "id": "b5"}
{"prompt": "x", "loop": true, "extend": "a.mp4", "id": "b6"}
{"prompt": "a red square moves right", "loop": false, "seed": 3, "id": "good"}
EOF2
set +e; $T render $tmp/bad.jsonl "${S[@]}" --out $tmp/bad >$tmp/bad.out 2>$tmp/bad.err; rc=$?; set -e
[ $rc = 1 ] || fail "bad items: exit $rc, expected 1: $(cat $tmp/bad.err)"
for want in "bad.jsonl:1: backward: expected true or false, got 'yes'" "bad.jsonl:2: loop: expected true or false, got '1'" \
            "bad.jsonl:3: backward needs extend" "bad.jsonl:4: loop with last" "bad.jsonl:5: new_only drops the input video" \
            "bad.jsonl:6: loop with extend"; do
  grep -qF "$want" $tmp/bad.err || fail "no '$want' on stderr: $(cat $tmp/bad.err)"
  grep -qF "$want" $tmp/bad/manifest-*.jsonl || fail "no '$want' in the manifest"
done
[ -f $tmp/bad/good.mp4 ] && [ "$(ls $tmp/bad/*.mp4 | wc -l)" = 1 ] || fail "expected good.mp4 alone: $(ls $tmp/bad)"
echo "ok  non-boolean backward/loop, backward without extend, loop with first/last or extend, new_only alone: that item failed (file:line), exit 1"
