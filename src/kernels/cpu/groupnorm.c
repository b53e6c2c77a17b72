// Frame-wise GroupNorm over in[N,C,T,S] (NCDHW with S = H*W sites per
// frame): G groups of C/G consecutive channels, statistics per (n, g, t) over
// the group's channels and the S sites of frame t only, so frame t never
// sees a later frame (the causal autoencoder needs it; docs/vae.md). T = 1 is
// PyTorch's GroupNorm over all of D*H*W.
//   m = (C/G) S values; mean, var (biased); rstd = 1/sqrt(var + eps);
//   xhat = (x - mean) rstd;  out = xhat w[c] + b[c]
// Backward with gr = dout w[c], over each (n, g, t):
//   din += rstd (gr - mean(gr) - xhat mean(gr xhat));  dw[c] += sum dout xhat;  db[c] += sum dout
// Element (n, c, t, s) is at ((n C + c) T + t) S + s; statistics at (n G + g) T + t.
// Reference: plain loops in double. Fast: (n, g, t) in parallel for out/din,
// channels in parallel for dw/db (each sums its samples and frames in order:
// deterministic, no atomics); sums in double.
#include <math.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

#define AT(n, c, t) ((((size_t)(n) * C + (c)) * T + (t)) * S)

static void gn_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int N,
                       int C, int T, int S, int G, int threaded) {
  const int cg = C / G;
  const double m = (double)cg * S;
#pragma omp parallel for schedule(static) if (threaded)
  for (int ngt = 0; ngt < N * G * T; ngt++) {
    const int t = ngt % T, g = ngt / T % G, n = ngt / (T * G);
    double s = 0, q = 0;
    for (int j = 0; j < cg; j++) {
      const float *x = in + AT(n, g * cg + j, t);
      for (int i = 0; i < S; i++) s += x[i];
    }
    const double mu = s / m;
    for (int j = 0; j < cg; j++) {
      const float *x = in + AT(n, g * cg + j, t);
      for (int i = 0; i < S; i++) q += (x[i] - mu) * (x[i] - mu);
    }
    const float muf = (float)mu, r = (float)(1.0 / sqrt(q / m + TSR_NORM_EPS));
    if (mean) mean[ngt] = muf;
    if (rstd) rstd[ngt] = r;
    for (int j = 0; j < cg; j++) {
      const int c = g * cg + j;
      const float a = r * w[c], sh = b[c] - muf * r * w[c];
      const float *x = in + AT(n, c, t);
      float *y = out + AT(n, c, t);
#pragma omp simd
      for (int i = 0; i < S; i++) y[i] = x[i] * a + sh;
    }
  }
}

static void gn_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                        const float *mean, const float *rstd, int N, int C, int T, int S, int G, int threaded) {
  const int cg = C / G;
  const double m = (double)cg * S;
  if (din) {
#pragma omp parallel for schedule(static) if (threaded)
    for (int ngt = 0; ngt < N * G * T; ngt++) {
      const int t = ngt % T, g = ngt / T % G, n = ngt / (T * G);
      const float mu = mean[ngt], r = rstd[ngt];
      double sg = 0, sgx = 0;
      for (int j = 0; j < cg; j++) {
        const float wc = w[g * cg + j];
        const float *x = in + AT(n, g * cg + j, t), *dy = dout + AT(n, g * cg + j, t);
        for (int i = 0; i < S; i++) {
          const double gr = (double)dy[i] * wc;
          sg += gr;
          sgx += gr * (x[i] - mu) * r;
        }
      }
      const float a = (float)(sg / m), bb = (float)(sgx / m);
      for (int j = 0; j < cg; j++) {
        const float wc = w[g * cg + j];
        const float *x = in + AT(n, g * cg + j, t), *dy = dout + AT(n, g * cg + j, t);
        float *dx = din + AT(n, g * cg + j, t);
#pragma omp simd
        for (int i = 0; i < S; i++) dx[i] += r * (dy[i] * wc - a - (x[i] - mu) * r * bb);
      }
    }
  }
  if (dw || db) {
#pragma omp parallel for schedule(static) if (threaded)
    for (int c = 0; c < C; c++) {
      double aw = 0, ab = 0;
      for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
          const int ngt = (n * G + c / cg) * T + t;
          const float mu = mean[ngt], r = rstd[ngt];
          const float *x = in + AT(n, c, t), *dy = dout + AT(n, c, t);
          for (int i = 0; i < S; i++) {
            aw += (double)dy[i] * (x[i] - mu) * r;
            ab += dy[i];
          }
        }
      if (dw) dw[c] += (float)aw;
      if (db) db[c] += (float)ab;
    }
  }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int N,
                       int C, int T, int S, int G) {
  gn_forward(out, mean, rstd, in, w, b, N, C, T, S, G, (int64_t)N * C * T * S > 16384);
}
void groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                        const float *mean, const float *rstd, int N, int C, int T, int S, int G) {
  gn_backward(din, dw, db, dout, in, w, mean, rstd, N, C, T, S, G, (int64_t)N * C * T * S > 16384);
}

// The reference: one element at a time over (c in group, site), no threads, double throughout.
void groupnorm_forward_ref(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                           int N, int C, int T, int S, int G) {
  const int cg = C / G;
  const double m = (double)cg * S;
  for (int n = 0; n < N; n++)
    for (int g = 0; g < G; g++)
      for (int t = 0; t < T; t++) {
        double s = 0, q = 0;
        for (int c = g * cg; c < (g + 1) * cg; c++)
          for (int i = 0; i < S; i++) s += in[AT(n, c, t) + i];
        const double mu = s / m;
        for (int c = g * cg; c < (g + 1) * cg; c++)
          for (int i = 0; i < S; i++) q += (in[AT(n, c, t) + i] - mu) * (in[AT(n, c, t) + i] - mu);
        const double r = 1.0 / sqrt(q / m + TSR_NORM_EPS);
        if (mean) mean[(n * G + g) * T + t] = (float)mu;
        if (rstd) rstd[(n * G + g) * T + t] = (float)r;
        for (int c = g * cg; c < (g + 1) * cg; c++)
          for (int i = 0; i < S; i++) out[AT(n, c, t) + i] = (float)((in[AT(n, c, t) + i] - mu) * r * w[c] + b[c]);
      }
}

void groupnorm_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const float *mean, const float *rstd, int N, int C, int T, int S, int G) {
  const int cg = C / G;
  const double m = (double)cg * S;
  double *aw = tsr_calloc((size_t)C, sizeof(double)), *ab = tsr_calloc((size_t)C, sizeof(double));
  for (int n = 0; n < N; n++)
    for (int g = 0; g < G; g++)
      for (int t = 0; t < T; t++) {
        const double mu = mean[(n * G + g) * T + t], r = rstd[(n * G + g) * T + t];
        double sg = 0, sgx = 0;
        for (int c = g * cg; c < (g + 1) * cg; c++)
          for (int i = 0; i < S; i++) {
            const size_t k = AT(n, c, t) + i;
            const double xh = (in[k] - mu) * r, gr = (double)dout[k] * w[c];
            sg += gr;
            sgx += gr * xh;
            aw[c] += dout[k] * xh;
            ab[c] += dout[k];
          }
        if (din)
          for (int c = g * cg; c < (g + 1) * cg; c++)
            for (int i = 0; i < S; i++) {
              const size_t k = AT(n, c, t) + i;
              const double xh = (in[k] - mu) * r, gr = (double)dout[k] * w[c];
              din[k] += (float)(r * (gr - sg / m - xh * sgx / m));
            }
      }
  for (int c = 0; c < C; c++) {
    if (dw) dw[c] += (float)aw[c];
    if (db) db[c] += (float)ab[c];
  }
  tsr_free(aw);
  tsr_free(ab);
}
