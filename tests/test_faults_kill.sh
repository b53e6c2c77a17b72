#!/usr/bin/env bash
# kill -9 during every kind of write that is not a checkpoint (those are in
# test_faults_train.sh): a corpus (data synth), a video with its sheet and
# record (generate) and a render item. A process killed at any moment leaves
# either nothing or a complete, readable file under the real name: writers
# write to a temporary name and rename (issue 14). Each is killed at several
# moments, from early to late in the write.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${TESSERA:-bin/tessera}
tmp=build/tmp/faults_kill; rm -rf "$tmp"; mkdir -p "$tmp"
fail() { echo "FAIL: $*"; exit 1; }
export OMP_NUM_THREADS=1

# start "$@" in the background, kill -9 it after $delay seconds; 1 if it was still running
kill_after() {
  local delay=$1; shift
  "$@" >$tmp/k.log 2>&1 & local pid=$!
  sleep "$delay"
  if kill -9 $pid 2>/dev/null; then wait $pid 2>/dev/null || true; return 0; fi
  wait $pid 2>/dev/null || true; return 1
}

# 1. corpus: data synth of 20,000 clips (about 4 s), killed at 0.3 s .. 2.4 s
killed=0
for delay in 0.3 0.8 1.5 2.4; do
  out=$tmp/c_$delay.h5
  if kill_after $delay $T data synth --out $out --clips 20000 --frames 8 --size 16x16 --seed 1; then killed=$((killed+1)); fi
  if [ -e $out ]; then
    $T data inspect $out >$tmp/inspect.log 2>&1 || fail "synth killed at ${delay}s left an unreadable $out: $(tail -1 $tmp/inspect.log)"
  fi
done
[ $killed -ge 2 ] || fail "synth finished before most kills ($killed killed): the test does not test"
echo "ok  data synth killed -9 $killed times: never a partial corpus under the real name"

# 2. generate: a long clip (encode and the sheet take a while), killed at several moments
$T data synth --out $tmp/s.h5 --clips 16 --frames 8 --size 16x16 --seed 1 >$tmp/synth.log 2>&1 || fail "synth"
$T train configs/train/tiny.yaml model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16 \
  train.batch=2 train.warmup=1 train.steps=2 train.out=$tmp/run data.path=$tmp/s.h5 >$tmp/train.log 2>&1 || fail "train: $(tail -2 $tmp/train.log)"
ckpt=$tmp/run/ckpt_2.h5
killed=0
for delay in 0.5 1.0 1.6 2.5 3.5; do
  out=$tmp/g_$delay.mp4
  if kill_after $delay $T generate --ckpt $ckpt --steps 4 --frames 256 --prompt "a red circle moves left" --out $out; then
    killed=$((killed+1))
  fi
  for f in $out ${out%.mp4}.png ${out%.mp4}.json; do
    [ -e $f ] || continue
    case $f in
      *.mp4) ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 $f >$tmp/probe.txt 2>&1 &&
               [ "$(cat $tmp/probe.txt)" -gt 0 ] || fail "generate killed at ${delay}s left a broken $f: $(cat $tmp/probe.txt)";;
      *.json) /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' $f || fail "generate killed at ${delay}s left invalid $f";;
      *.png) /usr/bin/python3 -c 'import imageio as i,sys; i.imread(sys.argv[1])' $f 2>/dev/null || fail "broken $f";;
    esac
  done
done
[ $killed -ge 2 ] || fail "generate finished before most kills ($killed killed)"
echo "ok  generate killed -9 $killed times: never a partial video, sheet or record under the real name"

# 3. render: items killed mid-list; the rerun completes every item, each readable once
printf '{"prompt": "a red circle moves left", "frames": 128}\n{"prompt": "a blue square moves up", "frames": 128}\n{"prompt": "a green circle stays still", "frames": 128}\n' >$tmp/items.jsonl
kill_after 2.0 $T render $tmp/items.jsonl --ckpt $ckpt --steps 4 --out $tmp/render || true
$T render $tmp/items.jsonl --ckpt $ckpt --steps 4 --out $tmp/render >$tmp/render2.log 2>&1 || fail "render after kill -9: $(tail -2 $tmp/render2.log)"
n=$(ls $tmp/render/*.mp4 | wc -l)
[ "$n" = 3 ] || fail "expected 3 videos after the rerun, found $n: $(ls $tmp/render)"
for f in $tmp/render/*.mp4; do
  ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 $f >$tmp/probe.txt 2>&1 &&
    [ "$(cat $tmp/probe.txt)" -gt 0 ] || fail "render left a broken $f"
done
echo "ok  render killed -9 and rerun: 3 complete videos"
