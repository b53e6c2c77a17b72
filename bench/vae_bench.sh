#!/usr/bin/env bash
# make bench, the autoencoder (docs/vae.md "Long videos: chunks and shards"):
# 1. encode and decode frames/s of `tessera vae encode|decode` (chunked, the
#    default chunk) against the PyTorch reference VAE (bench/vae_peer.py:
#    tests/ref/vae.py in float32, whole clip) on the same 97-frame 64x64 clip,
#    same thread count, best of VAE_BENCH_ROUNDS (3), as a ratio;
# 2. peak RSS of the whole `tessera vae decode` / `encode` process for 25 and
#    1,441 frames of 32x32 (about 1 s and 60 s at 24 fps), chunked, and of the
#    whole-clip path (--chunk 0) at 25 and 97 frames, to show what grows.
# Untrained weights (one training step): speed and memory do not depend on them.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${VAE_BENCH_THREADS:-1} rounds=${VAE_BENCH_ROUNDS:-3}
export OMP_NUM_THREADS=$threads
tmp=build/bench/vae; rm -rf "$tmp"; mkdir -p "$tmp"
bin/tessera vae train configs/vae/demo.yaml train.steps=1 train.out="$tmp/run" >"$tmp/train.log" 2>&1 \
  || { echo "vae bench: training a checkpoint failed: $(tail -2 "$tmp/train.log")"; exit 1; }
ck=$tmp/run/vae.h5
video() { ffmpeg -v error -y -f lavfi -i "testsrc=size=$2x$2:rate=24" -frames:v "$1" -pix_fmt yuv420p "$tmp/v$1_$2.mp4"; }
video 97 64; video 25 32; video 97 32; video 1441 32
# best frames/s of `what` (encode|decode) over the rounds, from the command's own line
fps() {
  local what=$1 in=$2 out=$3 best=0 f
  for _ in $(seq "$rounds"); do
    f=$(bin/tessera vae "$what" --ckpt "$ck" "$in" --out "$out" 2>&1 | sed -n 's/.*(\([0-9.]*\) frames\/s).*/\1/p')
    best=$(/usr/bin/python3 -c "print(max($best, ${f:-0}))")
  done
  echo "$best"
}
enc=$(fps encode "$tmp/v97_64.mp4" "$tmp/z97_64.h5")
dec=$(fps decode "$tmp/z97_64.h5" "$tmp/o97_64.mp4")
peer=$(/usr/bin/python3 bench/vae_peer.py --config configs/vae/demo.yaml --frames 97 --size 64 --threads "$threads" \
  --rounds "$rounds")
/usr/bin/python3 - "$enc" "$dec" "$peer" "$threads" <<'PY'
import json, sys
enc, dec, peer, th = float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
print("vae (demo config, 97 frames of 64x64, %s thread(s)): encode %.1f frames/s vs PyTorch %s %.1f (%.2fx), "
      "decode %.1f vs %.1f (%.2fx)" % (th, enc, peer["torch"], peer["encode_fps"], enc / peer["encode_fps"], dec,
                                      peer["decode_fps"], dec / peer["decode_fps"]))
PY
# peak RSS (MiB) of one command, from the parent's rusage
rss() { /usr/bin/python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)' bin/tessera vae "$@"; }
for T in 25 97 1441; do bin/tessera vae encode --ckpt "$ck" "$tmp/v${T}_32.mp4" --out "$tmp/z$T.h5" >/dev/null 2>&1; done
d25=$(rss decode --ckpt "$ck" "$tmp/z25.h5" --out "$tmp/o.mp4"); d1441=$(rss decode --ckpt "$ck" "$tmp/z1441.h5" --out "$tmp/o.mp4")
e25=$(rss encode --ckpt "$ck" "$tmp/v25_32.mp4" --out "$tmp/e.h5"); e1441=$(rss encode --ckpt "$ck" "$tmp/v1441_32.mp4" --out "$tmp/e.h5")
w25=$(rss decode --ckpt "$ck" "$tmp/z25.h5" --out "$tmp/o.mp4" --chunk 0); w97=$(rss decode --ckpt "$ck" "$tmp/z97.h5" --out "$tmp/o.mp4" --chunk 0)
/usr/bin/python3 -c 'import sys; d25, d1441, e25, e1441, w25, w97 = map(int, sys.argv[1:])
print("vae peak RSS (32x32, chunked): decode 25 frames %d MiB, 1441 frames %d MiB (%.3fx; target <= 1.2x); "
      "encode %d / %d MiB (%.3fx); whole clip at once (--chunk 0): decode 25 frames %d MiB, 97 frames %d MiB"
      % (d25, d1441, d1441 / d25, e25, e1441, e1441 / e25, w25, w97))' "$d25" "$d1441" "$e25" "$e1441" "$w25" "$w97"
