#!/usr/bin/env bash
# make bench: tessera against the PyTorch reference (tests/ref/model.py) on the
# same machine in the same run. Prints both JSON lines and the ratios;
# writes build/bench/<model>.json. Timings are reported, never asserted.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
mkdir -p build/bench
for model in ${BENCH_MODELS:-tiny}; do
  cfg=configs/model/$model.yaml
  ours=$(bin/tessera bench step --config "$cfg" --batch "${BENCH_BATCH:-4}")
  peer=$(/usr/bin/python3 bench/torch_step.py --model-yaml "$cfg" --batch "${BENCH_BATCH:-4}" --threads "$threads")
  echo "$ours"
  echo "$peer"
  printf '%s\n%s\n' "$ours" "$peer" > "build/bench/$model.json"
  /usr/bin/python3 - "$ours" "$peer" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"{a['model']} batch {a['batch']} on {a['gemm']}, {a['gemm_peak_gflops']:.0f} GFLOP/s GEMM peak, MFU {100*a['mfu']:.1f}%")
print(f"  train step   tessera {a['train_step_ms']:8.1f} ms   pytorch {b['train_step_ms']:8.1f} ms   speed-up x{b['train_step_ms']/a['train_step_ms']:.2f}")
print(f"  denoise step tessera {a['denoise_step_ms']:8.1f} ms   pytorch {b['denoise_step_ms']:8.1f} ms   speed-up x{b['denoise_step_ms']/a['denoise_step_ms']:.2f}")
print(f"  peak RSS     tessera {a['peak_rss_mb']:8.0f} MB   pytorch {b['peak_rss_mb']:8.0f} MB   ratio {a['peak_rss_mb']/b['peak_rss_mb']:.2f}")
PY
done
