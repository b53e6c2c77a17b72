#!/usr/bin/env bash
# The CUDA backend (src/kernels/cuda, docs/cuda.md), in four layers:
#  0. everywhere: the kernel test itself against a CPU stand-in of the CUDA
#     ops (build/cuda/test_cuda_ops_mock, tests/cuda/mock_gpu.c) must pass
#     every check: the checker is right before a GPU is spent on it.
#  1. without nvcc: nothing CUDA is built; SKIPPED with the reason, exit 0.
#  2. with nvcc (this part can fail on any machine): every CUDA object carries
#     machine code for sm_90 and sm_80; the kernel test program is built and
#     links; bin/tessera does not link cuBLAS (CPU users need no GPU libraries).
#  3. the kernels against the CPU references (build/cuda/test_cuda_ops): only
#     where a GPU is usable; otherwise the program's own reason,
#     "SKIPPED: <why>", and exit 0. It must never crash here.
set -uo pipefail
cd "$(dirname "$0")/.."
fail() { echo "FAIL: $*"; exit 1; }
# 0. the checker against the CPU stand-in
M=build/cuda/test_cuda_ops_mock
[ -x "$M" ] || fail "$M not built (run make)"
mock_log=build/cuda/test_cuda_ops_mock.log
timeout 300 "$M" --no-timings >"$mock_log" 2>&1 || { grep -v '^ok' "$mock_log" | tail -20; fail "$M failed (log: $mock_log)"; }
echo "ok: kernel test vs the CPU stand-in: $(tail -1 "$mock_log" | sed 's/^test_cuda_ops: //')"

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
[ -x "$T" ] || fail "$T not built (run make)"
missing=$(ldd "$T" | grep "not found") && fail "$T: unresolved libraries: $missing"
ldd "$T" | grep -q libcublasLt || fail "$T does not link cuBLASLt"
if readelf -d bin/tessera 2>/dev/null | grep -q 'libcublas'; then fail "bin/tessera links cuBLAS"; fi
echo "ok: $T links (cudart, cuBLAS, cuBLASLt); bin/tessera does not link cuBLAS"

# 3. kernels vs CPU references, or the reason there is no GPU
probe=$(timeout 60 "$T" --probe 2>&1); rc=$?
case $rc in
  3) echo "$probe"; exit 0 ;;  # "SKIPPED: <why>"
  0) echo "$probe" ;;
  *) fail "$T --probe exit $rc (crash?): $probe" ;;
esac
timeout 600 "$T" --no-timings; rc=$?
[ $rc = 0 ] || fail "test_cuda_ops exit $rc"
