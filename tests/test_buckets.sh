#!/usr/bin/env bash
# Native sizes end to end (docs/choices.md "Native sizes"):
#  1. `data ingest --buckets` puts python3-imageio's test videos in the
#     buckets of their aspect and length: cockatoo.mp4 (16:9, 14 s) in the
#     longest wide bucket, realshort.mp4 (4:3, 1.2 s) in the short square one,
#     a vertical cut of cockatoo (made with the ffmpeg CLI) in the tall one,
#     newtonscradle.gif (0.8 s) too short for any;
#  2. a tiny model (maximum 16x32x32) trains on the three buckets at once
#     (data.buckets=all, a token budget per batch) and a run stopped at a
#     checkpoint and resumed prints the same losses, bit for bit, and ends with
#     the same weights as the uninterrupted one;
#  3. it generates 16x32 and 32x16 videos (and warns for a shape it never
#     trained on); shapes it cannot make are refused with one line, exit 2.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
PY=/usr/bin/python3
IMAGEIO=/usr/lib/python3/dist-packages/imageio/resources/images
tmp=build/tmp/buckets; rm -rf "$tmp"; mkdir -p "$tmp/videos"
fail() { echo "FAIL: $*"; exit 1; }
losses() { $PY -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1])))' "$1"; }

# 1. ingest into aspect x length buckets
cp "$IMAGEIO/cockatoo.mp4" "$IMAGEIO/realshort.mp4" "$IMAGEIO/newtonscradle.gif" "$tmp/videos/"
ffmpeg -v error -y -t 4 -i "$IMAGEIO/cockatoo.mp4" -vf transpose=1,scale=180:320 -c:v libx264 "$tmp/videos/tall.mp4"
$T data ingest --videos "$tmp/videos" --out "$tmp/c.h5" --buckets 8x16x16,16x16x16,8x16x32,16x16x32,8x32x16 \
  --fps 8 --clips-per-video 0 >"$tmp/ingest.log" 2>&1 || fail "ingest: $(tail -3 "$tmp/ingest.log")"
$PY - "$tmp/c.h5" <<'EOF' || fail "ingest buckets (log: $tmp/ingest.log)"
import sys, h5py
f = h5py.File(sys.argv[1], "r")
def sources(g):
    b, o = bytes(g["meta/source/bytes"][()]), g["meta/source/offsets"][()]
    return [b[o[i]:o[i + 1]].decode() for i in range(len(o) - 1)]
got = {k: sources(f["buckets"][k]) for k in f["buckets"]}
want = {"16x16x32": ["cockatoo.mp4"] * 7, "8x16x16": ["realshort.mp4"], "8x32x16": ["tall.mp4"] * 4}
if got != want:
    print("    buckets:", got, "\n    expected:", want)
    sys.exit(1)
EOF
grep -q "newtonscradle.gif: skipped (too short): 7 frames at 8 fps, a clip needs 8" "$tmp/ingest.log" || fail "gif not skipped as too short"
echo "ok  ingest --buckets: cockatoo -> 16x16x32 (7 clips), realshort -> 8x16x16, vertical -> 8x32x16 (4), gif too short"

# 2. train on all three buckets; stop at a checkpoint, resume, compare
# data.tokens=384: batches of 1, 6 and 3 clips; equal weights so that every bucket is drawn in 8 steps
small=(model.depth=2 model.dim=64 train.batch=1 data.tokens=384 data.path=$tmp/c.h5
       data.buckets=16x16x32:1,8x16x16:1,8x32x16:1
       train.seed=2 train.log_every=1 train.warmup=2 data.p_drop=0.2 sample.steps=2)
$T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.ckpt_every=4 train.out=$tmp/full >$tmp/full.log 2>&1 ||
  fail "training on three buckets: $(tail -3 $tmp/full.log)"
for b in "bucket 16x16x32: 7 clips, 1 per micro-batch" "bucket 8x16x16: 1 clips, 6 per micro-batch" \
         "bucket 8x32x16: 4 clips, 3 per micro-batch"; do
  grep -q "$b" $tmp/full.log || fail "training log lacks '$b'"
done
full=$(losses $tmp/full/metrics.jsonl)
[ "$(echo $full | wc -w)" = 8 ] || fail "expected 8 losses, got: $full"
# the step-4 cursor: mid-epoch in the first bucket and in the last
$PY - $tmp/full/ckpt_4.h5 <<'EOF' || fail "ckpt_4's data cursor is not mid-epoch in two buckets"
import sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
c = a["cursor_buckets"]
more = [tuple(map(int, p.split(":"))) for p in (c.decode() if isinstance(c, bytes) else str(c)).split(",")]
print("    cursor: bucket 0 epoch %d position %d, then %s" % (a["cursor_epoch"], a["cursor_position"], more))
sys.exit(0 if a["cursor_position"] % 7 and more[1][1] % 4 and len(more) == 2 else 1)
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
echo "ok  three buckets trained; resumed at step 4 (mid-epoch): losses 5-8 and final weights bit for bit: $split"

# a resume with another bucket choice, and a corrupt cursor_buckets attribute: one line, exit 2
refuse() {  # NAME DIR ARGS...: train must exit 2 with one error line
  local name=$1 dir=$2; shift 2
  set +e; $T train configs/train/tiny.yaml "${small[@]}" train.steps=8 train.out=$dir train.resume=auto "$@" >$tmp/$name.log 2>&1
  local rc=$?; set -e
  [ $rc = 2 ] && [ "$(grep -c 'error' $tmp/$name.log)" = 1 ] || fail "$name: exit $rc: $(tail -3 $tmp/$name.log)"
  echo "ok  $name refused: $(grep error $tmp/$name.log)"
}
mkdir -p $tmp/other && cp $tmp/full/ckpt_4.h5 $tmp/other/
refuse other-buckets $tmp/other data.buckets=16x16x32,8x32x16,8x16x16
# without data.buckets the one-bucket loader would resume the window's bucket alone and drop the other
# buckets' cursors: refused. A corpus with the window's bucket (16x32x32) from `data synth --buckets`.
$T data synth --buckets 16x32x32:3,8x16x32 --clips 4 --objects 1 --out $tmp/s.h5 >$tmp/synth.log 2>&1 ||
  fail "synth --buckets: $(tail -2 $tmp/synth.log)"
# its buckets hold the counts asked for (--clips for a bucket without one), and a one-bucket --buckets is
# --frames/--size bit for bit; the second bucket's clips are scenes of their own (indices after the first's)
$T data synth --frames 16 --size 32x32 --clips 3 --objects 1 --out $tmp/s1.h5 >$tmp/synth1.log 2>&1 || fail "synth one bucket"
$T data synth --buckets 8x16x32:8 --objects 1 --out $tmp/s2.h5 >$tmp/synth2.log 2>&1 || fail "synth 8x16x32"
$PY - $tmp <<'EOF' || fail "synth --buckets corpus"
import sys, h5py, numpy as np
d = sys.argv[1]
f, one, two = (h5py.File(d + x, "r")["buckets"] for x in ("/s.h5", "/s1.h5", "/s2.h5"))
n = {k: f[k]["patches"].shape[0] for k in f}
assert n == {"16x32x32": 3, "8x16x32": 4}, n
assert np.array_equal(f["16x32x32/patches"][()], one["16x32x32/patches"][()]), "16x32x32 differs from --frames/--size"
assert not np.array_equal(f["8x16x32/patches"][()], two["8x16x32/patches"][:4]), "bucket 2 repeats clips 0-3"
assert np.array_equal(f["8x16x32/patches"][()], two["8x16x32/patches"][3:7]), "bucket 2 is not clips 3-6 of the seed"
EOF
for bad in 7x16x32 8x18x32 8x16x32:0 8x16x32,8x16x32; do
  set +e; $T data synth --buckets $bad --out $tmp/bad.h5 >$tmp/bad.log 2>&1; rc=$?; set -e
  [ $rc = 2 ] && [ "$(grep -c . $tmp/bad.log)" = 1 ] || fail "synth --buckets $bad: exit $rc: $(cat $tmp/bad.log)"
done
echo "ok  synth --buckets: counts, the one-bucket corpus bit for bit, own scenes per bucket, bad lists refused: $(cat $tmp/bad.log)"
$T train configs/train/tiny.yaml "${small[@]}" data.path=$tmp/s.h5 data.buckets=all train.steps=2 train.ckpt_every=2 \
  train.out=$tmp/nobuckets >$tmp/nb-train.log 2>&1 || fail "training on the synth buckets: $(tail -3 $tmp/nb-train.log)"
refuse no-buckets $tmp/nobuckets data.path=$tmp/s.h5 data.buckets= train.steps=4
grep -q "nobuckets/ckpt_2.h5: the checkpoint's data cursor is for buckets 16x32x32,8x16x32, but data.buckets is empty" \
  $tmp/no-buckets.log || fail "no-buckets: the message does not name the checkpoint and its buckets"
mkdir -p $tmp/corrupt && cp $tmp/full/ckpt_4.h5 $tmp/corrupt/
$PY -c 'import h5py, numpy as np, sys; h5py.File(sys.argv[1], "r+").attrs["cursor_buckets"] = np.bytes_("6:0,x")' $tmp/corrupt/ckpt_4.h5
refuse corrupt-cursor $tmp/corrupt

# the same 8 steps sequence-parallel (Ulysses x ring) and tensor-parallel on 2 ranks: the one-rank losses
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for lay in "parallel.sp=2 parallel.ring=2" "parallel.tp=2"; do
  rm -rf $tmp/par
  OMP_NUM_THREADS=1 timeout 120 mpirun --oversubscribe -np 2 $T train configs/train/tiny.yaml "${small[@]}" $lay \
    train.steps=8 train.ckpt_every=0 train.out=$tmp/par >$tmp/par.log 2>&1 || fail "$lay: $(tail -3 $tmp/par.log)"
  $PY - "$full" "$(losses $tmp/par/metrics.jsonl)" <<'EOF' || fail "$lay: losses differ from one rank"
import sys
a, b = [list(map(float, x.split())) for x in sys.argv[1:3]]
ok = len(a) == len(b) == 8 and all(abs(x - y) <= 1e-6 * abs(x) for x, y in zip(a, b))
if not ok: print("    one rank:", a, "\n    2 ranks: ", b)
sys.exit(0 if ok else 1)
EOF
  echo "ok  $lay on three buckets: the one-rank losses (rel 1e-6)"
done

# 3. generate in two trained aspect ratios, warn for an untrained shape, refuse the impossible
ck=$tmp/full/ckpt_8.h5
gen() { $T generate --ckpt $ck --prompt "a white bird turns its head" --steps 2 --seed 1 "$@"; }
gen --size 16x32 --frames 16 --out $tmp/wide.mp4 >$tmp/wide.log 2>&1 || fail "generate 16x32: $(tail -2 $tmp/wide.log)"
grep -q "(16 frames 16x32," $tmp/wide.log || fail "16x32: $(grep wrote $tmp/wide.log)"
gen --size 32x16 --frames 8 --out $tmp/tall.mp4 >$tmp/tall.log 2>&1 || fail "generate 32x16: $(tail -2 $tmp/tall.log)"
grep -q "(8 frames 32x16," $tmp/tall.log || fail "32x16: $(grep wrote $tmp/tall.log)"
grep -q "never trained" $tmp/wide.log $tmp/tall.log && fail "a warning for a trained shape"
wh() { ffprobe -v error -select_streams v:0 -show_entries stream=width,height,nb_frames -of csv=p=0 "$1"; }
w=$(wh $tmp/wide.mp4) t=$(wh $tmp/tall.mp4)
[ "${w%%,*}" = "$((2 * $(echo $w | cut -d, -f2)))" ] && [ "${w##*,}" = 16 ] || fail "wide.mp4 is $w (width,height,frames)"
[ "$(echo $t | cut -d, -f2)" = "$((2 * ${t%%,*}))" ] && [ "${t##*,}" = 8 ] || fail "tall.mp4 is $t"
echo "ok  generate 16x32x16 ($w) and 32x16x8 ($t) from the three-bucket model"
# a remix of an 8-frame clip in the 8-frame bucket (a window shorter than the model's 16)
gen --size 32x16 --frames 8 --remix $tmp/tall.mp4 --strength 0.5 --out $tmp/remix8.mp4 >$tmp/remix8.log 2>&1 ||
  fail "remix of an 8-frame clip at 32x16x8: $(tail -2 $tmp/remix8.log)"
r=$(wh $tmp/remix8.mp4)
[ "${r##*,}" = 8 ] && [ "$(echo $r | cut -d, -f2)" = "$((2 * ${r%%,*}))" ] || fail "remix8.mp4 is $r"
echo "ok  remix of an 8-frame clip in the 8-frame bucket ($r)"
# eval at a bucket's shape (--size/--frames): every video made and scored at it
printf 'name: two\nitems:\n  - {prompt: "a red circle moves left", colour: red, shape: circle, motion: left}\n  - {prompt: "a blue square moves up", colour: blue, shape: square, motion: up}\n' >$tmp/suite.yaml
$T eval --ckpt $ck --suite $tmp/suite.yaml --steps 2 --upscale 1 --size 32x16 --frames 8 --out $tmp/ev >$tmp/ev.log 2>&1 ||
  fail "eval 32x16x8: $(tail -2 $tmp/ev.log)"
/usr/bin/python3 - $tmp/ev/eval.json <<'PY' || fail "eval.json is not at 32x16x8"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["frames"] == 8 and d["size"] == [32, 16], (d["frames"], d["size"])
PY
for f in $tmp/ev/*.mp4; do [ "$(wh $f)" = "16,32,8" ] || fail "eval video $f is $(wh $f), expected 16,32,8 (width,height,frames)"; done
echo "ok  eval --size 32x16 --frames 8: $(ls $tmp/ev/*.mp4 | wc -l) videos made and scored at that bucket's shape"
gen --size 32x32 --frames 8 --out $tmp/sq.mp4 >$tmp/sq.log 2>&1 || fail "generate 32x32: $(tail -2 $tmp/sq.log)"
grep -q "never trained on 8x32x32 (frames x height x width; trained on 16x16x32,8x16x16,8x32x16)" $tmp/sq.log ||
  fail "no warning for an untrained shape: $(grep -i warn $tmp/sq.log)"
echo "ok  untrained shape: $(grep 'never trained' $tmp/sq.log)"
for bad in "--size 18x16" "--size 64x32" "--size 16x16 --frames 32x" "--size 16x16 --frames 3"; do
  set +e
  gen $bad --out $tmp/bad.mp4 >$tmp/bad.log 2>&1
  rc=$?
  set -e
  [ $rc = 2 ] && [ "$(grep -c . $tmp/bad.log)" = 1 ] || fail "generate $bad: exit $rc, expected 2 and one line: $(cat $tmp/bad.log)"
  echo "ok  generate $bad refused: $(cat $tmp/bad.log)"
done
# render: per-item size and frames; an item without them is the maximum again; a bad size fails that item alone
cat >$tmp/list.jsonl <<'EOF'
{"prompt": "a white bird turns its head", "size": "16x32", "frames": 16, "id": "wide"}
{"prompt": "a white bird turns its head", "size": [32, 16], "frames": 8, "id": "tall"}
{"prompt": "a white bird turns its head", "id": "max"}
{"prompt": "a white bird turns its head", "size": "18x16", "id": "bad"}
EOF
set +e
$T render $tmp/list.jsonl --ckpt $ck --steps 2 --out $tmp/r >$tmp/render.log 2>&1
rc=$?
set -e
[ $rc = 1 ] || fail "render: exit $rc, expected 1 (one failed item): $(tail -3 $tmp/render.log)"
grep -q "list.jsonl:4: item 3: render: size 18x16, frames 16: shape 16x18x16 (frames x height x width): not divisible by the model's patch" \
  $tmp/render.log || fail "render: no reason for the bad item: $(grep -i bad $tmp/render.log)"
for want in "wide 512,256,16" "tall 128,256,8" "max 256,256,16"; do
  set -- $want
  got=$(wh $tmp/r/$1.mp4)
  [ "$got" = "$2" ] || fail "render item $1: $got (width,height,frames), expected $2"
done
echo "ok  render: items at 16x32x16, 32x16x8 and the 32x32x16 maximum; a bad size fails its item alone"
echo "test_buckets: all passed"
