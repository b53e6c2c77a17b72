// GELU (tanh approximation) and SiLU, elementwise, as the fast CPU versions
// in kernels/cpu/activation.c (same formulas, float):
//   gelu(x) = 0.5 x (1 + tanh u) = x·σ(2u),  u = sqrt(2/pi)(x + 0.044715 x³)
//   gelu'(x) = σ(2u) + 2x·σ(2u)(1 − σ(2u))·u'(x)
//   silu(x) = x σ(x),  silu'(x) = σ(x)(1 + x(1 − σ(x)))
// with σ(z) = 1/(1+e), e = exp(−z), and 1 − σ formed as e·σ: no cancellation
// where tanh u is near ±1. The exp argument is clamped to [−87, 88] (as the
// CPU's) so that e stays finite and e·σ never becomes inf·0.
#include "kernels/cuda/common.cuh"

#define GELU_K0 0.7978845608028654f  // sqrt(2/pi)
#define GELU_K1 0.044715f

__device__ __forceinline__ float exp_clamped(float z) { return expf(fminf(fmaxf(z, -87.0f), 88.0f)); }

__global__ void gelu_fwd_kernel(float *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    const float u = GELU_K0 * (x + GELU_K1 * x * x * x);
    out[i] = x / (1.0f + exp_clamped(-2.0f * u));
  }
}
__global__ void gelu_bwd_kernel(float *din, const float *dout, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    const float u = GELU_K0 * (x + GELU_K1 * x * x * x);
    const float e = exp_clamped(-2.0f * u), s = 1.0f / (1.0f + e), s1 = e * s;
    const float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
    din[i] += dout[i] * (s + 2.0f * x * s * s1 * du);
  }
}
__global__ void silu_fwd_kernel(float *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    out[i] = x / (1.0f + exp_clamped(-x));
  }
}
__global__ void silu_bwd_kernel(float *din, const float *dout, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i], e = exp_clamped(-x), s = 1.0f / (1.0f + e);
    din[i] += dout[i] * s * (1.0f + x * (e * s));
  }
}

#define LAUNCH_ELEMENTWISE(kernel, n, ...)                                            \
  do {                                                                                \
    if ((n) <= 0) return;                                                             \
    kernel<<<blocks_for((n), 256), 256, 0, stream_of(cx)>>>(__VA_ARGS__, (n));        \
    KERNEL_CHECK();                                                                   \
  } while (0)

extern "C" void gpu_gelu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) {
  LAUNCH_ELEMENTWISE(gelu_fwd_kernel, n, out, in);
}
extern "C" void gpu_gelu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n) {
  LAUNCH_ELEMENTWISE(gelu_bwd_kernel, n, din, dout, in);
}
extern "C" void gpu_silu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) {
  LAUNCH_ELEMENTWISE(silu_fwd_kernel, n, out, in);
}
extern "C" void gpu_silu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n) {
  LAUNCH_ELEMENTWISE(silu_bwd_kernel, n, din, dout, in);
}
