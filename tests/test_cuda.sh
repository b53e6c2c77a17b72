#!/usr/bin/env bash
# The CUDA backend (src/kernels/backend_cuda.c, src/kernels/cuda, docs/cuda.md),
# in four layers:
#  0. everywhere: the GPU programs' checks against a CPU stand-in of the CUDA
#     ops (tests/cuda/mock_gpu.c) must pass: the kernel test through the
#     backend table on the CPU backend and on backend_cuda in fp32 and bf16
#     mode (build/cuda/test_cuda_ops_mock), and the whole model plus 200
#     training steps on backend_cuda against the CPU backend
#     (build/cuda/test_model_backends_mock): the checkers are right before a
#     GPU is spent on them. (tests/test_cuda_standin.sh: the same model test
#     in the full build, also at tp2 and sp2.)
#  1. without nvcc: nothing CUDA is built; SKIPPED with the reason, exit 0.
#  2. with nvcc (this part can fail on any machine): every CUDA object carries
#     machine code for sm_90 and sm_80; the GPU programs link; bin/tessera
#     links the CUDA backend and cuBLAS, and still starts here (a machine
#     without an NVIDIA driver: libcudart loads without one).
#  3. the kernels against the CPU references (build/cuda/test_cuda_ops): the
#     CPU backend's checks always; the CUDA backend's only where a GPU is
#     usable, otherwise the program's own reason, "SKIPPED (cuda): <why>".
#     It must never crash here.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # small problems: threads only wait for each other
fail() { echo "FAIL: $*"; exit 1; }
# 0. the checker against the CPU stand-in
M=build/cuda/test_cuda_ops_mock
[ -x "$M" ] || fail "$M not built (run make)"
mock_log=build/cuda/test_cuda_ops_mock.log
timeout 300 "$M" --no-timings >"$mock_log" 2>&1 || { grep -v '^ok' "$mock_log" | tail -20; fail "$M failed (log: $mock_log)"; }
echo "ok: kernel test vs the CPU stand-in: $(tail -1 "$mock_log" | sed 's/^test_cuda_ops: //')"
M=build/cuda/test_model_backends_mock
[ -x "$M" ] || fail "$M not built (run make)"
model_log=build/cuda/test_model_backends_mock.log
timeout 300 "$M" --steps 200 >"$model_log" 2>&1 || { tail -20 "$model_log"; fail "$M failed (log: $model_log)"; }
grep "^  " "$model_log"
echo "ok: model on backend_cuda over the CPU stand-in: $(tail -1 "$model_log" | sed 's/^test_model_backends: //')"

CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
NVCC=$(command -v nvcc 2>/dev/null || { [ -x "$CUDA_HOME/bin/nvcc" ] && echo "$CUDA_HOME/bin/nvcc"; })
if [ -z "$NVCC" ]; then
  echo "SKIPPED: nvcc not found (no CUDA toolkit at $CUDA_HOME): the CPU build has no CUDA code"
  exit 0
fi

# 2. architectures of every object (the Makefile builds them in `make`)
shopt -s nullglob
srcs=(src/kernels/cuda/*.cu)
[ ${#srcs[@]} -gt 0 ] || fail "no src/kernels/cuda/*.cu"
objs=()
for s in "${srcs[@]}"; do
  o=build/${s#src/}; o=${o%.cu}.cu.o
  [ -f "$o" ] || fail "$o not built (run make)"
  [ "$o" -nt "$s" ] || fail "$o older than $s (run make)"
  objs+=("$o")
done
listing=$(python3 tests/cuda/fatbin_archs.py "${objs[@]}") || fail "cannot read the fatbins: $listing"
echo "$listing" | sed 's/^/  /'
while read -r line; do
  for arch in sm_90 sm_80; do
    grep -qw "$arch" <<<"$line" || fail "no $arch code in ${line%%:*}"
  done
done <<<"$listing"
echo "ok: ${#objs[@]} CUDA objects carry sm_90 and sm_80 machine code"

T=build/cuda/test_cuda_ops
for p in "$T" build/cuda/test_model_backends build/cuda/bench_model_gpu; do
  [ -x "$p" ] || fail "$p not built (run make)"
  libs=$(ldd "$p")
  missing=$(grep "not found" <<<"$libs") && fail "$p: unresolved libraries: $missing"
  grep -q libcublasLt <<<"$libs" || fail "$p does not link cuBLASLt"
done
echo "ok: the GPU programs link (cudart, cuBLAS, cuBLASLt)"
# bin/tessera: the CUDA backend is in it (run.device: cuda is a run-time choice) ...
dyn=$(readelf -d bin/tessera) syms=$(nm bin/tessera)  # whole outputs: grep -q would cut a pipe short
grep -q 'libcublas\.' <<<"$dyn" || fail "bin/tessera does not link cuBLAS (nvcc exists: it must)"
for f in gpu_init gpu_device_count backend_cuda_open; do
  grep -q " T $f\$" <<<"$syms" || fail "bin/tessera lacks $f (the CUDA backend is not linked)"
done
# ... and it still starts without a GPU (here: no driver, or no device)
help=$(timeout 60 bin/tessera --help 2>&1) || fail "bin/tessera --help failed with the CUDA libraries linked: $help"
echo "ok: bin/tessera links the CUDA backend (cuBLAS, cuBLASLt, cudart) and starts here"

# 3. every op on the CPU backend, and on the CUDA backend where a GPU is usable
log=build/cuda/test_cuda_ops.log
timeout 600 "$T" --no-timings >"$log" 2>&1; rc=$?
[ $rc = 0 ] || { grep -v '^ok' "$log" | tail -20; fail "$T exit $rc (log: $log)"; }
grep '^SKIPPED' "$log" || true
echo "ok: $(tail -1 "$log" | sed 's/^test_cuda_ops: //')"
