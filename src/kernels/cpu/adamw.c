// AdamW (PyTorch semantics: decoupled weight decay, bias correction), exactly
// the update of ops.h:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps) + wd * p )
// (equal to PyTorch's p *= 1 - lr wd; p -= lr mhat/(sqrt(vhat)+eps)).
// The bias corrections are computed in double once per call. The fast loop
// uses AVX intrinsics where available: GCC will not vectorise sqrtf unless
// the whole build has -fno-math-errno.
#include <math.h>

#include "kernels/ops.h"
#ifdef __AVX__
#include <immintrin.h>
#endif

static inline void adamw_elem(float *p, const float *g, float *m, float *v, int64_t i, float lr, float b1,
                              float b2, float c1, float c2, float ib1, float ib2, float eps, float wd) {
  const float gi = g[i];
  const float mi = b1 * m[i] + c1 * gi;
  const float vi = b2 * v[i] + c2 * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] -= lr * ((mi * ib1) / (sqrtf(vi * ib2) + eps) + wd * p[i]);
}

void adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float wd, int step) {
  const float ib1 = (float)(1.0 / (1.0 - pow((double)beta1, step)));
  const float ib2 = (float)(1.0 / (1.0 - pow((double)beta2, step)));
  const float c1 = 1.0f - beta1, c2 = 1.0f - beta2;
  enum { BLK = 4096 };
  const int64_t nblk = (n + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t blk = 0; blk < nblk; blk++) {
    int64_t i = blk * BLK;
    const int64_t end = i + BLK < n ? i + BLK : n;
#ifdef __AVX__
    const __m256 vb1 = _mm256_set1_ps(beta1), vb2 = _mm256_set1_ps(beta2), vc1 = _mm256_set1_ps(c1),
                 vc2 = _mm256_set1_ps(c2), vib1 = _mm256_set1_ps(ib1), vib2 = _mm256_set1_ps(ib2),
                 veps = _mm256_set1_ps(eps), vwd = _mm256_set1_ps(wd), vlr = _mm256_set1_ps(lr);
    for (; i + 8 <= end; i += 8) {
      const __m256 gi = _mm256_loadu_ps(g + i), pi = _mm256_loadu_ps(p + i);
      const __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
      const __m256 vi =
          _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
      _mm256_storeu_ps(m + i, mi);
      _mm256_storeu_ps(v + i, vi);
      const __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, vib2)), veps);
      const __m256 upd = _mm256_add_ps(_mm256_div_ps(_mm256_mul_ps(mi, vib1), den), _mm256_mul_ps(vwd, pi));
      _mm256_storeu_ps(p + i, _mm256_sub_ps(pi, _mm256_mul_ps(vlr, upd)));
    }
#endif
    for (; i < end; i++) adamw_elem(p, g, m, v, i, lr, beta1, beta2, c1, c2, ib1, ib2, eps, wd);
  }
}

void adamw_update_ref(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                      float beta2, float eps, float wd, int step) {
  const double bc1 = 1.0 - pow((double)beta1, step), bc2 = 1.0 - pow((double)beta2, step);
  for (int64_t i = 0; i < n; i++) {
    double gi = g[i];
    double mi = (double)beta1 * m[i] + (1.0 - (double)beta1) * gi;
    double vi = (double)beta2 * v[i] + (1.0 - (double)beta2) * gi * gi;
    m[i] = (float)mi;
    v[i] = (float)vi;
    double pi = p[i];
    p[i] = (float)(pi - (double)lr * ((mi / bc1) / (sqrt(vi / bc2) + (double)eps) + (double)wd * pi));
  }
}
