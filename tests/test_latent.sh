#!/usr/bin/env bash
# Latent corpora and the latent DiT (docs/vae.md "Latent corpora and the latent
# DiT"): `tessera data encode` of a shapes-world corpus through a tiny VAE,
# checked against the PyTorch reference encoder and numpy statistics
# (tests/ref/check_latent_corpus.py); the 2-rank file equal to the 1-rank file
# (every dataset and attribute); `data inspect` names it a latent corpus; a
# latent-space training run (model.vae) whose loss is finite and falls, its
# checkpoint holding the corpus's latent space; generate (text- and
# image-to-video, extension) decoding through the VAE; and bad input: one line naming the file and item, exit 2, nothing written.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/tessera
REF=$PWD/tests/ref/check_latent_corpus.py
PY=/usr/bin/python3
export OMP_NUM_THREADS=1
MPI="mpirun --allow-run-as-root --oversubscribe"
D=build/tmp/test_latent
rm -rf $D && mkdir -p $D && cd $D
fail() { echo "FAIL: $*"; exit 1; }

cat > vae.yaml <<'EOF'
vae: {name: tiny, in_channels: 3, base_channels: 8, channel_mult: [1, 2], temporal_down: [1], res_blocks: 1,
      latent_channels: 4, groups: 4, kl_weight: 1.0e-6, loss: l2}
EOF
$BIN vae train vae.yaml train.steps=3 train.out=vae > vae.log 2>&1 || { cat vae.log; fail "vae train"; }
$BIN vae train vae.yaml train.steps=3 train.out=vae_b train.seed=9 > vae_b.log 2>&1 || fail "vae train b"
$BIN data synth --out px.h5 --clips 10 --frames 5 --size 16x16 --patch 1x4x4 --seed 3 > synth.log 2>&1 || fail "synth"

# ---- encode: 1 rank, 2 ranks (blocks of 2 clips per rank: a short last block)
$BIN data encode --vae vae/vae.h5 px.h5 --out lat.h5 > enc1.log 2>&1 || { cat enc1.log; fail "data encode"; }
grep -q 'encoded 10 clips in 1 bucket' enc1.log || { cat enc1.log; fail "no summary line"; }
$MPI -np 2 $BIN data encode --vae vae/vae.h5 px.h5 --out lat2.h5 --per-rank 2 > enc2.log 2>&1 || { cat enc2.log; fail "2 ranks"; }
[ ! -e lat.h5.tmp ] && [ ! -e lat2.h5.tmp ] || fail "a .tmp left behind"
$PY $REF px.h5 vae/vae.h5 lat.h5 || fail "the latent corpus against the PyTorch encoder and numpy"
$PY $REF --same lat.h5 lat2.h5 || fail "the 2-rank file differs from the 1-rank file"
$BIN data inspect lat.h5 > inspect.log 2>&1 || fail "inspect"
grep -q 'latent corpus: VAE sha256 ' inspect.log && grep -q 'patches \[10, 48, 16\] float16' inspect.log ||
  { cat inspect.log; fail "inspect does not show a latent corpus"; }
echo "ok  data encode: PyTorch encoder, numpy statistics, 2 ranks = 1 rank, inspect"

# ---- a latent DiT: 3x8x8 latent grid with 4 channels, patch 1x2x2
cat > train.yaml <<'EOF'
model:
  name: latent-test
  video: {frames: 3, height: 8, width: 8, channels: 4}
  patch: [1, 2, 2]
  dim: 32
  depth: 2
  heads: 2
  mlp_ratio: 2
  text: {length: 32, layers: 1, vocab: 4096}
  vae: vae/vae.h5
train: {steps: 30, batch: 4, lr: 3.0e-3, min_lr: 3.0e-3, warmup: 0, log_every: 1, ckpt_every: 0, out: run, seed: 0}
data: {path: lat.h5}
parallel: {tp: 1, sp: 1, dp: 1}
sample: {steps: 10, cfg: 2.0, shift: 1.0, sampler: euler, seed: 0}
run: {device: cpu, precision: fp32, threads: 1}
EOF
$BIN train train.yaml > train.log 2>&1 || { cat train.log; fail "latent training"; }
$PY - <<'PY' || fail "latent training loss"
import math, re
loss = [float(m.group(1)) for m in re.finditer(r'^step \d+ \| loss ([^ ]+)', open('train.log').read(), re.M)]
assert len(loss) == 30 and all(math.isfinite(x) for x in loss), loss
first, last = sum(loss[:3]) / 3, sum(loss[-10:]) / 10
# unit-variance latents: the v target eps - x0 has variance ~2 at the start
assert 1.5 < first < 3.0, f"first losses {loss[:3]}: expected ~2 (normalised latents)"
assert last < 0.9 * first, f"loss did not fall: first {first:.4f}, last {last:.4f}"
print(f"ok  latent training: loss {first:.4f} -> {last:.4f} over 30 steps")
import h5py, numpy as np
c, k = h5py.File('lat.h5', 'r'), h5py.File('run/ckpt_30.h5', 'r')
spec = dict(l.split(' ', 1) for l in k.attrs['latent_space'].decode().strip().split('\n'))
assert spec['vae_sha256'] == c.attrs['vae_sha256'].decode() and spec['compression'] == '2 2' and spec['channels'] == '4', spec
for key in ('mean', 'std'):
    assert np.array_equal(np.array(spec[key].split(), np.float32), c.attrs['latent_' + key]), key
print("ok  the checkpoint records the corpus's latent space (VAE hash, compression, statistics)")
PY

# ---- generation through the VAE: text-to-video, image-to-video (5 frames of 16x16 decoded from 3x8x8x4 latents)
$BIN generate --ckpt run/ckpt_30.h5 --prompt "a red circle moves left" --steps 3 --out g.mp4 > gen.log 2>&1 ||
  { cat gen.log; fail "latent text-to-video"; }
grep -q 'wrote g.mp4 (5 frames 16x16' gen.log || { cat gen.log; fail "expected 5 frames of 16x16"; }
$BIN generate --ckpt run/ckpt_30.h5 --prompt "a red circle moves left" --steps 3 --image g.png --out i.mp4 > i2v.log 2>&1 ||
  { cat i2v.log; fail "latent image-to-video"; }
grep -q 'wrote i.mp4 (5 frames 16x16' i2v.log || { cat i2v.log; fail "i2v: expected 5 frames of 16x16"; }
# extension keeps the whole input video (docs/vae.md "Edits and long videos in latent space"): 5 + 4 new frames;
# interpolation between two images; a long video of 3 windows
$BIN generate --ckpt run/ckpt_30.h5 --prompt "a red circle moves left" --steps 3 --extend g.mp4 --out x.mp4 > ext.log 2>&1 ||
  { cat ext.log; fail "latent extension"; }
grep -q 'wrote x.mp4 (9 frames 16x16' ext.log || { cat ext.log; fail "extend: expected 9 frames of 16x16"; }
$BIN generate --ckpt run/ckpt_30.h5 --prompt p --steps 2 --first g.png --last g.png --out ip.mp4 > ip.log 2>&1 ||
  { cat ip.log; fail "latent interpolation"; }
grep -q 'wrote ip.mp4 (5 frames 16x16' ip.log || { cat ip.log; fail "interpolation: expected 5 frames"; }
$BIN generate --ckpt run/ckpt_30.h5 --prompt p --steps 2 --frames 13 --out long.mp4 > long.log 2>&1 ||
  { cat long.log; fail "latent long video"; }
grep -q 'wrote long.mp4 (13 frames 16x16' long.log || { cat long.log; fail "long: expected 13 frames"; }
echo "ok  latent generate: text-to-video, image-to-video, extension, interpolation, a long video through the VAE"

# ---- bad input: one line, exit 2, nothing written under the final name
bad() {  # NAME EXPECTED-TEXT -- command...   (stderr: one line of ours; mpirun adds its own report)
  local name=$1 want=$2; shift 3
  set +e; "$@" > $name.out 2> $name.log; local rc=$?; set -e
  [ $rc = 2 ] || { cat $name.log; fail "$name: exit $rc, expected 2"; }
  local n; n=$(grep -v -E '^(-+|Primary job.*|a non-zero exit code.*|Per user-direction.*|mpirun detected.*|the job to be.*|  Process name.*|  Exit code.*|)$' $name.log | grep -c . || true)
  [ "$n" = 1 ] || { cat $name.log; fail "$name: expected one line, found $n"; }
  grep -q -- "$want" $name.log || { cat $name.log; fail "$name: expected '$want'"; }
  echo "ok  $name: $(grep -- "$want" $name.log)"
}
$BIN data synth --out px8.h5 --clips 2 --frames 8 --size 16x16 --patch 1x4x4 > /dev/null 2>&1
bad enc_latent_in "already a latent corpus" -- $BIN data encode --vae vae/vae.h5 lat.h5 --out o1.h5
bad enc_frames "8x16x16: frames: expected 1 + a multiple of the temporal compression" -- $BIN data encode --vae vae/vae.h5 px8.h5 --out o2.h5
bad enc_patch "not divisible by the latent patch 1x3x3" -- $BIN data encode --vae vae/vae.h5 px.h5 --out o3.h5 --patch 1x3x3
bad enc_not_vae "px.h5" -- $BIN data encode --vae px.h5 px.h5 --out o4.h5
bad enc_same "expected another file" -- $BIN data encode --vae vae/vae.h5 px.h5 --out px.h5
bad enc_ranks "already a latent corpus" -- $MPI -np 2 $BIN data encode --vae vae/vae.h5 lat.h5 --out o5.h5
cp px.h5 pxbad.h5  # clip 3 corrupt: at 2 ranks x 2 clips it is rank 1's; rank 0 holds the writer
$PY -c "
import h5py
f = h5py.File('pxbad.h5', 'r'); ci = f['buckets/5x16x16/patches'].id.get_chunk_info(3); f.close()
b = bytearray(open('pxbad.h5', 'rb').read()); b[ci.byte_offset + 10] ^= 0xff; open('pxbad.h5', 'wb').write(b)"
bad enc_rank1 "clip 3: checksum mismatch (the file is corrupt) (on rank 1 of 2)" -- \
  $MPI -np 2 $BIN data encode --vae vae/vae.h5 pxbad.h5 --out o6.h5 --per-rank 2
for k in 1 2 3 4 5 6; do [ ! -e o$k.h5 ] && [ ! -e o$k.h5.tmp ] || fail "o$k.h5 written"; done
bad pixel_model "a latent corpus" -- $BIN train train.yaml model.vae= train.out=r1
bad latent_model "a pixel corpus" -- $BIN train train.yaml data.path=px.h5 train.out=r2
bad other_vae "attribute /vae_sha256: expected" -- $BIN train train.yaml model.vae=vae_b/vae.h5 train.out=r3
bad channels "model.video.channels: expected 4" -- $BIN train train.yaml model.video.channels=3 train.out=r4
cp lat.h5 nan.h5
$PY -c "
import h5py, numpy as np
f = h5py.File('nan.h5', 'r+'); p = f['buckets/3x8x8/patches']; x = p[()]; x[:, 7, 2] = np.nan; p[...] = x"
bad nan_latent "expected a finite latent" -- $BIN train train.yaml data.path=nan.h5 train.out=r5
for k in 1 2 3 4 5; do [ ! -e r$k/ckpt_30.h5 ] || fail "r$k trained"; done
bad gen_frames "frames 6: a latent model (temporal compression 2) makes 1 + a multiple of it" -- $BIN generate --ckpt run/ckpt_30.h5 --prompt p --steps 2 --frames 6 --out e1.mp4
cp vae/vae.h5 vae_a.h5 && cp vae_b/vae.h5 vae/vae.h5  # model.vae now holds another VAE
bad gen_other_vae "(another VAE)" -- $BIN generate --ckpt run/ckpt_30.h5 --prompt p --steps 2 --out e2.mp4
cp vae_a.h5 vae/vae.h5
[ ! -e e1.mp4 ] && [ ! -e e2.mp4 ] || fail "a video written after an error"
echo "test_latent: PASS"
