// GELU (tanh approximation) and SiLU, elementwise, the formulas of
// kernels/cpu/activation.c in float:
//   gelu(x) = 0.5 x (1 + tanh u), u = sqrt(2/pi)(x + 0.044715 x³)
//   gelu'(x) = 0.5(1 + t) + 0.5 x (1 − t²) sqrt(2/pi)(1 + 3·0.044715 x²)
//   silu(x) = x σ(x),  silu'(x) = σ(x)(1 + x(1 − σ(x)))
#include "kernels/cuda/common.cuh"

#define GELU_K0 0.7978845608028654f  // sqrt(2/pi)
#define GELU_K1 0.044715f

__global__ void gelu_fwd_kernel(float *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    out[i] = 0.5f * x * (1.0f + tanhf(GELU_K0 * (x + GELU_K1 * x * x * x)));
  }
}
__global__ void gelu_bwd_kernel(float *din, const float *dout, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    const float t = tanhf(GELU_K0 * (x + GELU_K1 * x * x * x));
    const float d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
    din[i] += dout[i] * d;
  }
}
__global__ void silu_fwd_kernel(float *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i];
    out[i] = x / (1.0f + expf(-x));
  }
}
__global__ void silu_bwd_kernel(float *din, const float *dout, const float *in, int64_t n) {
  GRID_STRIDE(i, n) {
    const float x = in[i], e = expf(-x), s = 1.0f / (1.0f + e);
    din[i] += dout[i] * s * (1.0f + x * (e * s));  // 1 − s formed as e·s (no cancellation)
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
