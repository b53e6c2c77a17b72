#!/usr/bin/env bash
# `tessera generate` end to end on a checkpoint made in seconds (a 2-step
# model: the pictures are meaningless, the mechanics are checked):
#  1. text-to-video: an MP4 that ffprobe reads with the model's frame count and
#     the upscaled size, a contact sheet PNG, a provenance JSON;
#  2. each conditioning mode keeps its conditioning frames exact: image-to-video
#     (frame 0..pt-1 = the image), extension (the lead-in frames = the source's
#     last frames), first/last interpolation, keyframe text-to-video (frames
#     0..pt-1 = frame 0 of the plain clip of the same seed), checked on the decoded MP4 with
#     --upscale 1 against the inputs (H.264 is lossy: mean error below 12/255 and
#     below half that of a generated frame); a long video (window after window);
#  3. bad input: missing/corrupt checkpoint, undecodable image, frames that do
#     not fit the window, a too-long prompt (warning, still writes): one line, exit 2.
#  4. training that diverges (lr 1e30): updates skipped, a clear stop, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/generate; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 train.batch=2 train.warmup=1)

$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml "${small[@]}" train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
G() { $T generate --ckpt $ckpt --steps 3 --cfg 2 "$@"; }

# 1. text-to-video and its files
G --prompt "a red circle moves left" --out $tmp/t2v.mp4 --upscale 4 >$tmp/t2v.log 2>&1 || fail "t2v: $(tail -2 $tmp/t2v.log)"
probe=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames,width,height,codec_name -of csv=p=0 $tmp/t2v.mp4)
[ "$probe" = "h264,64,64,8" ] || fail "ffprobe: expected h264,64,64,8, got $probe"
[ -s $tmp/t2v.png ] || fail "no contact sheet"
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["prompt"] == "a red circle moves left" and d["steps"] == 3 and d["ai_generated"] is True, d
import hashlib
assert d["checkpoint_step"] == 2 and d["generator"].startswith("tessera"), d
assert d["checkpoint_sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest(), d
' $tmp/t2v.json $ckpt || fail "provenance JSON"
echo "ok  t2v: MP4 $probe, contact sheet, provenance"

# 2. conditioning frames are kept (compare decoded frames with the inputs)
/usr/bin/python3 - $tmp <<'PY' || fail "could not make input images"
import sys, numpy as np, imageio as iio
d = sys.argv[1]
rng = np.random.default_rng(0)
img = np.zeros((16, 16, 3), np.uint8); img[:] = (20, 24, 70); img[4:10, 3:9] = (230, 40, 40)
iio.imwrite(d + "/first.png", img)
img2 = np.zeros((16, 16, 3), np.uint8); img2[:] = (20, 24, 70); img2[6:12, 8:14] = (230, 40, 40)
iio.imwrite(d + "/last.png", img2)
PY
G --prompt "a red square moves right" --image $tmp/first.png --out $tmp/i2v.mp4 --upscale 1 >/dev/null 2>&1 || fail "i2v"
G --prompt "a red square moves right" --first $tmp/first.png --last $tmp/last.png --out $tmp/interp.mp4 --upscale 1 >/dev/null 2>&1 || fail "interpolation"
G --prompt "a red square moves right" --extend $tmp/i2v.mp4 --out $tmp/ext.mp4 --upscale 1 >/dev/null 2>&1 || fail "extend"
G --prompt "a red square moves right" --remix $tmp/i2v.mp4 --strength 0.5 --out $tmp/remix.mp4 --upscale 1 >/dev/null 2>&1 || fail "remix"
G --prompt "a red square moves right" --frames 16 --out $tmp/long.mp4 --upscale 1 >/dev/null 2>&1 || fail "long video"
G --prompt "a red square moves right" --out $tmp/plain.mp4 --upscale 1 --seed 5 >/dev/null 2>&1 || fail "t2v seed 5"
G --prompt "a red square moves right" --keyframe --out $tmp/kf.mp4 --upscale 1 --seed 5 >/dev/null 2>&1 || fail "keyframe t2v"
grep -q '"keyframe":true' $tmp/kf.json || fail "keyframe not in the provenance JSON"
/usr/bin/python3 - $tmp <<'PY' || fail "conditioning frames not kept"
import sys, subprocess, numpy as np, imageio as iio
d = sys.argv[1]
# MP4 frames through the ffmpeg CLI (imageio's ffmpeg reader crashes on Python 3.11 when
# ffmpeg is slow to start: StreamCatcher.isAlive), as RGB24 of the probed size
def frames(p):
    w, h = map(int, subprocess.check_output(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                             "stream=width,height", "-of", "csv=p=0", p], text=True).split(","))
    raw = subprocess.check_output(["ffmpeg", "-v", "error", "-i", p, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(float)
def err(a, b): return np.abs(a - b).mean()
first, last = iio.imread(d + "/first.png")[..., :3].astype(float), iio.imread(d + "/last.png")[..., :3].astype(float)
i2v, interp, ext, long = frames(d + "/i2v.mp4"), frames(d + "/interp.mp4"), frames(d + "/ext.mp4"), frames(d + "/long.mp4")
plain, kf = frames(d + "/plain.mp4"), frames(d + "/kf.mp4")
assert i2v.shape == (8, 16, 16, 3) and long.shape[0] == 16 and ext.shape[0] == 12, (i2v.shape, long.shape, ext.shape)
free = err(i2v[4], first)                       # a generated frame: far from the image
checks = {"i2v frames 0-1 = image": max(err(i2v[0], first), err(i2v[1], first)),
          "interp first = image": err(interp[0], first), "interp last = image": err(interp[7], last),
          "extend keeps the source": err(ext[:8], i2v), "extend lead-in = source tail": err(ext[4:8], i2v[4:]),
          # the keyframe pass's clip is the plain clip of the same seed; its first frame leads in
          "keyframe frames 0-1 = t2v frame 0": max(err(kf[0], plain[0]), err(kf[1], plain[0]))}
for k, v in checks.items():
    print("  %-30s mean abs err %.2f (a free frame: %.1f)" % (k, v, free))
    assert v < min(12.0, 0.5 * free), (k, v, free)
assert err(kf[4:], plain[4:]) > 2 * checks["keyframe frames 0-1 = t2v frame 0"], "the keyframe video is the plain one"
PY
echo "ok  i2v, interpolation, extension, keyframe t2v keep their conditioning frames; remix and a 16-frame long video run"

# 3. bad input
bad() {  # expect exit 2 and one stderr line containing $1
  local want=$1; shift
  set +e; "$@" >$tmp/bad.out 2>$tmp/bad.err; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(wc -l < $tmp/bad.err)" = 1 ] && grep -q -- "$want" $tmp/bad.err || fail "expected exit 2 and one line with '$want' from: $* (rc $rc: $(cat $tmp/bad.err))"
}
head -c 3000 $ckpt > $tmp/trunc.h5; head -c 2000 /dev/urandom > $tmp/bad.png
bad "$tmp/missing.h5" $T generate --ckpt $tmp/missing.h5 --prompt x --out $tmp/x.mp4
bad "$tmp/trunc.h5" $T generate --ckpt $tmp/trunc.h5 --prompt x --out $tmp/x.mp4
bad "$tmp/bad.png" G --prompt x --image $tmp/bad.png --out $tmp/x.mp4
bad "--keyframe is for text-to-video" G --prompt x --keyframe --image $tmp/first.png --out $tmp/x.mp4
bad "frames 5" G --prompt x --frames 5 --out $tmp/x.mp4
[ ! -e $tmp/x.mp4 ] || fail "a failed generate left $tmp/x.mp4"
G --prompt "$(printf 'a red circle moves left %.0s' $(seq 1 20))" --out $tmp/long_prompt.mp4 >$tmp/lp.out 2>$tmp/lp.err || fail "long prompt"
grep -q "truncated" $tmp/lp.err || fail "no truncation warning: $(cat $tmp/lp.err)"
echo "ok  bad checkpoints, images and frame counts refused; a long prompt is truncated with a warning"

# 4. non-finite training steps
set +e
$T train configs/train/tiny.yaml "${small[@]}" train.steps=20 train.lr=1e30 train.warmup=0 train.min_lr=1e30 train.grad_clip=0 \
  train.max_bad_steps=3 train.out=$tmp/nan >$tmp/nan.out 2>$tmp/nan.err; rc=$?
set -e
[ $rc = 2 ] || fail "diverging run: expected exit 2, got $rc"
grep -q "update skipped (3 in a row)" $tmp/nan.err && grep -q "training diverged: 3 non-finite steps in a row" $tmp/nan.err \
  || fail "non-finite handling: $(cat $tmp/nan.err)"
echo "ok  a diverging run skips non-finite updates and stops after 3 in a row"
