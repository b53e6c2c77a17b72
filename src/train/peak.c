#include "train/peak.h"

#include "core/error.h"
#include "core/timer.h"
#include "kernels/ops.h"

double measure_gemm_peak_gflops(void) {
  const int n = 1024, reps = 6;
  float *a = tsr_calloc((size_t)n * n, sizeof(float)), *b = tsr_calloc((size_t)n * n, sizeof(float));
  float *c = tsr_calloc((size_t)n * n, sizeof(float));
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 7);
  gemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = timer_now();
    gemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double dt = timer_now() - t0;
    if (dt < best) best = dt;
  }
  tsr_free(a);
  tsr_free(b);
  tsr_free(c);
  return 2.0 * n * (double)n * n / best * 1e-9;
}
