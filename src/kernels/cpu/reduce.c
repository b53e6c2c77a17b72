// Optimizer glue (ops.h "optimizer glue"): the squared norm behind gradient
// clipping and the EMA of the weights.
#include "kernels/ops.h"

void sum_squares_ref(double *out, const float *x, int64_t n) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  *out = sum;
}
void sum_squares(double *out, const float *x, int64_t n) {
  double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (int64_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  *out = sum;
}

void ema_update_ref(float *ema, const float *w, int64_t n, float decay) {
  for (int64_t i = 0; i < n; i++) ema[i] = decay * ema[i] + (1.0f - decay) * w[i];
}
void ema_update(float *ema, const float *w, int64_t n, float decay) {
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; i++) ema[i] = decay * ema[i] + (1.0f - decay) * w[i];
}
