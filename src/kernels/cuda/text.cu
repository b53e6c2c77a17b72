// The exact GELU of the pretrained text encoders (ops.h "pretrained text
// encoders"), 0.5 x (1 + erf(x / sqrt 2)), the math of kernels/cpu/gelu_erf.c.
// (Their LayerNorm with its own eps is layernorm.cu's kernel.)
#include "kernels/cuda/common.cuh"

__global__ void gelu_erf_kernel(float *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  }
}
extern "C" void gpu_gelu_erf_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) {
  if (n <= 0) return;
  gelu_erf_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(out, in, n);
  KERNEL_CHECK();
}
