// Per-head RMSNorm (QK-norm). Element (m,h,c) of in is in[m*ld_in + h*C + c].
//   rstd = 1/sqrt(mean_c x^2 + eps);  xhat = x rstd;  out = xhat w
// Backward with g = dout w:
//   din += rstd (g - xhat mean_c(g xhat));  dw += sum_{m,h} dout xhat
// The fast version splits the M*H rows into a fixed number of chunks (so the
// dw reduction is deterministic whatever the thread count), each chunk
// keeping a double partial of dw.
#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"

void rmsnorm_forward(float *out, int ld_out, float *rstd, const float *in, int ld_in,
                     const float *w, int M, int H, int C) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)M * H * C > 8192)
  for (int m = 0; m < M; m++)
    for (int h = 0; h < H; h++) {
      const float *x = in + (size_t)m * ld_in + (size_t)h * C;
      float *y = out + (size_t)m * ld_out + (size_t)h * C;
      float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
      for (int c = 0; c < C; c++) ss += x[c] * x[c];
      const float r = 1.0f / sqrtf(ss / (float)C + TSR_NORM_EPS);
      if (rstd) rstd[(size_t)m * H + h] = r;
#pragma omp simd
      for (int c = 0; c < C; c++) y[c] = x[c] * r * w[c];
    }
}

enum { RMS_MAX_CHUNKS = 32, RMS_PART_DOUBLES = 8192 };

void rmsnorm_backward(float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                      const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C) {
  const int64_t R = (int64_t)M * H;
  if (R <= 0 || C <= 0 || (!din && !dw)) return;
  int64_t nch = RMS_MAX_CHUNKS;
  if (nch > R) nch = R;
  if (nch * C > RMS_PART_DOUBLES) nch = RMS_PART_DOUBLES / C > 0 ? RMS_PART_DOUBLES / C : 1;
  double part[nch][C];  // per-chunk dw partials (at most 64 KiB)
#pragma omp parallel for schedule(static) if (R * C > 8192 && nch > 1)
  for (int64_t ch = 0; ch < nch; ch++) {
    double *pw = part[ch];
    for (int c = 0; c < C; c++) pw[c] = 0.0;
    for (int64_t row = R * ch / nch; row < R * (ch + 1) / nch; row++) {
      const int m = (int)(row / H), h = (int)(row % H);
      const float *x = in + (size_t)m * ld_in + (size_t)h * C;
      const float *dy = dout + (size_t)m * ld_dout + (size_t)h * C;
      const float r = rstd[row];
      if (dw) {
#pragma omp simd
        for (int c = 0; c < C; c++) pw[c] += dy[c] * (x[c] * r);
      }
      if (din) {
        float *dx = din + (size_t)m * ld_din + (size_t)h * C;
        float sgx = 0.0f;
#pragma omp simd reduction(+ : sgx)
        for (int c = 0; c < C; c++) sgx += dy[c] * w[c] * x[c] * r;
        const float a = sgx / (float)C;
#pragma omp simd
        for (int c = 0; c < C; c++) dx[c] += r * (dy[c] * w[c] - x[c] * r * a);
      }
    }
  }
  if (dw)
    for (int c = 0; c < C; c++) {
      double s = 0.0;
      for (int64_t ch = 0; ch < nch; ch++) s += part[ch][c];
      dw[c] += (float)s;
    }
}

void rmsnorm_forward_ref(float *out, int ld_out, float *rstd, const float *in, int ld_in,
                         const float *w, int M, int H, int C) {
  for (int m = 0; m < M; m++)
    for (int h = 0; h < H; h++) {
      const float *x = in + (size_t)m * ld_in + (size_t)h * C;
      double ss = 0;
      for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
      double r = 1.0 / sqrt(ss / C + (double)TSR_NORM_EPS);
      if (rstd) rstd[(size_t)m * H + h] = (float)r;
      for (int c = 0; c < C; c++) out[(size_t)m * ld_out + (size_t)h * C + c] = (float)(x[c] * r * w[c]);
    }
}

void rmsnorm_backward_ref(float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                          const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C) {
  if (din)
    for (int m = 0; m < M; m++)
      for (int h = 0; h < H; h++) {
        const float *x = in + (size_t)m * ld_in + (size_t)h * C;
        const float *dy = dout + (size_t)m * ld_dout + (size_t)h * C;
        double r = rstd[(size_t)m * H + h], sgx = 0;
        for (int c = 0; c < C; c++) sgx += (double)dy[c] * w[c] * x[c] * r;
        for (int c = 0; c < C; c++)
          din[(size_t)m * ld_din + (size_t)h * C + c] += (float)(r * ((double)dy[c] * w[c] - x[c] * r * sgx / C));
      }
  if (dw)
    for (int c = 0; c < C; c++) {
      double acc = 0;
      for (int m = 0; m < M; m++)
        for (int h = 0; h < H; h++)
          acc += (double)dout[(size_t)m * ld_dout + (size_t)h * C + c] * in[(size_t)m * ld_in + (size_t)h * C + c] *
                 rstd[(size_t)m * H + h];
      dw[c] += (float)acc;
    }
}
