// Optimizer glue of ops.h ("optimizer glue") on device pointers: the squared
// norm behind gradient clipping and the EMA of the weights, the math of
// kernels/cpu/reduce.c. The sum runs in one block in a fixed order (each
// thread a strided double sum, then a tree over the threads): the same bits
// every run, the result left in device memory (*out) without a sync.
#include "kernels/cuda/common.cuh"

enum { SUMSQ_THREADS = 1024 };

__global__ void sum_squares_kernel(double *out, const float *x, int64_t n) {
  __shared__ double part[SUMSQ_THREADS];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += SUMSQ_THREADS) s += (double)x[i] * x[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int half = SUMSQ_THREADS / 2; half > 0; half /= 2) {
    if ((int)threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = part[0];
}
extern "C" void gpu_sum_squares(const GpuCtx *cx, double *out, const float *x, int64_t n) {
  sum_squares_kernel<<<1, SUMSQ_THREADS, 0, stream_of(cx)>>>(out, x, n);
  KERNEL_CHECK();
}

__global__ void ema_update_kernel(float *ema, const float *w, int64_t n, float decay) {
  GRID_STRIDE(i, n) ema[i] = decay * ema[i] + (1.0f - decay) * w[i];
}
extern "C" void gpu_ema_update(const GpuCtx *cx, float *ema, const float *w, int64_t n, float decay) {
  if (n <= 0) return;
  ema_update_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(ema, w, n, decay);
  KERNEL_CHECK();
}
