#!/usr/bin/env bash
# One model over four shape buckets (issue 20, "what must be shown";
# docs/choices.md "Native sizes"): synthesise a shapes-world corpus of 8 and 16
# frames at 16x32 (wide) and 32x16 (tall), train the demo-sized model with a
# 16x32x32 window on all of them at once (configs/train/buckets.yaml, by time),
# then generate and run the shapes eval at each bucket's shape.
#   BUCKETS_MINUTES=20 (training time), BUCKETS_CLIPS=3000 (clips per bucket),
#   BUCKETS_SEEDS=1 (eval seeds per prompt), BUCKETS_STEPS=20 (sampling steps),
#   BUCKETS_DIR=demo/buckets; the eval: configs/eval/buckets.yaml (30 single-object prompts)
#   scripts/buckets_demo.sh [stage]   stage: all (default) | synth | train | eval
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
minutes=${BUCKETS_MINUTES:-20} clips=${BUCKETS_CLIPS:-3000} seeds=${BUCKETS_SEEDS:-1} steps=${BUCKETS_STEPS:-20}
dir=${BUCKETS_DIR:-demo/buckets}
stage=${1:-all}
buckets="8x16x32:$clips,8x32x16:$clips,16x16x32:$clips,16x32x16:$clips"
mkdir -p "$dir"

if [ "$stage" = all ] || [ "$stage" = synth ]; then
  echo "== synth: $buckets (frames x height x width : clips) =="
  $T data synth --recipe datasets/shapes.yaml --buckets "$buckets" --objects 1 --out "$dir/shapes.h5"
fi

if [ "$stage" = all ] || [ "$stage" = train ]; then
  echo "== train: $minutes minutes on every bucket =="
  $T train configs/train/buckets.yaml data.path="$dir/shapes.h5" train.out="$dir/run" \
    train.time_limit="$minutes" train.resume=auto
fi

if [ "$stage" = all ] || [ "$stage" = eval ]; then
  ckpt=$(ls "$dir"/run/ckpt_*.h5 | sort -t_ -k2 -n | tail -1)
  echo "== eval of $ckpt at each bucket's shape =="
  for b in 8x16x32 8x32x16 16x16x32 16x32x16; do
    IFS=x read -r f h w <<<"$b"
    $T generate --ckpt "$ckpt" --prompt "a red circle moves right" --size "${h}x$w" --frames "$f" \
      --steps "$steps" --out "$dir/gen_$b.mp4" --seed 1
    $T eval --ckpt "$ckpt" --suite configs/eval/buckets.yaml --size "${h}x$w" --frames "$f" --steps "$steps" --upscale 1 \
      --seeds "$seeds" --out "$dir/eval_$b" >"$dir/eval_$b.log" 2>&1 || { tail -3 "$dir/eval_$b.log"; exit 1; }
  done
  /usr/bin/python3 scripts/buckets_table.py "$ckpt" "$dir"/eval_*x*x*/eval.json
fi
