// GroupNorm over in[N,C,S] (NCDHW with S = D*H*W), G groups of C/G
// consecutive channels: each (n, g) is one contiguous block of (C/G)*S floats.
//   mean, var (biased) over the block; rstd = 1/sqrt(var + eps);
//   xhat = (x - mean) rstd;  out = xhat w[c] + b[c]
// Backward with gr = dout w[c], over each block of m = (C/G) S values:
//   din += rstd (gr - mean(gr) - xhat mean(gr xhat));  dw[c] += sum dout xhat;  db[c] += sum dout
// Reference: plain loops in double. Fast: (n, g) blocks in parallel for
// out/din, channels in parallel for dw/db (each sums its samples in order:
// deterministic, no atomics); block sums in double.
#include <math.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

// Sums of one block (double): s = sum x, q = sum (x - s/m)^2.
static void block_stats(const float *x, size_t m, float *mean, float *rstd) {
  double s = 0;
  for (size_t i = 0; i < m; i++) s += x[i];
  const double mu = s / (double)m;
  double q = 0;
  for (size_t i = 0; i < m; i++) q += (x[i] - mu) * (x[i] - mu);
  *mean = (float)mu;
  *rstd = (float)(1.0 / sqrt(q / (double)m + TSR_NORM_EPS));
}

static void gn_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                       int N, int C, int S, int G, int threaded) {
  const int cg = C / G;
  const size_t m = (size_t)cg * S;
#pragma omp parallel for schedule(static) if (threaded)
  for (int ng = 0; ng < N * G; ng++) {
    const float *x = in + (size_t)ng * m;
    float *y = out + (size_t)ng * m;
    float mu, r;
    block_stats(x, m, &mu, &r);
    if (mean) mean[ng] = mu;
    if (rstd) rstd[ng] = r;
    for (int j = 0; j < cg; j++) {
      const int c = (ng % G) * cg + j;
      const float a = r * w[c], sh = b[c] - mu * r * w[c];
      const float *xc = x + (size_t)j * S;
      float *yc = y + (size_t)j * S;
#pragma omp simd
      for (int s = 0; s < S; s++) yc[s] = xc[s] * a + sh;
    }
  }
}

static void gn_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                        const float *mean, const float *rstd, int N, int C, int S, int G, int threaded) {
  const int cg = C / G;
  const size_t m = (size_t)cg * S;
  if (din) {
#pragma omp parallel for schedule(static) if (threaded)
    for (int ng = 0; ng < N * G; ng++) {
      const float mu = mean[ng], r = rstd[ng];
      const size_t base = (size_t)ng * m;
      double sg = 0, sgx = 0;
      for (int j = 0; j < cg; j++) {
        const float wc = w[(ng % G) * cg + j];
        for (int s = 0; s < S; s++) {
          const size_t i = base + (size_t)j * S + s;
          const double gr = (double)dout[i] * wc;
          sg += gr;
          sgx += gr * (in[i] - mu) * r;
        }
      }
      const float a = (float)(sg / (double)m), bb = (float)(sgx / (double)m);
      for (int j = 0; j < cg; j++) {
        const float wc = w[(ng % G) * cg + j];
        const size_t o = base + (size_t)j * S;
#pragma omp simd
        for (int s = 0; s < S; s++) din[o + s] += r * (dout[o + s] * wc - a - (in[o + s] - mu) * r * bb);
      }
    }
  }
  if (dw || db) {
#pragma omp parallel for schedule(static) if (threaded)
    for (int c = 0; c < C; c++) {
      double aw = 0, ab = 0;
      for (int n = 0; n < N; n++) {
        const int ng = n * G + c / cg;
        const float mu = mean[ng], r = rstd[ng];
        const size_t o = ((size_t)n * C + c) * S;
        for (int s = 0; s < S; s++) {
          aw += (double)dout[o + s] * (in[o + s] - mu) * r;
          ab += dout[o + s];
        }
      }
      if (dw) dw[c] += (float)aw;
      if (db) db[c] += (float)ab;
    }
  }
}

void groupnorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int N,
                       int C, int S, int G) {
  gn_forward(out, mean, rstd, in, w, b, N, C, S, G, (int64_t)N * C * S > 16384);
}
void groupnorm_backward(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                        const float *mean, const float *rstd, int N, int C, int S, int G) {
  gn_backward(din, dw, db, dout, in, w, mean, rstd, N, C, S, G, (int64_t)N * C * S > 16384);
}

// The reference: the same sums, one element at a time, no threads, in double throughout.
void groupnorm_forward_ref(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                           int N, int C, int S, int G) {
  const int cg = C / G;
  for (int n = 0; n < N; n++)
    for (int g = 0; g < G; g++) {
      const size_t base = ((size_t)n * C + (size_t)g * cg) * S, m = (size_t)cg * S;
      double s = 0, q = 0;
      for (size_t i = 0; i < m; i++) s += in[base + i];
      const double mu = s / (double)m;
      for (size_t i = 0; i < m; i++) q += (in[base + i] - mu) * (in[base + i] - mu);
      const double r = 1.0 / sqrt(q / (double)m + TSR_NORM_EPS);
      if (mean) mean[n * G + g] = (float)mu;
      if (rstd) rstd[n * G + g] = (float)r;
      for (size_t i = 0; i < m; i++) {
        const int c = g * cg + (int)(i / (size_t)S);
        out[base + i] = (float)((in[base + i] - mu) * r * w[c] + b[c]);
      }
    }
}

void groupnorm_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in, const float *w,
                            const float *mean, const float *rstd, int N, int C, int S, int G) {
  const int cg = C / G;
  double *aw = tsr_calloc((size_t)C, sizeof(double)), *ab = tsr_calloc((size_t)C, sizeof(double));
  for (int n = 0; n < N; n++)
    for (int g = 0; g < G; g++) {
      const size_t base = ((size_t)n * C + (size_t)g * cg) * S, m = (size_t)cg * S;
      const double mu = mean[n * G + g], r = rstd[n * G + g];
      double sg = 0, sgx = 0;
      for (size_t i = 0; i < m; i++) {
        const int c = g * cg + (int)(i / (size_t)S);
        const double xh = (in[base + i] - mu) * r, gr = (double)dout[base + i] * w[c];
        sg += gr;
        sgx += gr * xh;
        aw[c] += dout[base + i] * xh;
        ab[c] += dout[base + i];
      }
      if (din)
        for (size_t i = 0; i < m; i++) {
          const int c = g * cg + (int)(i / (size_t)S);
          const double xh = (in[base + i] - mu) * r, gr = (double)dout[base + i] * w[c];
          din[base + i] += (float)(r * (gr - sg / (double)m - xh * sgx / (double)m));
        }
    }
  for (int c = 0; c < C; c++) {
    if (dw) dw[c] += (float)aw[c];
    if (db) db[c] += (float)ab[c];
  }
  tsr_free(aw);
  tsr_free(ab);
}
