#!/usr/bin/env bash
# One command for a GPU session (device tool): build the CUDA objects and the
# kernel test there, run it, keep the log. Usage from the repo root:
#   bash tests/cuda/run_on_gpu.sh            (log also copied to $OUT if set)
# Exit status: that of test_cuda_ops (0 = every check passed).
set -uo pipefail
cd "$(dirname "$0")/../.."
log=build/cuda/test_cuda_ops.log
mkdir -p build/cuda
{
  echo "== $(date -u) on $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -2
  command -v nvcc >/dev/null && nvcc --version | tail -1
  gcc --version | head -1
} 2>&1 | tee "$log"
t0=$(date +%s)
# Warnings are errors on the CI machine; a GPU machine's newer gcc must not stop the build.
if ! make -j"$(nproc)" CUDA_WERROR=0 build/cuda/test_cuda_ops >>"$log" 2>&1; then
  echo "BUILD FAILED ($(( $(date +%s) - t0 )) s):"; grep -m20 -i "error" "$log"; tail -20 "$log"
  [ -n "${OUT:-}" ] && cp "$log" "$OUT/"
  exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s" | tee -a "$log"
timeout 400 build/cuda/test_cuda_ops --require-gpu 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
[ -n "${OUT:-}" ] && cp "$log" "$OUT/"
exit "$rc"
