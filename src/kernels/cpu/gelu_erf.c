// Exact GELU (kernels/ops.h): x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
// as BERT and PyTorch's nn.GELU() compute it (not the tanh approximation of
// gelu_forward). glibc's erff is within an ulp or two.
#include <math.h>

#include "kernels/ops.h"

void gelu_erf_forward(float *out, const float *in, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) out[i] = 0.5f * in[i] * (1.0f + erff(in[i] * (float)M_SQRT1_2));
}

void gelu_erf_forward_ref(float *out, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = (float)(0.5 * in[i] * (1.0 + erf(in[i] * M_SQRT1_2)));
}
