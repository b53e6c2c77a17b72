#!/usr/bin/env bash
# Training peak memory per rank against the sequence-parallel degree (issue 21:
# activation memory ∝ 1/degree within 15%), for one long clip: 128 frames of
# 32x32 in 2x4x4 patches = 4096 tokens, on a small model (depth 4, dim 256,
# 4 heads) so that activations dominate. Degrees 1, 2, 4 are Ulysses; 8 is
# Ulysses 4 x ring 2 (4 heads stop Ulysses at 4). Each layout trains
# TRAIN_MEM_STEPS (2) steps with train.recompute none and block; every rank runs
# under a wrapper that prints its peak RSS (the child's ru_maxrss). Printed per
# row: the activation arena per rank (the trainer's "activations" line: every
# activation buffer the step touches), its ratio to the sp 1 arena / degree
# (target 1.00 ± 0.15), the peak RSS over the ranks, and the RSS-measured
# activation part: peak RSS of the long clip minus that of a clip of 16 frames
# (512 tokens) in the same layout, times 8/7 (the short clip's own activations
# are 1/8 of the long one's), again against sp 1's / degree.
# Ranks are oversubscribed: memory is per rank, timings are not reported.
# TRAIN_MEM_REPORT_ONLY=1 prints the table again from the last run's logs.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/bench/train_mem
steps=${TRAIN_MEM_STEPS:-2}
model="model.depth=4 model.dim=256 model.heads=4 model.video.height=32 model.video.width=32"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
# one rank's peak RSS in MiB, printed after its tessera exits
wrap='import os, resource, subprocess, sys
rc = subprocess.run(sys.argv[1:]).returncode
r = os.environ.get("OMPI_COMM_WORLD_RANK", "0")
print("peak_rss_mib rank %s %.1f" % (r, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024), flush=True)
sys.exit(rc)'
run() {  # name sp ring recompute frames
  local name=$1 sp=$2 ring=$3 rc=$4 frames=$5
  local launch=()
  [ "$sp" -gt 1 ] && launch=(timeout 900 mpirun --oversubscribe --bind-to none -np "$sp")
  "${launch[@]}" /usr/bin/python3 -c "$wrap" bin/tessera train configs/train/tiny.yaml $model model.video.frames="$frames" \
    train.batch=1 train.steps="$steps" train.warmup=1 train.log_every=1 train.ckpt_every=0 train.recompute="$rc" \
    parallel.sp="$sp" parallel.ring="$ring" train.out="$out/$name" >"$out/$name.log" 2>&1 \
    || { echo "train_mem: $name failed: $(tail -3 "$out/$name.log")"; exit 1; }
}
if [ -z "${TRAIN_MEM_REPORT_ONLY:-}" ]; then  # set: only the table, from the last run's logs
  rm -rf "$out"; mkdir -p "$out"
  for rc in none block; do
    for layout in "1 1" "2 1" "4 1" "8 2"; do
      set -- $layout
      run "sp$1-$rc-long" "$1" "$2" "$rc" 128
      run "sp$1-$rc-short" "$1" "$2" "$rc" 16
    done
  done
fi
/usr/bin/python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
def read(name):
    text = open(f"{out}/{name}.log").read()
    arena = float(re.search(r"activations (\d+) MiB", text).group(1))
    rss = [float(x) for x in re.findall(r"peak_rss_mib rank \d+ ([\d.]+)", text)]
    return arena, rss
print("training peak memory per rank, one clip of 4096 tokens (depth 4, dim 256, 4 heads; batch 1):")
print("  (x sp / sp1: the per-rank figure times the degree over the one-rank figure, 1.000 = exactly 1/degree;")
print("   x sp / 2 sp2: the same against sp 2, which already carries Ulysses' head-layout buffers)")
print("  recompute  sp (ring)  arena MiB  x sp / sp1  x sp / 2 sp2  peak RSS MiB (ranks)  RSS act. MiB  x sp / sp1  x sp / 2 sp2")
for rc in ("none", "block"):
    base = base2 = None
    for sp, ring in ((1, 1), (2, 1), (4, 1), (8, 2)):
        a, rss = read(f"sp{sp}-{rc}-long")
        _, rss_s = read(f"sp{sp}-{rc}-short")
        act = (max(rss) - max(rss_s)) * 8 / 7
        if base is None:
            base = (a, act)
        if sp == 2:
            base2 = (a, act)
        r2 = lambda x, k: f"{x * sp / (2 * base2[k]):12.3f}" if base2 else f"{'-':>12s}"
        print(f"  {rc:9s}  {sp} ({ring})     {a:9.0f}  {a * sp / base[0]:10.3f}  {r2(a, 0)}  {max(rss):12.1f} ({len(rss)})"
              f"  {act:12.1f}  {act * sp / base[1]:10.3f}  {r2(act, 1)}")
PY
