#!/usr/bin/env bash
# The project's Slurm jobs on a real single-node Slurm (munged + slurmctld +
# slurmd from Debian's slurm-wlm, private key/socket/config under build/tmp,
# started and stopped by tests/slurm/*.sh; nothing written to /etc):
#  1. slurm/train.sbatch trains the tiny model on a small synth corpus;
#  2. preemption: a second identical job gets USR1 (as --signal=B:USR1 would
#     send it) mid-run, checkpoints, requeues itself, resumes, and ends with the
#     same losses, step for step, as the uninterrupted job (the ground truth);
#  3. a 2-rank job (parallel.dp=2, srun --mpi=pmix) trains; a layout that does
#     not match the task count fails with a clear message;
#  4. slurm/train.sbatch inside salloc trains too (no requeue there);
#  5. slurm/render.sbatch as a 3-task job array renders 6 prompts with the
#     checkpoint of 1: every manifest item done, MP4s with the right frame counts
#     (ffprobe), and one item byte-identical to `tessera generate` with the
#     same request; slurm/queue_status counts the queue;
#  6. a 2-rank render job killed halfway and resubmitted finishes the list
#     without rendering any item twice (run counts in the manifests, MP4s of
#     items finished before the kill untouched);
#  7. a prompt list with a malformed line and a missing image: those items
#     fail with file:line in the job log and the manifest, the rest is done.
# Every wait polls squeue/scontrol with a timeout (never sbatch --wait); exit
# codes come from `scontrol show job` (no accounting database here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
for b in munged slurmctld slurmd sbatch salloc srun squeue scontrol scancel ffprobe; do
  command -v $b >/dev/null || { echo "SKIP: test_slurm: $b not found (make deps installs slurm-wlm, munge, ffmpeg)"; exit 0; }
done
tmp=$root/build/tmp/slurm
cl=$tmp/cluster
[ -d "$cl" ] && tests/slurm/stop.sh "$cl"
rm -rf "$tmp"; mkdir -p "$tmp/logs"
t_start=$(date +%s)
trap 'tests/slurm/stop.sh "$cl"' EXIT
trap 'exit 1' TERM INT  # so that EXIT stops the daemons on a timeout too
fail() { echo "FAIL: $*"; for f in "$tmp"/logs/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -15 "$f"; }; done; exit 1; }
# Two MP4s hold the same media: compared without their C2PA manifests (each
# signed file carries its own signature and time; docs/provenance.md).
same_video() { cmp -s <(/usr/bin/python3 tests/prov/strip_c2pa.py "$1" /dev/stdout) <(/usr/bin/python3 tests/prov/strip_c2pa.py "$2" /dev/stdout); }
# The jobs run a copy of the binary: a rebuild of bin/ during the test cannot change it.
cp bin/tessera "$tmp/tessera"
export TESSERA=$tmp/tessera OMP_NUM_THREADS=1
T=$TESSERA

timeout 60 tests/slurm/start.sh "$cl" >"$tmp/logs/start.log" 2>&1 || { cat "$tmp/logs/start.log"; fail "private Slurm did not start"; }
# shellcheck disable=SC1091
source "$cl/env"

job_field() { timeout 10 scontrol show job "$1" 2>/dev/null | grep -o "$2=[^ ]*" | head -1 | cut -d= -f2; }
# Wait until job $1 (every task of an array) has left the queue; $2 seconds at most.
wait_gone() {
  local end=$(( $(date +%s) + $2 ))
  while [ -n "$(timeout 10 squeue -h -j "$1" -o %i 2>/dev/null)" ]; do
    [ "$(date +%s)" -lt "$end" ] || fail "job $1 still queued after $2 s: $(squeue -j "$1" 2>&1 | tail -3)"
    sleep 0.3
  done
}
# Every record of job/array $1 ended COMPLETED with exit code 0:0.
expect_completed() {
  local states
  states=$(timeout 10 scontrol show job "$1" | grep -o -E "JobState=[A-Z_]+|ExitCode=[0-9:]+" | sort | uniq -c | tr '\n' ' ')
  timeout 10 scontrol show job "$1" | grep -o -E "JobState=[A-Z_]+" | grep -qv COMPLETED && fail "job $1 ($2): $states"
  timeout 10 scontrol show job "$1" | grep -o -E "ExitCode=[0-9:]+" | grep -qv "ExitCode=0:0" && fail "job $1 ($2): $states"
  return 0
}
submit() { timeout 30 sbatch --parsable -o "$tmp/logs/%x-%j.out" "$@" | cut -d';' -f1; }
losses() { /usr/bin/python3 -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1])))' "$1"; }

# ------------------------------------------------------------------ data
$T data synth --out "$tmp/shapes.h5" --clips 64 --frames 8 --size 16x16 --seed 0 >"$tmp/logs/synth.log" 2>&1 ||
  fail "data synth: $(tail -2 "$tmp/logs/synth.log")"
steps=100
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16
       train.batch=2 train.log_every=1 train.warmup=2 train.ckpt_every=0 data.path="$tmp/shapes.h5")

# ------------------------------------------------------------------ 1-4 training jobs
ref=$(submit -J ref slurm/train.sbatch configs/train/tiny.yaml "${small[@]}" train.steps=$steps train.out="$tmp/ref")
pre=$(submit -J pre slurm/train.sbatch configs/train/tiny.yaml "${small[@]}" train.steps=$steps train.out="$tmp/pre")
dp2=$(submit -J dp2 -O -n 2 slurm/train.sbatch configs/train/tiny.yaml "${small[@]}" parallel.dp=2 train.steps=6 train.out="$tmp/dp2")
bad=$(submit -J badlayout -O -n 2 slurm/train.sbatch configs/train/tiny.yaml "${small[@]}" parallel.dp=1 train.steps=3 train.out="$tmp/bad")
( cd "$root" && timeout 120 salloc -J salloc -n 1 slurm/train.sbatch configs/train/tiny.yaml "${small[@]}" train.steps=3 \
    train.out="$tmp/salloc" >"$tmp/logs/salloc.out" 2>&1 ) &
salloc_pid=$!

# Preempt `pre` a few steps in: USR1 to the batch shell, as --signal=B:USR1@T does.
for _ in $(seq 6000); do
  [ -f "$tmp/pre/metrics.jsonl" ] && [ "$(wc -l <"$tmp/pre/metrics.jsonl")" -ge 2 ] && break
  sleep 0.05
done
[ -f "$tmp/pre/metrics.jsonl" ] || fail "job $pre wrote no metrics in 300 s"
timeout 10 scancel --signal=USR1 --batch "$pre"
echo "..  USR1 sent to job $pre at step $(wc -l <"$tmp/pre/metrics.jsonl")"

wait_gone "$bad" 300
[ "$(job_field "$bad" JobState)" = FAILED ] && [ "$(job_field "$bad" ExitCode)" = 2:0 ] ||
  fail "bad-layout job $bad: $(job_field "$bad" JobState) exit $(job_field "$bad" ExitCode)"
grep -q "parallel dp=1 x sp=1 x tp=1 = 1 ranks, but the job has 2 tasks" "$tmp/logs/badlayout-$bad.out" ||
  fail "bad-layout job log lacks the layout error: $(cat "$tmp/logs/badlayout-$bad.out")"
echo "ok  layout dp x sp x tp = 1 on 2 tasks: job FAILED, exit 2, log: $(grep -o "error: .*" "$tmp/logs/badlayout-$bad.out" | head -1 | cut -c1-90)..."

wait "$salloc_pid" || fail "salloc run failed: $(tail -5 "$tmp/logs/salloc.out")"
grep -q "(salloc) restart 0" "$tmp/logs/salloc.out" && [ -f "$tmp/salloc/ckpt_3.h5" ] ||
  fail "salloc run: $(tail -5 "$tmp/logs/salloc.out")"
echo "ok  train.sbatch inside salloc: detected, 3 steps, checkpoint written"

wait_gone "$ref" 400
expect_completed "$ref" "uninterrupted training"
[ -f "$tmp/ref/ckpt_$steps.h5" ] || fail "no final checkpoint ckpt_$steps.h5 from job $ref"
echo "ok  train.sbatch: job $ref COMPLETED, $steps steps, $tmp/ref/ckpt_$steps.h5"

wait_gone "$dp2" 300
expect_completed "$dp2" "2-rank training"
grep -q "job $dp2 (batch) restart 0 on localhost: 2 ranks (dp=2 sp=1 tp=1)" "$tmp/logs/dp2-$dp2.out" &&
  grep -q "^layout dp=2 sp=1 tp=1 (2 ranks)" "$tmp/logs/dp2-$dp2.out" && [ -f "$tmp/dp2/ckpt_6.h5" ] ||
  fail "2-rank job: $(grep -E "train.sbatch|layout|checkpoint" "$tmp/logs/dp2-$dp2.out")"
echo "ok  train.sbatch -n 2 with parallel.dp=2: srun --mpi=pmix started 2 ranks, 6 steps, collective checkpoint"

# ------------------------------------------------------------------ 5. render job array
ckpt=$tmp/ref/ckpt_$steps.h5
ffmpeg -v error -f lavfi -i color=c=red:s=16x16 -frames:v 1 "$tmp/red.png"
cat >"$tmp/prompts.jsonl" <<'EOF'
{"prompt": "a red circle moves left", "seed": 1}
{"prompt": "a blue square moves right on a black background", "seed": 2}
{"prompt": "a green triangle moves up", "frames": 16}
{"prompt": "a yellow circle stays still", "image": "red.png"}
{"prompt": "two shapes move apart", "seed": 5, "id": "apart"}
{"prompt": "a white square moves down", "seed": 6}
EOF
arr=$(submit -J render --array=0-2 slurm/render.sbatch "$tmp/prompts.jsonl" "$ckpt" "$tmp/render" --steps 4)
wait_gone "$arr" 300
expect_completed "$arr" "render array"
[ "$(ls "$tmp"/render/manifest-shard*of3-rank0.jsonl | wc -l)" = 3 ] || fail "expected 3 manifests: $(ls "$tmp/render")"
status=$(slurm/queue_status "$tmp/render" "$arr")
echo "$status" | grep -qE "^all +6 +6 +0 +0 +0 +0$" || fail "queue status: $status"
for i in 0 1 2 3 4 5; do
  f=$tmp/render/item0000$i.mp4; frames=8
  [ $i = 2 ] && frames=16
  [ $i = 4 ] && f=$tmp/render/apart.mp4
  n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$f") ||
    fail "ffprobe cannot read $f"
  [ "$n" = $frames ] || fail "$f: $n frames, expected $frames"
  [ -f "${f%.mp4}.json" ] && [ -f "${f%.mp4}.png" ] || fail "$f: provenance or contact sheet missing"
done
grep -q '"image":"'"$tmp"'/red.png"' "$tmp/render/item00003.json" || fail "provenance of item 3 lacks its image: $(cat "$tmp/render/item00003.json")"
# The independent answer for one item: `tessera generate` with the same request.
$T generate --ckpt "$ckpt" --prompt "a blue square moves right on a black background" --seed 2 --steps 4 \
  --out "$tmp/gen1.mp4" >"$tmp/logs/gen1.log" 2>&1 || fail "generate: $(tail -2 "$tmp/logs/gen1.log")"
same_video "$tmp/gen1.mp4" "$tmp/render/item00001.mp4" || fail "item 1 differs from tessera generate with the same request"
echo "ok  render.sbatch --array=0-2: 6/6 items done over 3 shards, frame counts right (ffprobe), item 1 = tessera generate byte for byte"
echo "$status" | sed -n 2,6p | sed 's/^/      /'

# ------------------------------------------------------------------ 6. killed render job, resubmitted
/usr/bin/python3 -c '
import json, sys
colors, shapes, moves = ["red", "green", "blue", "yellow", "white"], ["circle", "square", "triangle"], ["left", "right", "up", "down"]
with open(sys.argv[1], "w") as f:
    for i in range(10):
        f.write(json.dumps({"prompt": f"a {colors[i % 5]} {shapes[i % 3]} moves {moves[i % 4]}", "seed": 100 + i}) + "\n")
' "$tmp/queue.jsonl"
qargs=("$tmp/queue.jsonl" "$ckpt" "$tmp/queue" --steps 16)
k1=$(submit -J queue -O -n 2 slurm/render.sbatch "${qargs[@]}")
for _ in $(seq 6000); do
  n=$(cat "$tmp"/queue/manifest-*.jsonl 2>/dev/null | grep -c '"status":"done"' || true)
  [ "$n" -ge 2 ] && break
  sleep 0.05
done
timeout 10 scancel "$k1"
wait_gone "$k1" 120
[ "$(job_field "$k1" JobState)" = CANCELLED ] || fail "job $k1 was not cancelled mid-list: $(job_field "$k1" JobState)"
done1=$(cat "$tmp"/queue/manifest-*.jsonl | grep -c '"status":"done"' || true)
[ "$done1" -ge 2 ] && [ "$done1" -lt 10 ] || fail "kill did not land halfway: $done1 of 10 items rendered before it"
# Items recorded done before the kill, with their MP4 modification times.
manifest_py='
import glob, json, sys, collections
runs, done = collections.Counter(), collections.Counter()
for p in glob.glob(sys.argv[1] + "/manifest-*.jsonl"):
    for line in open(p):
        if not line.endswith("\n"): continue  # a torn last line of the killed job
        r = json.loads(line)
        if r["event"] != "item": continue
        if r["status"] == "running": runs[r["index"]] += 1
        if r["status"] == "done": done[r["index"]] += 1
'
/usr/bin/python3 -c "$manifest_py"'
for i in sorted(done): print(i)' "$tmp/queue" >"$tmp/done_before"
[ -s "$tmp/done_before" ] || fail "no item recorded done before the kill"
for i in $(cat "$tmp/done_before"); do stat -c %y "$(printf "$tmp/queue/item%05d.mp4" $i)"; done >"$tmp/mtime_before"
k2=$(submit -J queue -O -n 2 slurm/render.sbatch "${qargs[@]}")
wait_gone "$k2" 400
expect_completed "$k2" "resubmitted render"
for i in $(cat "$tmp/done_before"); do stat -c %y "$(printf "$tmp/queue/item%05d.mp4" $i)"; done >"$tmp/mtime_after"
cmp -s "$tmp/mtime_before" "$tmp/mtime_after" || fail "an item finished before the kill was written again"
runs=$(/usr/bin/python3 -c "$manifest_py"'
before = {int(l) for l in open(sys.argv[2])}
bad = [i for i in range(10) if done[i] != 1 or runs[i] not in (1, 2) or (i in before and runs[i] != 1)]
print("bad", bad, dict(runs), dict(done)) if bad else print(sum(runs.values()), sum(1 for i in runs if runs[i] == 2))
' "$tmp/queue" "$tmp/done_before")
case "$runs" in bad*) fail "manifest after resubmission: items not done exactly once or started again: $runs";; esac
set -- $runs
[ "$1" -le 12 ] && [ "$2" -le 2 ] || fail "render starts $1 (expected 10 + at most one interrupted item per rank)"
grep -q "done earlier, .* checksum verified: skipped" "$tmp/logs/queue-$k2.out" || fail "resubmitted job did not skip finished items"
echo "ok  2-rank render killed after $done1/10 items, resubmitted: all 10 done once, the $(wc -l <"$tmp/done_before") finished before the kill not redone ($1 starts, $2 interrupted item(s) redone)"

# ------------------------------------------------------------------ 7. bad items in a queue
printf '%s\n' '{"prompt": "a red circle moves left", "seed": 1}' '{"prompt": "broken", "seed": }' \
  '{"prompt": "needs an image", "image": "no_such.png"}' '{"prompt": "a blue square moves up"}' >"$tmp/mixed.jsonl"
mix=$(submit -J mixed slurm/render.sbatch "$tmp/mixed.jsonl" "$ckpt" "$tmp/mixed" --steps 4)
wait_gone "$mix" 300
[ "$(job_field "$mix" JobState)" = FAILED ] && [ "$(job_field "$mix" ExitCode)" = 1:0 ] ||
  fail "mixed job $mix: $(job_field "$mix" JobState) exit $(job_field "$mix" ExitCode)"
log=$tmp/logs/mixed-$mix.out
grep -q "error: $tmp/mixed.jsonl:2: not a JSON object" "$log" && grep -q "error: $tmp/mixed.jsonl:3: item 2: image: .*no_such.png: No such file" "$log" ||
  fail "job log lacks the file:line errors: $(cat "$log")"
st=$($T render --status "$tmp/mixed")
echo "$st" | grep -qE "^all +4 +2 +2 +0 +0 +0$" && echo "$st" | grep -q "failed: item 1: .*mixed.jsonl:2:" || fail "mixed status: $st"
[ -f "$tmp/mixed/item00000.mp4" ] && [ -f "$tmp/mixed/item00003.mp4" ] || fail "good items of the mixed list not rendered"
echo "ok  malformed line and missing image: job FAILED (exit 1), both items failed with file:line in log and manifest, the other 2 done"

# ------------------------------------------------------------------ 2. preempted training ends like the uninterrupted one
wait_gone "$pre" 400
expect_completed "$pre" "preempted training"
[ "$(job_field "$pre" Restarts)" = 1 ] || fail "job $pre: Restarts=$(job_field "$pre" Restarts), expected 1 requeue"
plog=$tmp/logs/pre-$pre.out
grep -q "USR1 received" "$plog" && grep -q "requeueing job $pre" "$plog" && grep -q "(batch) restart 1" "$plog" ||
  fail "preempted job log lacks signal/requeue/restart: $(grep train.sbatch "$plog")"
at=$(grep -o "resumed from .*ckpt_[0-9]*.h5 at step [0-9]*" "$plog" | grep -o "[0-9]*$") || fail "no resume line in $plog"
[ "$at" -gt 0 ] && [ "$at" -lt $steps ] || fail "resumed at step $at"
a=$(losses "$tmp/ref/metrics.jsonl"); b=$(losses "$tmp/pre/metrics.jsonl")
[ "$(echo $a | wc -w)" = $steps ] && [ "$a" = "$b" ] || fail "losses of the preempted run differ from the uninterrupted run:
  uninterrupted: $(echo $a | cut -d' ' -f1-8) ... ($(echo $a | wc -w))
  preempted:     $(echo $b | cut -d' ' -f1-8) ... ($(echo $b | wc -w))"
last_ref=$(grep -o "step $steps | loss [0-9.]*" "$tmp/logs/ref-$ref.out"); last_pre=$(grep -o "step $steps | loss [0-9.]*" "$plog")
[ -n "$last_ref" ] && [ "$last_ref" = "$last_pre" ] || fail "final log lines differ: '$last_ref' vs '$last_pre'"
echo "ok  USR1 at step $at: checkpoint, scontrol requeue, resume; all $steps losses equal the uninterrupted job ($last_pre)"

echo "test_slurm: $(( $(date +%s) - t_start )) s"
