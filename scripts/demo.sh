#!/usr/bin/env bash
# The main job (`make demo`): synthesise the shapes-world corpus, train the
# demo model on the CPU for a bounded time, make a handful of videos
# (text-to-video for each motion, image-to-video, an extension), score the
# model with the eval suite. Everything lands in demo/.
#   DEMO_MINUTES=15 (training time), DEMO_CLIPS=20000 (corpus size),
#   DEMO_MODEL=configs/model/demo_minilm.yaml (the pretrained text encoder;
#   configs/model/demo.yaml: the model's own, learned over the corpus's words)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}  # TESSERA=path runs another build
minutes=${DEMO_MINUTES:-15}
clips=${DEMO_CLIPS:-20000}
model=${DEMO_MODEL:-configs/model/demo_minilm.yaml}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
mkdir -p demo

echo "== 1/4 corpus: $clips shapes-world clips (one object, 8 frames of 16x16) =="
# the demo model's window (configs/model/demo.yaml); one object per clip, the
# eval's text-to-video prompts (a corpus from another recipe is rebuilt). The
# short captions stay canonical: half of them in other words (--caption-variety
# 0.5) cost half the direction accuracy at this budget (docs/choices.md, issue 16)
synth="--recipe datasets/shapes.yaml --frames 8 --size 16x16 --objects 1 --clips $clips"
if [ ! -f demo/shapes.h5 ] || [ "$(cat demo/shapes.args 2>/dev/null)" != "$synth" ]; then
  rm -rf demo/run
  $T data synth $synth --out demo/shapes.h5
  echo "$synth" > demo/shapes.args
elif ! $T data inspect demo/shapes.h5 >/dev/null 2>&1; then
  # the same recipe in a format this build cannot read (an older version):
  # synth is deterministic, so the same clips again, and the run continues
  $T data synth $synth --out demo/shapes.h5
fi
$T data inspect demo/shapes.h5 --sheet demo/corpus_sheet.png > demo/corpus.txt && head -12 demo/corpus.txt

# a run left by another configuration is moved aside, not continued
fingerprint="$(cat configs/train/demo.yaml "$model" | cksum)"
if [ -d demo/run ] && [ "$(cat demo/run.config 2>/dev/null)" != "$fingerprint" ]; then
  echo "demo/run was trained with another configuration: moved to demo/run.old"
  rm -rf demo/run.old && mv demo/run demo/run.old
fi
mkdir -p demo/run && echo "$fingerprint" > demo/run.config

echo "== 2/4 training the demo model for $minutes minutes =="
$T train configs/train/demo.yaml model="$model" train.time_limit="$minutes" train.resume=auto |
  grep -E "^(step|model|checkpoint|time limit|resumed|text encoder)"
ckpt=$(ls demo/run/ckpt_*.h5 | sort -t_ -k2 -n | tail -1)

echo "== 3/4 videos from $ckpt =="
# text-to-video through a keyframe (text -> first frame -> video); at 15
# minutes it follows the motion word as often as one pass or a little more
# (docs/choices.md: 92% against 88%, 85% against 85%)
for motion in "moves left" "moves right" "moves up" "moves down" "stays still" "bounces off the walls"; do
  name=$(echo "$motion" | tr ' ' '_')
  $T generate --ckpt "$ckpt" --prompt "a red circle $motion" --keyframe --out "demo/t2v_$name.mp4" --seed 1
done
# image-to-video from the first frame of a generated clip (any image or video file works), and an extension of it
$T generate --ckpt "$ckpt" --prompt "a blue square moves right" --out demo/seed_clip.mp4 --seed 2
$T generate --ckpt "$ckpt" --prompt "a blue square moves right" --image demo/seed_clip.mp4 --out demo/i2v.mp4 --seed 3
$T generate --ckpt "$ckpt" --prompt "a blue square moves right" --extend demo/seed_clip.mp4 --frames 12 --out demo/extend.mp4 --seed 4

echo "== 4/4 eval =="
# 3 seeds per prompt: 60 direction videos, about +-6 points (1 seed: +-9)
$T eval --ckpt "$ckpt" --suite configs/eval/shapes.yaml --out demo/eval --steps 30 --keyframe --seeds 3
# the same model on prompts in words the corpus never used (synonyms, other
# sentence structures, typos, capitals): docs/eval.md
$T eval --ckpt "$ckpt" --suite configs/eval/paraphrase.yaml --out demo/eval_paraphrase --steps 30 --keyframe --seeds 3
echo "videos, contact sheets (.png) and provenance (.json) are in demo/"
