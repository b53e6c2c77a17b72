// The pretrained text encoders' ops (ops.h "pretrained text encoders") on
// device pointers, the math of kernels/cpu/layernorm_eps.c and gelu_erf.c:
// LayerNorm with the caller's eps (two passes, biased variance, affine) and
// the exact GELU 0.5 x (1 + erf(x / sqrt 2)). One warp per LayerNorm row;
// out may equal in (each row is read whole before it is written).
#include "kernels/cuda/common.cuh"

enum { LNE_WARPS = 4 };

__global__ void layernorm_eps_kernel(float *out, const float *in, const float *w, const float *b, int M, int C,
                                     float eps) {
  const int64_t row = (int64_t)blockIdx.x * LNE_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= M) return;
  const float *x = in + row * C;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += x[c];
  const float mu = warp_sum(s) / (float)C;
  float v = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = x[c] - mu;
    v += d * d;
  }
  const float r = 1.0f / sqrtf(warp_sum(v) / (float)C + eps);
  __syncwarp();  // every lane has read the row before any lane overwrites it (out == in)
  float *y = out + row * C;
  for (int c = lane; c < C; c += 32) y[c] = (x[c] - mu) * r * w[c] + b[c];
}
extern "C" void gpu_layernorm_eps_forward(const GpuCtx *cx, float *out, const float *in, const float *w,
                                          const float *b, int M, int C, float eps) {
  if (M <= 0) return;
  layernorm_eps_kernel<<<(M + LNE_WARPS - 1) / LNE_WARPS, LNE_WARPS * 32, 0, stream_of(cx)>>>(out, in, w, b, M, C,
                                                                                                eps);
  KERNEL_CHECK();
}

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
