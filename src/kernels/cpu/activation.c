// Activations: GELU (tanh approximation) and SiLU.
// The fast versions use 0.5 (1 + tanh(u)) = sigmoid(2u) and an inline,
// vectorisable expf (Cephes polynomial, ~1 ulp on the reduced range), since
// glibc's tanhf/expf do not vectorise without -ffast-math. The references
// use the formula of ops.h in double with libm's tanh/exp.
// The element loops below only vectorise when GCC may if-convert the float
// comparisons of the clamp in exp_simd (no-trapping-math); tessera never
// reads floating-point exception flags.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/ops.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#define GELU_K0 0.7978845608028654f  // sqrt(2/pi)
#define GELU_K1 0.044715f

// exp(x) for x in float range; clamps so that the result stays normal.
// (Ternaries and rintf rather than fminf/floorf: GCC vectorises these
// without -ffast-math. A NaN passes both comparisons and propagates through
// r and p; n is set to 0 for it, so the exponent is never built from an
// out-of-range conversion and a shifted negative value.)
static inline float exp_simd(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float n = rintf(x * 1.44269504088896341f);
  n = n == n ? n : 0.0f;  // NaN: keep the exponent bits defined (r and p carry the NaN)
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

void gelu_forward(float *out, const float *in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    const float x = in[i];
    const float u = GELU_K0 * (x + GELU_K1 * x * x * x);
    out[i] = x / (1.0f + exp_simd(-2.0f * u));
  }
}

void gelu_backward(float *din, const float *dout, const float *in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    const float x = in[i];
    const float u = GELU_K0 * (x + GELU_K1 * x * x * x);
    const float e = exp_simd(-2.0f * u);
    const float s = 1.0f / (1.0f + e);  // sigmoid(2u) = (1 + tanh u) / 2
    const float s1 = e * s;             // 1 - s without cancellation
    const float du = GELU_K0 * (1.0f + 3.0f * GELU_K1 * x * x);
    din[i] += dout[i] * (s + 2.0f * x * s * s1 * du);
  }
}

void gelu_forward_ref(float *out, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double x = in[i];
    double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
    out[i] = (float)(0.5 * x * (1.0 + tanh(u)));
  }
}

void gelu_backward_ref(float *din, const float *dout, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double x = in[i], k0 = sqrt(2.0 / M_PI);
    double t = tanh(k0 * (x + 0.044715 * x * x * x));
    double d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k0 * (1.0 + 3.0 * 0.044715 * x * x);
    din[i] += (float)(dout[i] * d);
  }
}

void silu_forward(float *out, const float *in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    const float x = in[i];
    out[i] = x / (1.0f + exp_simd(-x));
  }
}

void silu_backward(float *din, const float *dout, const float *in, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; i++) {
    const float x = in[i];
    const float e = exp_simd(-x);
    const float s = 1.0f / (1.0f + e);
    const float s1 = e * s;  // 1 - s without cancellation (and without overflowing x*e)
    din[i] += dout[i] * s * (1.0f + x * s1);
  }
}

void silu_forward_ref(float *out, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double x = in[i];
    out[i] = (float)(x / (1.0 + exp(-x)));
  }
}

void silu_backward_ref(float *din, const float *dout, const float *in, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    double x = in[i], s = 1.0 / (1.0 + exp(-x));
    din[i] += (float)(dout[i] * s * (1.0 + x * (1.0 - s)));
  }
}
