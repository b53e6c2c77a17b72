// adaLN modulation and gated residual with per-token variant selection.
// Token (b,n) uses variant v = sel ? sel[b*N+n] : 0, whose vectors start at
// shift/scale/gate + (b*2 + v) * mod_stride (D entries each).
// The fast backward runs (b, column block) pairs in parallel and sums the
// per-variant gradients of shift/scale/gate over the tokens in double
// (deterministic, no atomics); din/dy are written in the same pass.
#include <stddef.h>

#include "kernels/ops.h"

static inline size_t mod_off(const uint8_t *sel, int b, int N, int n, int mod_stride) {
  int v = sel ? (sel[(size_t)b * N + n] != 0) : 0;
  return (size_t)(b * 2 + v) * (size_t)mod_stride;
}

void modulate_forward(float *out, const float *in, const float *shift, const float *scale,
                      const uint8_t *sel, int mod_stride, int B, int N, int D) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * N * D > 16384)
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++) {
      const size_t row = ((size_t)b * N + n) * D, o = mod_off(sel, b, N, n, mod_stride);
      const float *x = in + row, *sh = shift + o, *sc = scale + o;
      float *y = out + row;
#pragma omp simd
      for (int d = 0; d < D; d++) y[d] = x[d] * (1.0f + sc[d]) + sh[d];
    }
}

enum { MOD_BLOCK = 64 };

void modulate_backward(float *din, float *dshift, float *dscale, const float *dout, const float *in,
                       const float *scale, const uint8_t *sel, int mod_stride, int B, int N, int D) {
  const int nblk = (D + MOD_BLOCK - 1) / MOD_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * N * D > 16384)
  for (int b = 0; b < B; b++)
    for (int blk = 0; blk < nblk; blk++) {
      const int d0 = blk * MOD_BLOCK, nd = D - d0 < MOD_BLOCK ? D - d0 : MOD_BLOCK;
      double ash[2][MOD_BLOCK] = {{0}}, asc[2][MOD_BLOCK] = {{0}};
      int used[2] = {0, 0};
      for (int n = 0; n < N; n++) {
        const int v = sel ? (sel[(size_t)b * N + n] != 0) : 0;
        const size_t row = ((size_t)b * N + n) * D + d0, o = (size_t)(b * 2 + v) * mod_stride + d0;
        const float *dy = dout + row, *x = in + row;
        used[v] = 1;
        if (din) {
          const float *sc = scale + o;
          float *dx = din + row;
#pragma omp simd
          for (int d = 0; d < nd; d++) dx[d] += dy[d] * (1.0f + sc[d]);
        }
        double *as = ash[v], *ac = asc[v];
#pragma omp simd
        for (int d = 0; d < nd; d++) {
          as[d] += dy[d];
          ac[d] += dy[d] * x[d];
        }
      }
      for (int v = 0; v < 2; v++) {
        if (!used[v]) continue;
        const size_t o = (size_t)(b * 2 + v) * mod_stride + d0;
        if (dshift)
          for (int d = 0; d < nd; d++) dshift[o + d] += (float)ash[v][d];
        if (dscale)
          for (int d = 0; d < nd; d++) dscale[o + d] += (float)asc[v][d];
      }
    }
}

void modulate_forward_ref(float *out, const float *in, const float *shift, const float *scale,
                          const uint8_t *sel, int mod_stride, int B, int N, int D) {
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++) {
      const size_t row = ((size_t)b * N + n) * D, o = mod_off(sel, b, N, n, mod_stride);
      for (int d = 0; d < D; d++)
        out[row + d] = (float)((double)in[row + d] * (1.0 + (double)scale[o + d]) + shift[o + d]);
    }
}

void modulate_backward_ref(float *din, float *dshift, float *dscale, const float *dout, const float *in,
                           const float *scale, const uint8_t *sel, int mod_stride, int B, int N, int D) {
  for (int b = 0; b < B; b++)
    for (int v = 0; v < 2; v++)
      for (int d = 0; d < D; d++) {
        double gs = 0, gc = 0;
        int any = 0;
        for (int n = 0; n < N; n++) {
          if ((sel ? (sel[(size_t)b * N + n] != 0) : 0) != v) continue;
          const size_t i = ((size_t)b * N + n) * D + d, o = (size_t)(b * 2 + v) * mod_stride + d;
          any = 1;
          gs += dout[i];
          gc += (double)dout[i] * in[i];
          if (din) din[i] += (float)((double)dout[i] * (1.0 + (double)scale[o]));
        }
        if (!any) continue;
        const size_t o = (size_t)(b * 2 + v) * mod_stride + d;
        if (dshift) dshift[o] += (float)gs;
        if (dscale) dscale[o] += (float)gc;
      }
}

void gate_residual_forward(float *x, const float *y, const float *gate, const uint8_t *sel,
                           int mod_stride, int B, int N, int D) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * N * D > 16384)
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++) {
      const size_t row = ((size_t)b * N + n) * D;
      float *xr = x + row;
      const float *yr = y + row;
      if (gate) {
        const float *g = gate + mod_off(sel, b, N, n, mod_stride);
#pragma omp simd
        for (int d = 0; d < D; d++) xr[d] += g[d] * yr[d];
      } else {
#pragma omp simd
        for (int d = 0; d < D; d++) xr[d] += yr[d];
      }
    }
}

void gate_residual_backward(float *dy, float *dgate, const float *dx, const float *y, const float *gate,
                            const uint8_t *sel, int mod_stride, int B, int N, int D) {
  if (!gate) {  // plain residual: dy += dx
    if (dy) {
      const int64_t n = (int64_t)B * N * D;
#pragma omp parallel for simd schedule(static) if (n > 16384)
      for (int64_t i = 0; i < n; i++) dy[i] += dx[i];
    }
    return;
  }
  const int nblk = (D + MOD_BLOCK - 1) / MOD_BLOCK;
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * N * D > 16384)
  for (int b = 0; b < B; b++)
    for (int blk = 0; blk < nblk; blk++) {
      const int d0 = blk * MOD_BLOCK, nd = D - d0 < MOD_BLOCK ? D - d0 : MOD_BLOCK;
      double ag[2][MOD_BLOCK] = {{0}};
      int used[2] = {0, 0};
      for (int n = 0; n < N; n++) {
        const int v = sel ? (sel[(size_t)b * N + n] != 0) : 0;
        const size_t row = ((size_t)b * N + n) * D + d0, o = (size_t)(b * 2 + v) * mod_stride + d0;
        const float *g = dx + row, *yr = y + row;
        used[v] = 1;
        if (dy) {
          const float *gt = gate + o;
          float *dyr = dy + row;
#pragma omp simd
          for (int d = 0; d < nd; d++) dyr[d] += g[d] * gt[d];
        }
        double *a = ag[v];
#pragma omp simd
        for (int d = 0; d < nd; d++) a[d] += g[d] * yr[d];
      }
      if (dgate)
        for (int v = 0; v < 2; v++) {
          if (!used[v]) continue;
          const size_t o = (size_t)(b * 2 + v) * mod_stride + d0;
          for (int d = 0; d < nd; d++) dgate[o + d] += (float)ag[v][d];
        }
    }
}

void gate_residual_forward_ref(float *x, const float *y, const float *gate, const uint8_t *sel,
                               int mod_stride, int B, int N, int D) {
  for (int b = 0; b < B; b++)
    for (int n = 0; n < N; n++) {
      const size_t row = ((size_t)b * N + n) * D, o = mod_off(sel, b, N, n, mod_stride);
      for (int d = 0; d < D; d++) x[row + d] = (float)(x[row + d] + (gate ? (double)gate[o + d] : 1.0) * y[row + d]);
    }
}

void gate_residual_backward_ref(float *dy, float *dgate, const float *dx, const float *y, const float *gate,
                                const uint8_t *sel, int mod_stride, int B, int N, int D) {
  for (int b = 0; b < B; b++)
    for (int v = 0; v < 2; v++)
      for (int d = 0; d < D; d++) {
        double gg = 0;
        int any = 0;
        for (int n = 0; n < N; n++) {
          if ((sel ? (sel[(size_t)b * N + n] != 0) : 0) != v) continue;
          const size_t i = ((size_t)b * N + n) * D + d, o = (size_t)(b * 2 + v) * mod_stride + d;
          any = 1;
          gg += (double)dx[i] * y[i];
          if (dy) dy[i] += gate ? (float)((double)dx[i] * gate[o]) : dx[i];
        }
        if (any && gate && dgate) dgate[(size_t)(b * 2 + v) * mod_stride + d] += (float)gg;
      }
}
