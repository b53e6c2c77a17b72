#!/usr/bin/env bash
# The autoencoder through the CUDA backend's table (backend_cuda over the CPU
# stand-in of the gpu_* functions, tests/cuda/test_vae_backends.c) equals the
# CPU backend bit for bit: 3 AdamW steps, the parameters, encode and decode.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1
T=build/cuda/test_vae_standin
[ -x "$T" ] || { echo "SKIPPED: $T not built (no nvcc: the CUDA backend is not in this build)"; exit 0; }
timeout 120 "$T" || { echo "FAIL: $T"; exit 1; }
