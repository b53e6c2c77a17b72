#!/usr/bin/env bash
# Fault injection at scale (issue 14): RUNS trainings of the small test model,
# each stopped by SIGTERM, SIGUSR1 or kill -9 at a random moment and resumed
# with train.resume=auto, until the run reaches STEPS; then every loss must
# equal the uninterrupted run's (nothing lost, nothing changed) and every
# ckpt_*.h5 must load. Prints runs, failures (a non-zero exit after a clean
# signal, a half file under a real name, a resume that does not continue) and
# data lost (steps whose loss is missing or differs).
#   scripts/fault_signals.sh [RUNS=60] [STEPS=40]
set -uo pipefail
cd "$(dirname "$0")/.."
T=$(realpath "${TESSERA:-bin/tessera}")
PY=/usr/bin/python3
RUNS=${1:-60}; STEPS=${2:-40}
tmp=build/tmp/fault_signals; rm -rf "$tmp"; mkdir -p "$tmp"
small=(model.depth=2 model.dim=64 model.video.frames=8 model.video.height=16 model.video.width=16
       train.batch=2 train.log_every=1 train.warmup=2 train.steps=$STEPS train.ckpt_every=5 train.keep_ckpts=2)
train() { $T train configs/train/tiny.yaml "${small[@]}" "$@"; }
tessera_train=($T train configs/train/tiny.yaml "${small[@]}")  # in the background: $! is tessera itself
losses() { $PY -c 'import json,sys; d={}
for l in open(sys.argv[1]): j=json.loads(l); d[j["step"]]=repr(j["loss"])
print(" ".join(d.get(k, "missing") for k in range(1, int(sys.argv[2]) + 1)))' "$1" "$2"; }
train train.out=$tmp/ref >/dev/null 2>&1 || { echo "reference run failed"; exit 1; }
runs=0; failures=0; rounds=0
while [ $runs -lt $RUNS ]; do
  S=$tmp/run.$rounds; rounds=$((rounds + 1))
  while [ $runs -lt $RUNS ]; do
    "${tessera_train[@]}" train.out=$S train.resume=auto >$tmp/log 2>&1 &
    pid=$!; runs=$((runs + 1))
    sleep "$((RANDOM % 3)).$((RANDOM % 10))"
    case $((RANDOM % 3)) in 0) sig=TERM ;; 1) sig=USR1 ;; 2) sig=KILL ;; esac
    kill -$sig $pid 2>/dev/null
    wait $pid; rc=$?
    # a clean stop exits 0 (or the signal came before the handler: 143/138); kill -9 gives 137
    case "$sig:$rc" in TERM:0|USR1:0|TERM:143|USR1:138|KILL:137|*:0) ;; *) failures=$((failures + 1)); echo "run $runs: SIG$sig -> exit $rc: $(tail -2 $tmp/log)" ;; esac
    for f in "$S"/ckpt_*.h5; do
      [ -e "$f" ] || continue
      $PY -c 'import h5py,sys; h5py.File(sys.argv[1],"r")["params"]' "$f" 2>/dev/null || { failures=$((failures + 1)); echo "half file $f"; }
    done
    grep -q "step $STEPS " $tmp/log && break
  done
  # finish the run, then compare every step's loss with the reference
  train train.out=$S train.resume=auto >$tmp/log 2>&1 || { failures=$((failures + 1)); echo "final resume failed: $(tail -2 $tmp/log)"; }
done
lost=0
for S in $tmp/run.*; do
  a=($(losses $S/metrics.jsonl $STEPS)); b=($(losses $tmp/ref/metrics.jsonl $STEPS))
  for i in "${!b[@]}"; do [ "${a[$i]}" = "${b[$i]}" ] || lost=$((lost + 1)); done
done
echo "fault_signals: $runs runs in $rounds trainings of $STEPS steps, $failures failures, $lost steps lost or changed"
[ $failures = 0 ] && [ $lost = 0 ]
