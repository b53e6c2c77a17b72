#!/usr/bin/env bash
# The trainer on the CUDA backend's host code, end to end, on this machine:
# build/cuda/tessera_standin is bin/tessera with the CPU stand-in of the
# gpu_* functions (tests/cuda/mock_gpu.c) in place of the CUDA kernels, so
# `train run.device=cuda` runs every line of the device path — parameters,
# gradients, ZeRO shards and activations in the backend's memory, the batch
# uploaded, the loss downloaded, checkpoints staged through the host — while
# the arithmetic is the CPU backend's. At 1 rank, dp2, tp2 and sp2 the losses,
# gradient norms and the final checkpoint's tensors (params, AdamW moments,
# EMA) must equal the CPU build's bit for bit, and the device checkpoint
# must resume on the CPU (and the other way round) as if never interrupted.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/parallel_train_lib.sh train_standin
S=build/cuda/tessera_standin
[ -x "$S" ] || fail "$S not built (run make)"
same_ckpt() {  # every tensor of two checkpoints equal (attributes differ: run ids, paths)
  $PY - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r") for p in sys.argv[1:3])
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) and n.split("/")[0] in ("params", "optim", "ema") else None)
bad = [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
print(f"{len(names)} tensors, {len(bad)} differ" + (f" (first: {bad[0]})" if bad else ""))
sys.exit(1 if bad or not names else 0)
PY
}
for layout in "1 1 1 0" "2 1 1 2" "1 1 2 2" "1 2 1 2"; do
  read dp sp tp np <<<"$layout"
  par=(parallel.dp=$dp parallel.sp=$sp parallel.tp=$tp)
  name=dp${dp}sp${sp}tp${tp}
  T=bin/tessera train cpu_$name "$np" "${par[@]}"
  T=$S train dev_$name "$np" "${par[@]}" run.device=cuda
  grep -q "device: cuda" $tmp/dev_$name.log || fail "$name: the stand-in run did not use the CUDA backend: $(grep -m3 'device\|error' $tmp/dev_$name.log)"
  [ "$(losses $tmp/cpu_$name/metrics.jsonl)" = "$(losses $tmp/dev_$name/metrics.jsonl)" ] && \
    [ "$(norms $tmp/cpu_$name/metrics.jsonl)" = "$(norms $tmp/dev_$name/metrics.jsonl)" ] || \
    fail "$name: losses or norms differ: cpu $(losses $tmp/cpu_$name/metrics.jsonl) / cuda $(losses $tmp/dev_$name/metrics.jsonl)"
  r=$(same_ckpt $tmp/cpu_$name/ckpt_8.h5 $tmp/dev_$name/ckpt_8.h5) || fail "$name: final checkpoints differ: $r"
  echo "ok  $name: run.device=cuda over the stand-in = cpu: 8 losses and norms, $r"
done
# across devices: the device checkpoint of step 4 resumed on the CPU, and the CPU's on the device
T=bin/tessera train cpu_from_dev 0 train.resume=$tmp/dev_dp1sp1tp1/ckpt_4.h5
T=$S train dev_from_cpu 0 train.resume=$tmp/cpu_dp1sp1tp1/ckpt_4.h5 run.device=cuda
for r in cpu_from_dev dev_from_cpu; do
  c=$(same_ckpt $tmp/cpu_dp1sp1tp1/ckpt_8.h5 $tmp/$r/ckpt_8.h5) || fail "$r: resumed run differs from the uninterrupted one: $c"
  echo "ok  $r: resumed across devices = the uninterrupted run ($c)"
done
# more ranks on a node than GPUs: every rank refuses in one line, exit 2
TSR_MOCK_GPUS=1 timeout 60 mpirun --oversubscribe -np 2 $S train configs/train/tiny.yaml "${small[@]}" \
  parallel.dp=2 run.device=cuda train.out=$tmp/too_few >$tmp/too_few.log 2>&1
rc=$?
[ $rc = 2 ] && grep -q "CUDA device 1 requested, 1 visible" $tmp/too_few.log || \
  fail "2 ranks on 1 GPU: exit $rc, expected 2 with 'CUDA device 1 requested, 1 visible': $(grep -m2 error $tmp/too_few.log)"
echo "ok  2 ranks on a node with 1 GPU: $(grep -m1 'tessera: error' $tmp/too_few.log | cut -c1-150)"
