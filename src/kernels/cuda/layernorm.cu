// LayerNorm over the last dim, alone (affine w, b optional) or fused with the
// adaLN modulation (no affine; out = x̂·(1+scale)+shift with the token's
// variant), exactly the math of kernels/cpu/layernorm.c and modulate.c:
//   mean = Σx/C; var = Σ(x-mean)²/C (two-pass, biased); rstd = 1/sqrt(var+eps)
//   backward with g = dout·w (or dout·(1+scale), or dout):
//   din += rstd·(g − mean(g) − x̂·mean(g·x̂))
// One warp per row (rows of up to a few thousand floats stay in L1 between
// the passes); parameter gradients through the deterministic colreduce.
#include "kernels/cuda/common.cuh"

#define TSR_NORM_EPS 1e-6f  // as kernels/ops.h
enum { LN_WARPS = 4 };

// Per-row modulation vectors of token `row` (B*N rows, N per sample).
struct RowMod {
  const float *shift, *scale;
  const uint8_t *sel;
  int mod_stride, N;
  __device__ int64_t off(int64_t row) const {
    const int64_t b = row / N;
    return (b * 2 + variant_of(sel, row)) * (int64_t)mod_stride;
  }
};

// out[M,C]; mean, rstd [M] (may be NULL); in[M,C]; w, b [C] or NULL;
// mod.scale != NULL: modulate instead of the affine.
__global__ void ln_forward_kernel(float *out, float *mean, float *rstd, const float *in, const float *w,
                                  const float *b, RowMod mod, int M, int C, float eps) {
  const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
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
  if (lane == 0) {
    if (mean) mean[row] = mu;
    if (rstd) rstd[row] = r;
  }
  float *y = out + row * C;
  if (mod.scale) {
    const int64_t o = mod.off(row);
    const float *sh = mod.shift + o, *sc = mod.scale + o;
    for (int c = lane; c < C; c += 32) y[c] = (x[c] - mu) * r * (1.0f + sc[c]) + sh[c];
  } else {
    for (int c = lane; c < C; c += 32) {
      float t = (x[c] - mu) * r;
      if (w) t *= w[c];
      if (b) t += b[c];
      y[c] = t;
    }
  }
}

// din[M,C] += rstd (g - mean(g) - x̂ mean(g x̂)), g = dout·w | dout·(1+scale) | dout
__global__ void ln_backward_din_kernel(float *din, const float *dout, const float *in, const float *w, RowMod mod,
                                       const float *mean, const float *rstd, int M, int C) {
  const int64_t row = (int64_t)blockIdx.x * LN_WARPS + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= M) return;
  const float *x = in + row * C, *dy = dout + row * C;
  const float mu = mean[row], r = rstd[row];
  const float *sc = mod.scale ? mod.scale + mod.off(row) : NULL;
  float sg = 0.0f, sgx = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float g = sc ? dy[c] * (1.0f + sc[c]) : (w ? dy[c] * w[c] : dy[c]);
    sg += g;
    sgx += g * (x[c] - mu) * r;
  }
  const float a = warp_sum(sg) / (float)C, bb = warp_sum(sgx) / (float)C;
  float *dx = din + row * C;
  for (int c = lane; c < C; c += 32) {
    const float g = sc ? dy[c] * (1.0f + sc[c]) : (w ? dy[c] * w[c] : dy[c]);
    dx[c] += r * (g - a - (x[c] - mu) * r * bb);
  }
}

// dw[c] += Σ dout·x̂;  db[c] += Σ dout
struct LnAffineGrad {
  const float *dout, *in, *mean, *rstd;
  float *dw, *db;
  int C;
  __device__ void load(int64_t r, int c, double q[2]) const {
    const float dy = dout[r * C + c];
    q[0] = (double)dy * ((in[r * C + c] - mean[r]) * rstd[r]);
    q[1] = dy;
  }
  __device__ void store(int, int, int c, const double q[2]) const {
    if (dw) dw[c] += (float)q[0];
    if (db) db[c] += (float)q[1];
  }
};

// dshift[(b,v)] += Σ dout;  dscale[(b,v)] += Σ dout·x̂   (x̂ = in when mean is NULL: plain modulate)
struct ModGrad {
  const float *dout, *in, *mean, *rstd;
  float *dshift, *dscale;
  int mod_stride, D;
  __device__ void load(int64_t r, int c, double q[2]) const {
    const float dy = dout[r * D + c];
    const float x = mean ? (in[r * D + c] - mean[r]) * rstd[r] : in[r * D + c];
    q[0] = dy;
    q[1] = (double)dy * x;
  }
  __device__ void store(int b, int v, int c, const double q[2]) const {
    const int64_t o = ((int64_t)b * 2 + v) * mod_stride + c;
    if (dshift) dshift[o] += (float)q[0];
    if (dscale) dscale[o] += (float)q[1];
  }
};

static unsigned ln_blocks(int M) { return (unsigned)((M + LN_WARPS - 1) / LN_WARPS); }

extern "C" void gpu_layernorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                                      const float *w, const float *b, int M, int C) {
  if (M <= 0) return;
  RowMod none = {NULL, NULL, NULL, 0, 1};
  ln_forward_kernel<<<ln_blocks(M), LN_WARPS * 32, 0, stream_of(cx)>>>(out, mean, rstd, in, w, b, none, M, C,
                                                                       TSR_NORM_EPS);
  KERNEL_CHECK();
}

extern "C" void gpu_layernorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                                       const float *in, const float *w, const float *mean, const float *rstd, int M,
                                       int C) {
  if (M <= 0) return;
  if (din) {
    RowMod none = {NULL, NULL, NULL, 0, 1};
    ln_backward_din_kernel<<<ln_blocks(M), LN_WARPS * 32, 0, stream_of(cx)>>>(din, dout, in, w, none, mean, rstd,
                                                                              M, C);
    KERNEL_CHECK();
  }
  if (dw || db) colreduce<LnAffineGrad, 2>(cx, LnAffineGrad{dout, in, mean, rstd, dw, db, C}, NULL, 1, M, C);
}

extern "C" void gpu_ln_modulate_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                                        const float *shift, const float *scale, const uint8_t *sel, int mod_stride,
                                        int B, int N, int D) {
  const int M = B * N;
  if (M <= 0) return;
  RowMod mod = {shift, scale, sel, mod_stride, N};
  ln_forward_kernel<<<ln_blocks(M), LN_WARPS * 32, 0, stream_of(cx)>>>(out, mean, rstd, in, NULL, NULL, mod, M, D,
                                                                       TSR_NORM_EPS);
  KERNEL_CHECK();
}

extern "C" void gpu_ln_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale,
                                         const float *dout, const float *in, const float *scale, const float *mean,
                                         const float *rstd, const uint8_t *sel, int mod_stride, int B, int N, int D) {
  const int M = B * N;
  if (M <= 0) return;
  if (din) {
    RowMod mod = {NULL, scale, sel, mod_stride, N};
    ln_backward_din_kernel<<<ln_blocks(M), LN_WARPS * 32, 0, stream_of(cx)>>>(din, dout, in, NULL, mod, mean, rstd,
                                                                              M, D);
    KERNEL_CHECK();
  }
  if (dshift || dscale)
    colreduce<ModGrad, 2>(cx, ModGrad{dout, in, mean, rstd, dshift, dscale, mod_stride, D}, sel, B, N, D);
}

// The pretrained text encoders' LayerNorm (ops.h): the caller's eps, affine,
// nothing saved. out may equal in: each lane reads x[c] before writing y[c].
extern "C" void gpu_layernorm_eps_forward(const GpuCtx *cx, float *out, const float *in, const float *w,
                                          const float *b, int M, int C, float eps) {
  if (M <= 0) return;
  RowMod none = {NULL, NULL, NULL, 0, 1};
  ln_forward_kernel<<<ln_blocks(M), LN_WARPS * 32, 0, stream_of(cx)>>>(out, NULL, NULL, in, w, b, none, M, C, eps);
  KERNEL_CHECK();
}
