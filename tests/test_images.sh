#!/usr/bin/env bash
# Images as one-frame videos (docs/choices.md "Images"):
#  1. `data ingest --buckets 1x16x16,8x16x16,1x16x32,8x16x32` puts image files
#     (python3-imageio's astronaut.png and chelsea.png, JPEG stills cut from
#     cockatoo.mp4 by the ffmpeg CLI) in the 1-frame buckets of their aspect and
#     the videos in the video buckets; an image is stored as one still temporal
#     patch (its pt frames equal, checked with h5py), and its pixels are the
#     image resized (PIL's resize of the file, within JPEG/scaling error);
#  2. a tiny model trains on image and video buckets together (data.buckets=all,
#     a token budget: the image buckets get the bigger batches); a run stopped at
#     a checkpoint and resumed prints the same losses bit for bit and ends with the
#     same weights; sp=2 and tp=2 on 2 ranks give the one-rank losses;
#  3. `generate --frames 1 --out x.png` writes a PNG of the asked size that PIL
#     decodes, with the generation record in its iTXt chunk and beside it (no MP4,
#     no sheet); `--out y.mp4` a one-frame MP4; a render item of frames 1 a PNG;
#  4. bad input: one line, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
IMAGEIO=/usr/lib/python3/dist-packages/imageio/resources/images
tmp=build/tmp/images_test; rm -rf "$tmp"; mkdir -p "$tmp/in"
fail() { echo "FAIL: $*"; exit 1; }
losses() { $PY -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1])))' "$1"; }

# 1. ingest images and videos together
cp "$IMAGEIO/astronaut.png" "$IMAGEIO/chelsea.png" "$IMAGEIO/realshort.mp4" "$IMAGEIO/cockatoo.mp4" "$tmp/in/"
ffmpeg -v error -i "$IMAGEIO/cockatoo.mp4" -vf "select=not(mod(n\,40))" -vsync vfr -frames:v 6 "$tmp/in/still%02d.jpg"
$T data ingest --videos "$tmp/in" --out "$tmp/c.h5" --buckets 1x16x16,8x16x16,1x16x32,8x16x32 --fps 8 \
  --clips-per-video 2 >"$tmp/ingest.log" 2>&1 || fail "ingest: $(tail -3 "$tmp/ingest.log")"
$PY - "$tmp/c.h5" "$tmp/in" <<'EOF' || fail "ingest of images (log: $tmp/ingest.log)"
import sys, h5py, numpy as np
from PIL import Image
f = h5py.File(sys.argv[1], "r")
def sources(g):
    b, o = bytes(g["meta/source/bytes"][()]), g["meta/source/offsets"][()]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]
got = {k: sources(f["buckets"][k]) for k in f["buckets"]}
want = {"1x16x16": ["astronaut.png"], "1x16x32": ["chelsea.png"] + ["still%02d.jpg" % i for i in range(1, 7)],
        "8x16x16": ["realshort.mp4"], "8x16x32": ["cockatoo.mp4"] * 2}
if got != want:
    print("    buckets:", got, "\n    expected:", want); sys.exit(1)
pt, ph, pw = f["tokenizer"].attrs["patch"]
p = f["buckets/1x16x16/patches"][0].astype(np.int16)  # [N, P]: (pt, ph, pw, C)
N, P = p.shape
assert N == (16 // ph) * (16 // pw), "an image has one latent frame: N %d" % N
halves = p.reshape(N, pt, P // pt)
assert (halves == halves[:, :1]).all(), "the pt frames of an image's patch differ: not a still"
img = halves[:, 0].reshape(16 // ph, 16 // pw, ph, pw, 3).transpose(0, 2, 1, 3, 4).reshape(16, 16, 3)
ref = np.asarray(Image.open(sys.argv[2] + "/astronaut.png").convert("RGB").resize((16, 16), Image.BILINEAR), np.int16)
err = np.abs(img - ref).mean()
print("    astronaut.png stored as a still patch; mean |stored - PIL resize| = %.1f of 255" % err)
assert err < 20, "the stored image is not the file's picture"
EOF
echo "ok  ingest: images -> 1x16x16 / 1x16x32 (still temporal patches), videos -> 8x16x16 / 8x16x32"

# 2. joint image + video training; stop at a checkpoint, resume, compare
small=(model.depth=2 model.dim=64 train.batch=1 data.tokens=256 data.path=$tmp/c.h5 data.buckets=all
       train.seed=2 train.log_every=1 train.warmup=2 data.p_drop=0.2 sample.steps=2)
$T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.ckpt_every=4 train.out=$tmp/full >$tmp/full.log 2>&1 ||
  fail "training on image and video buckets: $(tail -3 $tmp/full.log)"
for b in "bucket 1x16x16: 1 clips, 16 per micro-batch" "bucket 1x16x32: 7 clips, 8 per micro-batch" \
         "bucket 8x16x16: 1 clips, 4 per micro-batch" "bucket 8x16x32: 2 clips, 2 per micro-batch"; do
  grep -q "$b" $tmp/full.log || fail "training log lacks '$b'"
done
full=$(losses $tmp/full/metrics.jsonl)
[ "$(echo $full | wc -w)" = 8 ] || fail "expected 8 losses, got: $full"
$PY - $tmp/full/ckpt_8.h5 <<'EOF' || fail "8 steps drew no image batch and no video batch"
import sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
c = a["cursor_buckets"]
pos = [int(a["cursor_epoch"]) * 1 + int(a["cursor_position"])] + \
      [int(e) * 1 + int(p) for e, p in (x.split(":") for x in (c.decode() if isinstance(c, bytes) else str(c)).split(","))]
print("    clips drawn per bucket (epoch+position, 1x16x16 1x16x32 8x16x16 8x16x32):", pos)
sys.exit(0 if (pos[0] or pos[1]) and (pos[2] or pos[3]) else 1)
EOF
mkdir -p $tmp/split && cp $tmp/full/ckpt_4.h5 $tmp/split/
$T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.ckpt_every=4 train.out=$tmp/split train.resume=auto \
  >$tmp/split.log 2>&1 || fail "resumed run: $(tail -3 $tmp/split.log)"
grep -q "resumed from $tmp/split/ckpt_4.h5 at step 4" $tmp/split.log || fail "did not resume from ckpt_4"
split=$(losses $tmp/split/metrics.jsonl)
tail4=$(echo $full | cut -d' ' -f5-8)
[ "$split" = "$tail4" ] || fail "resumed losses differ:
  uninterrupted steps 5-8: $tail4
  resumed:                 $split"
$PY tests/ckpt_compare.py $tmp/full/ckpt_8.h5 $tmp/split/ckpt_8.h5 --abs 0 --rel 0 >$tmp/cmp.log ||
  fail "resumed weights differ: $(tail -3 $tmp/cmp.log)"
echo "ok  images and videos trained together; resumed at step 4: losses 5-8 and final weights bit for bit: $split"

# the same 8 steps sequence-parallel (the image's 16 tokens split over 2 ranks) and tensor-parallel: the one-rank losses
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for lay in "parallel.sp=2" "parallel.tp=2"; do
  rm -rf $tmp/par
  OMP_NUM_THREADS=1 timeout 120 mpirun --oversubscribe -np 2 $T train configs/train/tiny.yaml "${small[@]}" $lay \
    train.steps=8 train.ckpt_every=0 train.out=$tmp/par >$tmp/par.log 2>&1 || fail "$lay: $(tail -3 $tmp/par.log)"
  $PY - "$full" "$(losses $tmp/par/metrics.jsonl)" <<'EOF2' || fail "$lay: losses differ from one rank"
import sys
a, b = [list(map(float, x.split())) for x in sys.argv[1:3]]
ok = len(a) == len(b) == 8 and all(abs(x - y) <= 1e-6 * abs(x) for x, y in zip(a, b))
if not ok: print("    one rank:", a, "\n    2 ranks: ", b)
sys.exit(0 if ok else 1)
EOF2
  echo "ok  $lay on image and video buckets: the one-rank losses (rel 1e-6)"
done

# 3. an image from text: PNG (any trained size), a one-frame MP4, a render item
ck=$tmp/full/ckpt_8.h5
gen() { $T generate --ckpt $ck --prompt "a white bird" --steps 2 --seed 1 "$@"; }
gen --frames 1 --size 16x32 --out $tmp/x.png >$tmp/x.log 2>&1 || fail "generate --frames 1: $(tail -2 $tmp/x.log)"
grep -q "never trained" $tmp/x.log && fail "a warning for the trained image shape 1x16x32: $(cat $tmp/x.log)"
[ -e $tmp/x.mp4 ] && fail "an image output wrote an MP4 too"
$PY - $tmp/x.png $tmp/x.json <<'EOF' || fail "x.png"
import sys, json, numpy as np
from PIL import Image
im = Image.open(sys.argv[1]); im.load()
a = np.asarray(im)
assert im.format == "PNG" and a.shape == (16, 32, 3), "PNG %s %s" % (im.format, a.shape)
rec = json.loads(im.info["tessera.generation"])
side = json.loads(open(sys.argv[2]).read())
assert rec == side, "the iTXt record and the sidecar differ"
assert rec["frames"] == 1 and rec["prompt"] == "a white bird" and rec["seed"] == 1, rec
assert a.std() > 0, "a flat image"
print("    x.png: %dx%d RGB, record in iTXt 'tessera.generation' == x.json (frames 1)" % a.shape[:2])
EOF
gen --frames 1 --out $tmp/y.mp4 >$tmp/y.log 2>&1 || fail "generate --frames 1 --out y.mp4: $(tail -2 $tmp/y.log)"
n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 $tmp/y.mp4)
[ "$n" = 1 ] || fail "y.mp4 has $n frames"
echo "ok  generate --frames 1: x.png 16x32 (PIL), y.mp4 of one frame"
cat >$tmp/list.jsonl <<'EOF'
{"prompt": "a white bird", "frames": 1, "size": "16x16", "id": "still"}
{"prompt": "a white bird", "frames": 1, "extend": "nothing.mp4", "id": "bad"}
EOF
set +e
$T render $tmp/list.jsonl --ckpt $ck --steps 2 --out $tmp/r >$tmp/r.log 2>&1
set -e
[ -f $tmp/r/still.png ] && [ -f $tmp/r/still.json ] && [ ! -e $tmp/r/still.mp4 ] || fail "render still: $(tail -3 $tmp/r.log)"
$PY -c 'import sys; from PIL import Image; assert Image.open(sys.argv[1]).size == (16, 16)' $tmp/r/still.png || fail "render still.png size"
grep -q "frames 1 with extend" $tmp/r.log || fail "render item with frames 1 and extend not refused: $(cat $tmp/r.log)"
echo "ok  render: a frames-1 item writes still.png + still.json; frames 1 with extend fails that item"

# eval: an image item (scored for colour and shape, motion not) beside a video item
printf 'name: t\nitems:\n  - {prompt: "a red circle stays still", colour: red, shape: circle, motion: still, mode: image}\n  - {prompt: "a red circle moves left", colour: red, shape: circle, motion: left}\n' >$tmp/suite.yaml
$T eval --ckpt $ck --suite $tmp/suite.yaml --steps 2 --out $tmp/eval >$tmp/eval.log 2>&1 || fail "eval: $(tail -3 $tmp/eval.log)"
$PY - $tmp/eval <<'PYEOF' || fail "eval of an image item (log: $tmp/eval.log)"
import sys, json, os
from PIL import Image
d = sys.argv[1]
r = json.load(open(d + "/eval.json"))
img, vid = r["totals"]["image"], r["totals"]["single_object_t2v"]
assert img["videos"] == 1 and vid["videos"] == 1, (img, vid)
assert img["motion"] is None and vid["motion"] is not None, "motion scored for the image or not for the video"
pngs = [f for f in os.listdir(d) if f.startswith("00_") and f.endswith(".png")]
assert len(pngs) == 1 and Image.open(os.path.join(d, pngs[0])).size == (32, 32), pngs
print("    eval.json totals: image", img, "\n    video", vid)
PYEOF
echo "ok  eval: an image item (PNG, colour and shape, motion unscored) beside a video item"

# 4. bad input: one line, exit 2
refuse() {  # DESCRIPTION COMMAND...: exit 2 and one error line (train prints its config on stdout first)
  local what=$1; shift
  set +e; "$@" 2>$tmp/bad.log >$tmp/bad.out; local rc=$?; set -e
  [ $rc = 2 ] && [ "$(grep -c . $tmp/bad.log)" = 1 ] && ! grep -q error $tmp/bad.out ||
    fail "$what: exit $rc, expected 2 and one line: $(cat $tmp/bad.log)"
  echo "ok  $what refused: $(cat $tmp/bad.log)"
}
refuse "--frames 1 --extend" gen --frames 1 --extend $IMAGEIO/realshort.mp4 --out $tmp/b.png
refuse "--frames 1 --loop" gen --frames 1 --loop --out $tmp/b.png
refuse "--frames 1 --remix" gen --frames 1 --remix $IMAGEIO/realshort.mp4 --out $tmp/b.png
refuse "--frames 1 --first/--last" gen --frames 1 --first $IMAGEIO/chelsea.png --last $IMAGEIO/chelsea.png --out $tmp/b.png
refuse "a .png of 8 frames" gen --frames 8 --out $tmp/b.png
refuse "a .png without --frames" gen --out $tmp/b.png
refuse "a .jpg" gen --frames 1 --out $tmp/b.jpg
$T data synth --out $tmp/big.h5 --clips 4 --frames 1 --size 64x64 --seed 0 >/dev/null 2>&1 || fail "synth --frames 1"
refuse "an image bucket larger than the model" $T train configs/train/tiny.yaml "${small[@]}" data.path=$tmp/big.h5 \
  data.buckets=1x64x64 train.steps=1 train.out=$tmp/big
$T data synth --out $tmp/pt1.h5 --clips 4 --frames 1 --size 16x16 --patch 1x4x4 --seed 0 >/dev/null 2>&1 || fail "synth pt 1"
refuse "an image bucket of another patch" $T train configs/train/tiny.yaml "${small[@]}" data.path=$tmp/pt1.h5 \
  train.steps=1 train.out=$tmp/pt1
refuse "ingest --buckets 3x16x16" $T data ingest --videos $tmp/in --out $tmp/b.h5 --buckets 3x16x16
echo "test_images: ok"
