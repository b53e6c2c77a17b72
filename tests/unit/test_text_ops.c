// The text encoders' kernels (src/kernels/ops.h): each fast version
// against its plain reference, and the references against independent
// answers: GELU_erf at points whose values x Phi(x) were computed in double
// precision as x erfc(-x / sqrt 2) / 2 (Python's math.erfc), LayerNorm rows of known mean and variance, and
// eps doing what BERT's 1e-12 does (where TSR_NORM_EPS would not).
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "testlib.h"

static void test_gelu_erf(void) {
  // x Phi(x), Phi the standard normal CDF
  static const double x[] = {-6, -3, -1, -0.5, 0, 1e-3, 0.5, 1, 2, 3, 8};
  static const double want[] = {-5.919525870226207e-09, -0.004049694094890287, -0.15865525393145707,
                                -0.15426876936299344,   0,                     0.000500398942213911,
                                0.34573123063700656,    0.8413447460685429,    1.9544997361036416,
                                2.99595030590511,       7.999999999999995};
  const int n = (int)(sizeof x / sizeof *x);
  float in[16], out[16], ref[16];
  for (int i = 0; i < n; i++) in[i] = (float)x[i];
  gelu_erf_forward_ref(ref, in, n);
  gelu_erf_forward(out, in, n);
  int ok = 1;
  for (int i = 0; i < n; i++) {
    // float's 1 + erf loses the far negative tail, as PyTorch's float32 GELU does: an absolute floor
    double tol = 2e-7 * fabs(want[i]) + 1e-7;
    if (fabs(ref[i] - want[i]) > tol || fabs(out[i] - want[i]) > 2 * tol) {
      ok = 0;
      printf("  gelu_erf(%g): ref %.9g fast %.9g, want %.9g\n", x[i], ref[i], out[i], want[i]);
    }
  }
  EXPECT(ok, "gelu_erf at tabulated points");
  const int64_t N = 100000;  // a large array: the threaded path, in place
  float *a = malloc(sizeof(float) * N), *b = malloc(sizeof(float) * N);
  tl_fill(a, N, 1);
  for (int64_t i = 0; i < N; i++) a[i] *= 8.0f;
  gelu_erf_forward_ref(b, a, N);
  gelu_erf_forward(a, a, N);
  EXPECT_CLOSE(a, b, N, 1e-6, "gelu_erf fast (in place) = reference");
  free(a), free(b);
}

static void test_layernorm_eps(void) {
  enum { M = 300, C = 384 };
  float *x = malloc(sizeof(float) * M * C), *y = malloc(sizeof(float) * M * C), *r = malloc(sizeof(float) * M * C);
  float w[C], b[C];
  tl_fill(x, (int64_t)M * C, 2);
  tl_fill(w, C, 3);
  tl_fill(b, C, 4);
  for (int i = 0; i < M * C; i++) x[i] = 5.0f * x[i] + 3.0f;
  layernorm_eps_forward_ref(r, x, w, b, M, C, 1e-12f);
  layernorm_eps_forward(y, x, w, b, M, C, 1e-12f);
  EXPECT_CLOSE(y, r, (int64_t)M * C, 1e-6, "layernorm_eps fast = reference");
  layernorm_eps_forward(x, x, w, b, M, C, 1e-12f);
  EXPECT(!memcmp(x, y, sizeof(float) * M * C), "layernorm_eps in place = out of place");
  // A row of +-s (mean 0, variance s^2) with w = 1, b = 0: out = x / sqrt(s^2 + eps).
  // At s = 1e-4 (variance 1e-8, as tiny as BERT states never are) eps 1e-12 changes
  // it by 5e-5 relative and TSR_NORM_EPS's 1e-6 by 1%: the op honours its eps.
  float row[C], out[C], one[C], zero[C] = {0};
  for (int c = 0; c < C; c++) row[c] = c % 2 ? 1e-4f : -1e-4f, one[c] = 1.0f;
  for (int k = 0; k < 2; k++) {
    float eps = k ? 1e-6f : 1e-12f;
    (k ? layernorm_eps_forward : layernorm_eps_forward_ref)(out, row, one, zero, 1, C, eps);
    double want = 1e-4 / sqrt(1e-8 + (double)eps);
    EXPECT(fabs(fabs(out[0]) - want) < 1e-5 * want && fabs(out[1] - want) < 1e-5 * want, "eps %g: %.7f, want %.7f",
           (double)eps, out[1], want);
  }
  free(x), free(y), free(r);
}

int main(void) {
  test_gelu_erf();
  test_layernorm_eps();
  return tl_finish("test_text_ops");
}
