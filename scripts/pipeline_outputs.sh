#!/usr/bin/env bash
# What the generation pipeline makes for a fixed checkpoint and seed, as one
# text file of hashes: every mode of `generate`, a `render` list and an `eval`
# suite. Used to show a refactor changes nothing:
#   scripts/pipeline_outputs.sh OLD_BIN build/tmp/old >old.txt
#   scripts/pipeline_outputs.sh bin/tessera build/tmp/new build/tmp/old/run/ckpt_3.h5 >new.txt; diff old.txt new.txt
# The third argument reuses a checkpoint: the frames carry a watermark whose
# payload hashes the generation record, which names the checkpoint (its hash and run id), so two separately
# trained checkpoints, bit-identical in their weights, still make different pixels.
# Timings are left out of the JSON records (they differ from run to run).
set -euo pipefail
T=$(realpath "$1"); d=$2; d0=$2; rm -rf "$d"; mkdir -p "$d"
export OMP_NUM_THREADS=1
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 train.batch=2 train.warmup=1)
$T data synth --out $d/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$d/log 2>&1
if [ -n "${3:-}" ]; then
  ckpt=$(realpath "$3")
else
  $T train configs/train/tiny.yaml "${small[@]}" train.steps=3 train.out=$d/run data.path=$d/s.h5 >>$d/log 2>&1
  ckpt=$d/run/ckpt_3.h5
fi
ffmpeg -v error -f lavfi -i color=c=blue:s=16x16 -frames:v 1 $d/blue.png
G() { $T generate --ckpt $ckpt --steps 3 --cfg 2 --upscale 1 "$@" >>$d/log 2>&1; }
G --prompt "a red circle moves left" --out $d/t2v.mp4
G --prompt "a red circle moves left" --seed 5 --sampler heun --shift 2 --out $d/heun.mp4
G --prompt "a red square moves right" --image $d/blue.png --out $d/i2v.mp4
G --prompt "a red square moves right" --extend $d/i2v.mp4 --out $d/ext.mp4
G --prompt "a red square moves right" --first $d/blue.png --last $d/blue.png --out $d/interp.mp4
G --prompt "a red square moves right" --remix $d/t2v.mp4 --strength 0.5 --out $d/remix.mp4
G --prompt "a red square moves right" --frames 16 --out $d/long.mp4
G --prompt "a red square moves right" --keyframe --seed 5 --out $d/kf.mp4
printf '%s\n' '{"prompt": "a green square moves up", "seed": 7}' '{"prompt": "a blue circle", "image": "blue.png", "seed": 4}' >$d/list.jsonl
$T render $d/list.jsonl --ckpt $ckpt --out $d/render --steps 3 --cfg 2 --upscale 1 >>$d/log 2>&1
$T eval --ckpt $ckpt --out $d/eval --steps 3 --upscale 1 >>$d/log 2>&1
strip='import json, sys
d, path = sys.argv[1], sys.argv[2]
text = open(path).read().replace(d, "D")
try: records = [json.loads(text)]
except ValueError: records = [json.loads(l) for l in text.splitlines() if l.strip()]
drop = ("seconds", "time", "key", "run", "step_ms", "mfu", "tokens_per_s", "bytes", "job")
def clean(x):  # timings, run ids, file hashes and sizes differ from run to run
  if isinstance(x, dict): return {k: clean(v) for k, v in x.items() if k not in drop and "fnv" not in k and "sha256" not in k}
  if isinstance(x, list): return [clean(v) for v in x]
  return x
for r in records: print(json.dumps(clean(r), sort_keys=True))'
d=$(realpath $d); cd $d
for f in $(find . -name '*.mp4' | sort); do
  echo "$f frames $(ffmpeg -v error -i $f -f rawvideo -pix_fmt rgb24 - | sha256sum | cut -c1-16)"
done
for f in $(find . -name '*.json' -o -name '*.jsonl' | grep -v '^./list\|metrics' | sort); do echo "$f"; /usr/bin/python3 -c "$strip" "$d0" $f; done
