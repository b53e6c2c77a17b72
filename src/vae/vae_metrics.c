#include "vae/vae_metrics.h"

#include <math.h>
#include <stdlib.h>

double vae_psnr(const float *a, const float *b, size_t n) {
  double se = 0;
  for (size_t i = 0; i < n; i++) {
    const double d = 0.5 * ((double)a[i] - (double)b[i]);  // difference on the [0,1] scale
    se += d * d;
  }
  const double mse = se / (double)n;
  return mse > 0 ? 10.0 * log10(1.0 / mse) : INFINITY;
}

int vae_ssim(const float *a, const float *b, int T, int H, int W, int C, const char *what, double *out, TsrErr *err) {
  enum { K = VAE_SSIM_WIN, R = K / 2 };
  if (H < K || W < K) return tsr_err(err, "%s: SSIM: expected frames of at least %dx%d, got %dx%d", what, K, K, H, W);
  double g[K], gs = 0, w[K][K];
  for (int i = 0; i < K; i++) gs += g[i] = exp(-(double)((i - R) * (i - R)) / (2 * 1.5 * 1.5));
  for (int i = 0; i < K; i++)
    for (int j = 0; j < K; j++) w[i][j] = g[i] * g[j] / (gs * gs);
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  double total = 0;
  long count = 0;
  for (int t = 0; t < T; t++)
    for (int c = 0; c < C; c++)
      for (int y = 0; y + K <= H; y++)
        for (int x = 0; x + K <= W; x++) {
          double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
          for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
              const size_t o = (((size_t)t * H + y + i) * W + x + j) * C + c;
              const double u = 0.5 * (a[o] + 1.0), v = 0.5 * (b[o] + 1.0), k = w[i][j];
              ma += k * u, mb += k * v, aa += k * u * u, bb += k * v * v, ab += k * u * v;
            }
          const double va = aa - ma * ma, vb = bb - mb * mb, cov = ab - ma * mb;
          total += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
          count++;
        }
  *out = total / (double)count;
  return 0;
}
