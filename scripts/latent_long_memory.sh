#!/usr/bin/env bash
# Peak RSS of a long latent-space video against its length (docs/vae.md
# "Edits and long videos in latent space"): a random-weight latent checkpoint
# over the demo VAE (configs/vae/demo.yaml, 4x4x4: windows of 17 frames of
# 32x32), then `generate --frames N` for 15 s, 30 s and 60 s at 8 frames/s.
#   scripts/latent_long_memory.sh [DIR]   prints one line per length
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/bin/tessera
D=${1:-build/tmp/latent_long}
rm -rf $D && mkdir -p $D && cd $D
export OMP_NUM_THREADS=1
$BIN vae train $OLDPWD/configs/vae/demo.yaml train.steps=1 train.out=vae > vae.log 2>&1
$BIN data synth --out px.h5 --clips 4 --frames 17 --size 32x32 --patch 1x4x4 > synth.log 2>&1
$BIN data encode --vae vae/vae.h5 px.h5 --out lat.h5 > enc.log 2>&1
cat > train.yaml <<'YAML'
model:
  name: latent-long
  video: {frames: 5, height: 8, width: 8, channels: 4}
  patch: [1, 2, 2]
  dim: 32
  depth: 1
  heads: 2
  mlp_ratio: 2
  text: {length: 32, layers: 1, vocab: 4096}
  vae: vae/vae.h5
train: {steps: 1, batch: 2, lr: 1.0e-3, warmup: 0, log_every: 1, ckpt_every: 0, out: run, seed: 0}
data: {path: lat.h5}
parallel: {tp: 1, sp: 1, dp: 1}
sample: {steps: 1, cfg: 2.0, shift: 1.0, sampler: euler, seed: 0}
run: {device: cpu, precision: fp32, threads: 1}
YAML
$BIN train train.yaml > train.log 2>&1
for n in 121 241 481; do  # 15 s, 30 s, 60 s at 8 frames/s: 1 + 4k frames
  /usr/bin/time -f "%M" -o rss_$n.txt $BIN generate --ckpt run/ckpt_1.h5 --prompt "a red circle moves left" --steps 1 \
    --frames $n --upscale 1 --out long_$n.mp4 > gen_$n.log 2>&1 || { cat gen_$n.log; exit 1; }
  echo "frames $n ($((n / 8)) s at 8 fps): peak RSS $(($(cat rss_$n.txt) / 1024)) MiB, output frames $((n * 32 * 32 * 3 / 1024)) KiB; $(grep -o 'wrote .*' gen_$n.log | head -1)"
done
