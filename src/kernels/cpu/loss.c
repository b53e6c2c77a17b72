// Rectified-flow MSE over the weighted tokens:
//   loss = sum_{m,p} w[m] (pred - target)^2 / (P * sum_m w[m]),  w NULL: all 1
//   dpred = 2 w (pred - target) / (P * sum w)   (written with '=')
// With sum w == 0 (every token masked) the loss and dpred are 0.
// Rows are summed in a fixed number of chunks, each in double, then the
// chunks in order: the loss does not depend on the thread count.
#include <stddef.h>

#include "kernels/ops.h"

enum { LOSS_CHUNKS = 64 };

void mse_loss(float *loss, float *dpred, const float *pred, const float *target, const float *w, int M, int P) {
  double sw = 0.0;
  if (w)
    for (int m = 0; m < M; m++) sw += w[m];
  else
    sw = M;
  const double denom = (double)P * sw;
  const float gscale = denom > 0.0 ? (float)(2.0 / denom) : 0.0f;
  const int nch = M < LOSS_CHUNKS ? (M > 0 ? M : 1) : LOSS_CHUNKS;
  double part[LOSS_CHUNKS] = {0};
#pragma omp parallel for schedule(static) if ((int64_t)M * P > 16384)
  for (int ch = 0; ch < nch; ch++) {
    double acc = 0.0;
    const int m0 = (int)((int64_t)M * ch / nch), m1 = (int)((int64_t)M * (ch + 1) / nch);
    for (int m = m0; m < m1; m++) {
      const float *p = pred + (size_t)m * P, *t = target + (size_t)m * P;
      float *dp = dpred ? dpred + (size_t)m * P : NULL;
      const float wm = w ? w[m] : 1.0f;
      if (wm == 0.0f) {
        if (dp)
          for (int j = 0; j < P; j++) dp[j] = 0.0f;
        continue;
      }
      float rs = 0.0f;
      double racc = 0.0;
      // float partial sums over short runs, double across them
      for (int j0 = 0; j0 < P; j0 += 256) {
        const int j1 = P - j0 < 256 ? P : j0 + 256;
        rs = 0.0f;
#pragma omp simd reduction(+ : rs)
        for (int j = j0; j < j1; j++) {
          const float d = p[j] - t[j];
          rs += d * d;
        }
        racc += rs;
      }
      acc += (double)wm * racc;
      if (dp) {
        const float s = gscale * wm;
#pragma omp simd
        for (int j = 0; j < P; j++) dp[j] = s * (p[j] - t[j]);
      }
    }
    part[ch] = acc;
  }
  double total = 0.0;
  for (int ch = 0; ch < nch; ch++) total += part[ch];
  *loss = denom > 0.0 ? (float)(total / denom) : 0.0f;
}
