// LayerNorm over the last dim C of in[M,C]; w, b [C] optional (NULL: no affine).
//   mean = sum x / C;  var = sum (x - mean)^2 / C  (two-pass, biased);
//   rstd = 1/sqrt(var + eps);  xhat = (x - mean) rstd;  out = xhat w + b
// Backward with g = dout w (g = dout without affine):
//   din += rstd (g - mean(g) - xhat mean(g xhat));  dw += sum_m dout xhat;  db += sum_m dout
// The fast version runs rows in parallel for out/din, and column blocks in
// parallel for dw/db (a deterministic reduction over rows, no atomics).
#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"

void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int M, int C) {
#pragma omp parallel for schedule(static) if ((int64_t)M * C > 8192)
  for (int m = 0; m < M; m++) {
    const float *x = in + (size_t)m * C;
    float *y = out + (size_t)m * C;
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int c = 0; c < C; c++) s += x[c];
    const float mu = s / (float)C;
    float v = 0.0f;
#pragma omp simd reduction(+ : v)
    for (int c = 0; c < C; c++) {
      float d = x[c] - mu;
      v += d * d;
    }
    const float r = 1.0f / sqrtf(v / (float)C + TSR_NORM_EPS);
    if (mean) mean[m] = mu;
    if (rstd) rstd[m] = r;
    if (w && b) {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * r * w[c] + b[c];
    } else if (w) {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * r * w[c];
    } else if (b) {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * r + b[c];
    } else {
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * r;
    }
  }
}

enum { LN_BLOCK = 64 };

void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int M, int C) {
  if (din) {
#pragma omp parallel for schedule(static) if ((int64_t)M * C > 8192)
    for (int m = 0; m < M; m++) {
      const float *x = in + (size_t)m * C, *dy = dout + (size_t)m * C;
      float *dx = din + (size_t)m * C;
      const float mu = mean[m], r = rstd[m];
      float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
      for (int c = 0; c < C; c++) {
        float g = w ? dy[c] * w[c] : dy[c];
        sg += g;
        sgx += g * (x[c] - mu) * r;
      }
      const float a = sg / (float)C, bb = sgx / (float)C;
#pragma omp simd
      for (int c = 0; c < C; c++) {
        float g = w ? dy[c] * w[c] : dy[c];
        dx[c] += r * (g - a - (x[c] - mu) * r * bb);
      }
    }
  }
  if (dw || db) {
    int nblk = (C + LN_BLOCK - 1) / LN_BLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)M * C > 8192 && nblk > 1)
    for (int blk = 0; blk < nblk; blk++) {
      int c0 = blk * LN_BLOCK, nc = C - c0 < LN_BLOCK ? C - c0 : LN_BLOCK;
      double aw[LN_BLOCK] = {0}, ab[LN_BLOCK] = {0};
      for (int m = 0; m < M; m++) {
        const float *x = in + (size_t)m * C + c0, *dy = dout + (size_t)m * C + c0;
        const float mu = mean[m], r = rstd[m];
#pragma omp simd
        for (int c = 0; c < nc; c++) {
          aw[c] += dy[c] * ((x[c] - mu) * r);
          ab[c] += dy[c];
        }
      }
      if (dw)
        for (int c = 0; c < nc; c++) dw[c0 + c] += (float)aw[c];
      if (db)
        for (int c = 0; c < nc; c++) db[c0 + c] += (float)ab[c];
    }
  }
}

void layernorm_forward_ref(float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int M, int C) {
  for (int m = 0; m < M; m++) {
    const float *x = in + (size_t)m * C;
    double s = 0;
    for (int c = 0; c < C; c++) s += x[c];
    double mu = s / C, v = 0;
    for (int c = 0; c < C; c++) v += (x[c] - mu) * (x[c] - mu);
    double r = 1.0 / sqrt(v / C + (double)TSR_NORM_EPS);
    if (mean) mean[m] = (float)mu;
    if (rstd) rstd[m] = (float)r;
    for (int c = 0; c < C; c++) {
      double y = (x[c] - mu) * r;
      if (w) y *= w[c];
      if (b) y += b[c];
      out[(size_t)m * C + c] = (float)y;
    }
  }
}

void layernorm_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int M, int C) {
  for (int m = 0; m < M; m++) {
    const float *x = in + (size_t)m * C, *dy = dout + (size_t)m * C;
    double mu = mean[m], r = rstd[m], sg = 0, sgx = 0;
    for (int c = 0; c < C; c++) {
      double g = (double)dy[c] * (w ? w[c] : 1.0);
      sg += g;
      sgx += g * (x[c] - mu) * r;
    }
    if (din)
      for (int c = 0; c < C; c++) {
        double xhat = (x[c] - mu) * r;
        double g = (double)dy[c] * (w ? w[c] : 1.0);
        din[(size_t)m * C + c] += (float)(r * (g - sg / C - xhat * sgx / C));
      }
  }
  for (int c = 0; c < C; c++) {
    double aw = 0, ab = 0;
    for (int m = 0; m < M; m++) {
      double dy = dout[(size_t)m * C + c];
      aw += dy * (in[(size_t)m * C + c] - (double)mean[m]) * rstd[m];
      ab += dy;
    }
    if (dw) dw[c] += (float)aw;
    if (db) db[c] += (float)ab;
  }
}
