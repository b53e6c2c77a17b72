#!/usr/bin/env bash
# ZeRO's gradient reduce-scatter overlapped with the backward (parallel.bucket_mb,
# docs/parallel_train.md "Overlap"): the tiny model at dp 2, blocking
# (bucket_mb 0) and bucketed (BENCH_BUCKET_MB, 1 MiB), BENCH_OVERLAP_STEPS (6)
# steps each. Reports (never asserts) the time each rank waited in the gradient
# reduce-scatter per step -- the whole blocking call, or only the final waits
# of the overlap path -- and the fraction of it the overlap hid, with the mean
# step time (the first step, which warms up, excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${BENCH_OVERLAP_STEPS:-6} bucket=${BENCH_BUCKET_MB:-1}
for mb in 0 "$bucket"; do
  out=build/bench/overlap_$mb; rm -rf "$out"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 timeout 600 mpirun --oversubscribe \
    --bind-to none -np 2 bin/tessera train configs/train/tiny.yaml parallel.dp=2 parallel.bucket_mb="$mb" \
    train.steps="$steps" train.batch=4 train.log_every=1 train.out="$out" >"$out.log" 2>&1 \
    || { echo "overlap bench (bucket_mb $mb) failed: $(tail -3 "$out.log")"; exit 1; }
done
/usr/bin/python3 - build/bench/overlap_0 "build/bench/overlap_$bucket" <<'PY'
import json, sys
def read(run):
    line = next(l for l in open(run + ".log") if l.startswith("comm {"))
    c = json.loads(line[5:])
    ms = [json.loads(l)["step_ms"] for l in open(run + "/metrics.jsonl")][1:]
    return c, sum(ms) / max(len(ms), 1)
(b, bms), (o, oms) = read(sys.argv[1]), read(sys.argv[2])
wb, wo = b["dp_wait_s_per_step"] * 1e3, o["dp_wait_s_per_step"] * 1e3
print(f"overlap dp2 (tiny, {b['padded_params']:,} floats, {b['comm_bytes_per_step']['dpsp']:,.0f} B/step/rank in dpsp both ways): "
      f"reduce-scatter wait {wb:.1f} ms/step blocking, {wo:.1f} ms/step with {o['bucket_mb']:g} MiB buckets "
      f"({o['buckets_per_step']:.0f} per step, {o['buckets_early_per_step']:.0f} started during the backward): "
      f"{100 * (1 - wo / wb) if wb > 0 else 0:.0f}% hidden; step {bms:.0f} ms blocking, {oms:.0f} ms overlapped")
PY
