#!/usr/bin/env bash
# The main job (`make demo`): synthesise the shapes-world corpus, train the
# demo model on the CPU for a bounded time, make a handful of videos
# (text-to-video for each motion, image-to-video, an extension), score the
# model with the eval suite. Everything lands in demo/.
#   DEMO_MINUTES=15 (training time, both stages), DEMO_CLIPS=20000 (corpus size),
#   DEMO_MODEL=configs/model/demo_minilm.yaml (the pretrained text encoder;
#   configs/model/demo.yaml: the model's own, learned over the corpus's words),
#   DEMO_WORDS_MINUTES=4 (the second stage, on captions in other words; by default
#   4/15 of DEMO_MINUTES; 0: one stage)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}  # TESSERA=path runs another build
minutes=${DEMO_MINUTES:-15}
# the second stage: 4 of every 15 minutes unless DEMO_WORDS_MINUTES says (0: one stage)
words_minutes=${DEMO_WORDS_MINUTES:-$(awk -v m="$minutes" 'BEGIN { printf "%g", m * 4 / 15 }')}
first_minutes=$(awk -v m="$minutes" -v w="$words_minutes" 'BEGIN { f = m - w; if (f <= 0) exit 1; print f }') ||
  { echo "demo: DEMO_WORDS_MINUTES=$words_minutes leaves no time of DEMO_MINUTES=$minutes for the first stage" >&2; exit 2; }
two_stages=$(awk -v w="$words_minutes" 'BEGIN { print (w > 0) ? 1 : 0 }')
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
# the second stage's corpus: the same clips, half the short captions in other
# words (synonyms and sentence structures disjoint from the paraphrase suite's)
if [ "$two_stages" = 1 ] && { [ ! -f demo/shapes_words.h5 ] || [ "$(cat demo/shapes_words.args 2>/dev/null)" != "$synth" ] ||
                                   ! $T data inspect demo/shapes_words.h5 >/dev/null 2>&1; }; then
  $T data synth $synth --caption-variety 0.5 --out demo/shapes_words.h5 | tail -1
  echo "$synth" > demo/shapes_words.args
fi

# a run left by another configuration is moved aside, not continued
fingerprint="$(cat configs/train/demo.yaml "$model" | cksum)"
if [ -d demo/run ] && [ "$(cat demo/run.config 2>/dev/null)" != "$fingerprint" ]; then
  echo "demo/run was trained with another configuration: moved to demo/run.old"
  rm -rf demo/run.old && mv demo/run demo/run.old
fi
mkdir -p demo/run && echo "$fingerprint" > demo/run.config

# Two stages (docs/choices.md "A curriculum"): the canonical captions until the
# motions are read, then, from those weights (train.init_from), the same clips
# with half the captions in other words, which helps prompts in other words
# without costing the canonical ones. A second `make demo` continues the first
# stage and redoes the second from it.
echo "== 2/4 training the demo model for $minutes minutes: $first_minutes on the canonical captions =="
$T train configs/train/demo.yaml model="$model" train.time_limit="$first_minutes" train.resume=auto |
  grep -E "^(step|model|checkpoint|time limit|resumed|text encoder)"
ckpt=$(ls demo/run/ckpt_*.h5 | sort -t_ -k2 -n | tail -1)
if [ "$two_stages" = 1 ]; then
  echo "   then $words_minutes on captions in other words, from $ckpt"
  rm -rf demo/run2
  $T train configs/train/demo.yaml model="$model" data.path=demo/shapes_words.h5 train.out=demo/run2 \
    train.time_limit="$words_minutes" train.init_from="$ckpt" |
    grep -E "^(step|weights|checkpoint|time limit|text encoder)"
  ckpt=$(ls demo/run2/ckpt_*.h5 | sort -t_ -k2 -n | tail -1)
fi

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
