// GELU and SiLU on special inputs: a NaN propagates (and, under `make
// sanitize`, computes nothing undefined on the way: it once shifted a negative
// exponent in exp_simd), +Inf and huge values give the limits.
#include <math.h>

#include "kernels/ops.h"
#include "testlib.h"

typedef void (*Fwd)(float *, const float *, int64_t);
typedef void (*Bwd)(float *, const float *, const float *, int64_t);

static void check(const char *name, Fwd fwd, Bwd bwd) {
  const float in[] = {NAN, -NAN, 1e30f, -1e30f, INFINITY, 0.0f, 1.0f};
  enum { N = sizeof in / sizeof in[0] };
  float out[N], din[N] = {0}, dout[N];
  for (int i = 0; i < N; i++) dout[i] = 1.0f;
  fwd(out, in, N);
  bwd(din, dout, in, N);
  EXPECT(isnan(out[0]) && isnan(out[1]), "%s(NaN) = %g, %g, expected NaN", name, out[0], out[1]);
  EXPECT(isnan(din[0]) && isnan(din[1]), "%s'(NaN) = %g, %g, expected NaN", name, din[0], din[1]);
  EXPECT(out[2] == 1e30f, "%s(1e30) = %g", name, out[2]);
  EXPECT(fabsf(out[3]) < 1e-6f, "%s(-1e30) = %g, expected ~0", name, out[3]);
  EXPECT(isinf(out[4]) && out[4] > 0, "%s(inf) = %g", name, out[4]);
  EXPECT(out[5] == 0.0f, "%s(0) = %g", name, out[5]);
  printf("  ok  %s on NaN, +-1e30, inf, 0\n", name);
}

int main(void) {
  check("gelu", gelu_forward, gelu_backward);
  check("silu", silu_forward, silu_backward);
  return tl_finish("test_activation_special");
}
