// The autoencoder's Gaussian latent (kernels/ops.h): reparameterised sample
// and KL divergence to N(0, 1), one plain implementation (its own
// reference; held to finite differences and to PyTorch in the tests).
// moments [N, 2C, S]: mean then logvar, each C channels of S sites.
#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"

static inline float clamp_lv(float lv) {
  return lv < TSR_LOGVAR_MIN ? TSR_LOGVAR_MIN : lv > TSR_LOGVAR_MAX ? TSR_LOGVAR_MAX : lv;
}

void gauss_sample_forward(float *z, float *kl, const float *moments, const float *eps, int N, int C, int S) {
  const size_t cs = (size_t)C * S;
  double acc = 0;
  for (int n = 0; n < N; n++) {
    const float *mu = moments + (size_t)n * 2 * cs, *lvr = mu + cs;
    for (size_t i = 0; i < cs; i++) {
      const float lv = clamp_lv(lvr[i]);
      if (z) z[(size_t)n * cs + i] = eps ? mu[i] + expf(0.5f * lv) * eps[(size_t)n * cs + i] : mu[i];
      acc += 0.5 * ((double)mu[i] * mu[i] + exp((double)lv) - 1.0 - lv);
    }
  }
  if (kl) *kl = (float)(acc / ((double)N * cs));
}

void gauss_sample_backward(float *dmoments, const float *dz, float kl_weight, const float *moments, const float *eps,
                           int N, int C, int S) {
  const size_t cs = (size_t)C * S;
  const float k = kl_weight / (float)((double)N * cs);
  for (int n = 0; n < N; n++) {
    const float *mu = moments + (size_t)n * 2 * cs, *lvr = mu + cs;
    float *dmu = dmoments + (size_t)n * 2 * cs, *dlv = dmu + cs;
    for (size_t i = 0; i < cs; i++) {
      const int inside = lvr[i] >= TSR_LOGVAR_MIN && lvr[i] <= TSR_LOGVAR_MAX;
      const float lv = clamp_lv(lvr[i]);
      float gm = k * mu[i], gl = 0.5f * k * (expf(lv) - 1.0f);
      if (dz) {
        gm += dz[(size_t)n * cs + i];
        if (eps) gl += dz[(size_t)n * cs + i] * 0.5f * expf(0.5f * lv) * eps[(size_t)n * cs + i];
      }
      dmu[i] += gm;
      if (inside) dlv[i] += gl;
    }
  }
}
