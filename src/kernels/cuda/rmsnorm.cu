// Per-head RMSNorm (QK-norm), kernels/cpu/rmsnorm.c on the GPU.
// Element (m,h,c) of in is in[m*ld_in + h*C + c]; out, din, dout have their
// own strides; memory between head slices is never touched.
//   rstd = 1/sqrt(mean_c x² + eps);  out = x·rstd·w
//   din += rstd·(g − x̂·mean_c(g·x̂)), g = dout·w;  dw += Σ_{m,h} dout·x̂
// One warp per (m,h) row of C values (C = head dim, 64-128 typically).
#include "kernels/cuda/common.cuh"

#define TSR_NORM_EPS 1e-6f  // as kernels/ops.h
enum { RMS_WARPS = 4 };

// out (m,h,:) = in (m,h,:)·rstd·w;  rstd[M*H]
__global__ void rms_fwd_kernel(float *out, int ld_out, float *rstd, const float *in, int ld_in, const float *w,
                               int64_t R, int H, int C) {
  const int64_t row = (int64_t)blockIdx.x * RMS_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= R) return;
  const int64_t m = row / H, h = row % H;
  const float *x = in + m * ld_in + h * C;
  float ss = 0.0f;
  for (int c = lane; c < C; c += 32) ss += x[c] * x[c];
  const float r = 1.0f / sqrtf(warp_sum(ss) / (float)C + TSR_NORM_EPS);
  if (rstd && lane == 0) rstd[row] = r;
  float *y = out + m * ld_out + h * C;
  for (int c = lane; c < C; c += 32) y[c] = x[c] * r * w[c];
}

__global__ void rms_bwd_din_kernel(float *din, int ld_din, const float *dout, int ld_dout, const float *in, int ld_in,
                                   const float *w, const float *rstd, int64_t R, int H, int C) {
  const int64_t row = (int64_t)blockIdx.x * RMS_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= R) return;
  const int64_t m = row / H, h = row % H;
  const float *x = in + m * ld_in + h * C, *dy = dout + m * ld_dout + h * C;
  const float r = rstd[row];
  float sgx = 0.0f;
  for (int c = lane; c < C; c += 32) sgx += dy[c] * w[c] * x[c] * r;
  const float a = warp_sum(sgx) / (float)C;
  float *dx = din + m * ld_din + h * C;
  for (int c = lane; c < C; c += 32) dx[c] += r * (dy[c] * w[c] - x[c] * r * a);
}

// dw[c] += Σ over rows (m,h) of dout·x·rstd
struct RmsWeightGrad {
  const float *dout, *in, *rstd;
  float *dw;
  int ld_dout, ld_in, H, C;
  __device__ void load(int64_t row, int c, double q[1]) const {
    const int64_t m = row / H, h = row % H;
    q[0] = (double)dout[m * ld_dout + h * C + c] * (in[m * ld_in + h * C + c] * rstd[row]);
  }
  __device__ void store(int, int, int c, const double q[1]) const { dw[c] += (float)q[0]; }
};

extern "C" void gpu_rmsnorm_forward(const GpuCtx *cx, float *out, int ld_out, float *rstd, const float *in,
                                    int ld_in, const float *w, int M, int H, int C) {
  const int64_t R = (int64_t)M * H;
  if (R <= 0) return;
  rms_fwd_kernel<<<(unsigned)((R + RMS_WARPS - 1) / RMS_WARPS), RMS_WARPS * 32, 0, stream_of(cx)>>>(
      out, ld_out, rstd, in, ld_in, w, R, H, C);
  KERNEL_CHECK();
}

extern "C" void gpu_rmsnorm_backward(const GpuCtx *cx, float *din, int ld_din, float *dw, const float *dout,
                                     int ld_dout, const float *in, int ld_in, const float *w, const float *rstd,
                                     int M, int H, int C) {
  const int64_t R = (int64_t)M * H;
  if (R <= 0) return;
  if (din) {
    rms_bwd_din_kernel<<<(unsigned)((R + RMS_WARPS - 1) / RMS_WARPS), RMS_WARPS * 32, 0, stream_of(cx)>>>(
        din, ld_din, dout, ld_dout, in, ld_in, w, rstd, R, H, C);
    KERNEL_CHECK();
  }
  if (dw) {
    TSR_CUDA_ASSERT(R <= INT32_MAX, "rmsnorm: %lld rows", (long long)R);
    colreduce<RmsWeightGrad, 1>(cx, RmsWeightGrad{dout, in, rstd, dw, ld_dout, ld_in, H, C}, NULL, 1, (int)R, C);
  }
}
