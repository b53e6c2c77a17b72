#!/usr/bin/env bash
# make bench: tessera against the PyTorch reference (tests/ref/model.py) on the
# same machine in the same run, then data, comm, long-clip and fault benches.
# Timings are reported, never asserted. BENCH_MODELS (tiny), BENCH_BATCH (4),
# BENCH_ROUNDS (3), BENCH_PEER_THREADS ("1 2"): docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
mkdir -p build/bench
# Train step, denoise step, one clip and peak RSS against the PyTorch 2 peer
# (torch.compile, from `make bench-peer`) and Debian's PyTorch 1.13, interleaved
# in rounds (bench/peers.py); the model check comes first. build/bench/<model>.json.
for model in ${BENCH_MODELS:-tiny}; do
  /usr/bin/python3 bench/peers.py --model-yaml "configs/model/$model.yaml" --batch "${BENCH_BATCH:-4}" \
    --rounds "${BENCH_ROUNDS:-3}" --threads "${BENCH_PEER_THREADS:-1 2}" --steps 30 --out "build/bench/$model.json"
  # Where tessera's steps spend their time, per op (kernels/backend_profile.h):
  # the tables on the terminal, the JSON in build/bench/<model>_profile.json.
  bin/tessera bench step --config "configs/model/$model.yaml" --batch "${BENCH_BATCH:-4}" --iters 3 --profile \
    >"build/bench/${model}_profile.json"
done

# Data: synth clips/s, ingest frames/s, loader samples/s.
tmp=build/bench/data; rm -rf "$tmp"; mkdir -p "$tmp/videos"
bin/tessera data synth --out "$tmp/shapes.h5" --clips 10000 --frames 16 --size 32x32 --seed 0 2>/dev/null | grep -o "[0-9.]* clips/s" | head -1 | sed 's/^/synth: /'
cp /usr/lib/python3/dist-packages/imageio/resources/images/{cockatoo.mp4,realshort.mp4,newtonscradle.gif} "$tmp/videos/"
t0=$(date +%s%N)
bin/tessera data ingest --videos "$tmp/videos" --out "$tmp/ingest.h5" --frames 16 --size 32x32 --clips-per-video 100 >"$tmp/ingest.log" 2>&1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
frames=$(/usr/bin/python3 -c 'import h5py,sys; f=h5py.File(sys.argv[1]); print(sum(b.attrs["count"]*b.attrs["frames"] for b in f["buckets"].values()))' "$tmp/ingest.h5")
echo "ingest: $frames frames written in $ms ms: $(( frames * 1000 / (ms > 0 ? ms : 1) )) frames/s (decode, resample, resize, recaption, write)"
build/tests/test_loader --bench 2>/dev/null | /usr/bin/python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("{"):
        d = json.loads(line)
        print("loader: %s clips, batch %d, prefetch %d, step %s: %d samples/s, wait %.3f ms/batch"
              % (d["clip"], d["batch"], d["prefetch"], d["step"], d["samples_per_s"], d.get("wait_ms_per_step", d.get("ms_per_batch"))))'

# Bytes each rank sent per training step, by group (the comm layer's counters,
# checkpoints excluded), next to the analytic volume of docs/parallel.md
# (docs/parallel_model.py): dp2 (ZeRO-1), tp2 x sp2, ring 2 and Ulysses 2 x
# ring 2 (with block recomputation) on the tiny model.
comm_bench() {  # name ranks ring recompute overrides...
  local name=$1 np=$2 ring=$3 recompute=$4; shift 4
  local out=build/bench/$name; rm -rf "$out"
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 timeout 600 mpirun --oversubscribe \
    --bind-to none -np "$np" bin/tessera train configs/train/tiny.yaml "$@" train.steps=3 train.batch=4 \
    parallel.ring="$ring" train.recompute="$recompute" train.log_every=1 train.out="$out" >"build/bench/$name.log" 2>&1 \
    || { echo "$name bench run failed: $(tail -3 "build/bench/$name.log")"; exit 1; }
  /usr/bin/python3 - "build/bench/$name.log" configs/model/tiny.yaml "$ring" "$recompute" <<'PY'
import json, sys, yaml
sys.path.insert(0, "docs")
import parallel_model as pm
line = next(l for l in open(sys.argv[1]) if l.startswith("comm {"))
m = json.loads(line[5:])
cfg = yaml.safe_load(open(sys.argv[2]))["model"]
D, depth, heads, R = cfg["dim"], cfg["depth"], cfg["heads"], cfg["mlp_ratio"]
v, pt = cfg["video"], cfg["patch"]
P = pt[0] * pt[1] * pt[2] * v["channels"]
N = (v["frames"] // pt[0]) * (v["height"] // pt[1]) * (v["width"] // pt[2])
t = cfg["text"]
psi, psi_split = pm.params(D, depth, R, P, t["vocab"], t["length"], t["layers"], hd=D // heads)
dp, sp, tp = m["dp"], m["sp"], m["tp"]
ring, recompute = int(sys.argv[3]), sys.argv[4]
a = pm.step_bytes(dp, sp, tp, D, depth, N, t["length"], m["micro_batch"] * 1, psi, psi_split, m["accum"], hd=D // heads,
                  ring=max(ring, 1), recompute=recompute)
p = dp * sp
padded = 2 * (p - 1) / p * m["padded_params"] * 4
print(f"dp{dp} x sp{sp} (ring {max(ring, 1)}) x tp{tp}, recompute {recompute}, model {cfg['name']}: {psi:,} parameters ({m['local_params']:,} floats in this rank's "
      f"table with 64-byte alignment, {m['padded_params']:,} padded to {p} shards); measured over {m['steps']} steps")
for g, b in m["comm_bytes_per_step"].items():
    want = a.get(g)
    extra = ""
    if g == "dpsp" and p > 1:
        extra = (f"   analytic 2(p-1)/p*Psi*4 = {want:,.0f}; with the table's padded count {padded:,.0f} "
                 f"(+ scalars: {b - padded:,.0f} B)")
    elif g in ("tp", "sp") and want:
        extra = f"   analytic {want:,.0f} (measured/analytic {b / want:.4f})"
    elif b:
        extra = "   scalars (token count, grad norm, stop flags), not modelled"
    print(f"  {g:5s} {b:12,.0f} B/step/rank{extra}")
PY
}
comm_bench dp2 2 1 none parallel.dp=2
comm_bench tp2sp2 4 1 none parallel.tp=2 parallel.sp=2
comm_bench ring2 2 2 none parallel.sp=2
comm_bench uly2ring2 4 2 block parallel.sp=4
# The fraction of the ZeRO reduce-scatter's time hidden behind the backward at dp 2.
bench/overlap_bench.sh

# Sequence-parallel generation of a long clip (128 frames of 32x32 = 4096
# tokens, docs/model_parallel.md): activations and peak RSS per rank at sp 1, 2, 4.
long="model.depth=4 model.dim=128 model.heads=4 model.video.frames=128 model.video.height=32 model.video.width=32"
out=build/bench/long; rm -rf "$out"
OMP_NUM_THREADS=1 bin/tessera train configs/train/tiny.yaml $long train.batch=1 train.steps=1 train.warmup=1 \
  train.out="$out/run" >"$out.log" 2>&1 || { echo "long-clip checkpoint failed: $(tail -3 "$out.log")"; exit 1; }
for sp in 2 4; do
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 timeout 600 mpirun --oversubscribe \
    --bind-to none -np $sp bin/tessera generate --ckpt "$out/run/ckpt_1.h5" --prompt "a red circle moves left" \
    --steps 1 --cfg 2 --upscale 1 --sp $sp --out "$out/sp$sp.mp4" >"$out/sp$sp.log" 2>&1 \
    || { echo "sp$sp generation failed: $(tail -3 "$out/sp$sp.log")"; exit 1; }
  echo "long clip (4096 tokens) generated at sp $sp: $(grep -iE "peak RSS|activations" "$out/sp$sp.log" | tr '\n' ' ')"
done
# one rank logs no layout line: its peak RSS from the parent's rusage
OMP_NUM_THREADS=1 /usr/bin/python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print("long clip (4096 tokens) generated at sp 1 (no mpirun): peak RSS %d MiB" % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024))' \
  bin/tessera generate --ckpt "$out/run/ckpt_1.h5" --prompt "a red circle moves left" --steps 1 --cfg 2 --upscale 1 \
  --out "$out/sp1b.mp4"

# Training peak memory per rank of one long clip (4096 tokens) at sequence-parallel
# degree 1, 2, 4 and 8 (Ulysses 4 x ring 2), train.recompute none and block,
# against 1/degree (issue 21's target: within 15%; docs/parallel.md "Training
# memory per rank").
bench/train_mem.sh

# The autoencoder: encode/decode frames/s against its PyTorch reference, peak RSS of 25 vs 1,441 frames.
bench/vae_bench.sh

# Fault injection at scale (issue 14): 50 trainings stopped by SIGTERM, SIGUSR1
# or kill -9 at random moments and resumed; every loss must equal the
# uninterrupted run's (scripts/fault_signals.sh prints runs, failures, data lost).
scripts/fault_signals.sh 50 40 | tail -3
