// LayerNorm with the caller's eps (kernels/ops.h). Two passes over a row
// (mean, then the centred sum of squares) as layernorm_forward does; rows in
// parallel. Each output element is written after its input was last read, so
// out may equal in.
#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"

void layernorm_eps_forward(float *out, const float *in, const float *w, const float *b, int M, int C, float eps) {
#pragma omp parallel for schedule(static) if ((int64_t)M * C > 8192)
  for (int m = 0; m < M; m++) {
    const float *x = in + (size_t)m * C;
    float *y = out + (size_t)m * C, sum = 0.0f, sq = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < C; c++) sum += x[c];
    const float mu = sum / (float)C;
#pragma omp simd reduction(+ : sq)
    for (int c = 0; c < C; c++) sq += (x[c] - mu) * (x[c] - mu);
    const float r = 1.0f / sqrtf(sq / (float)C + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) y[c] = (x[c] - mu) * r * w[c] + b[c];
  }
}

void layernorm_eps_forward_ref(float *out, const float *in, const float *w, const float *b, int M, int C, float eps) {
  for (int m = 0; m < M; m++) {
    const float *x = in + (size_t)m * C;
    double mu = 0, var = 0;
    for (int c = 0; c < C; c++) mu += x[c];
    mu /= C;
    for (int c = 0; c < C; c++) var += (x[c] - mu) * (x[c] - mu);
    double r = 1.0 / sqrt(var / C + (double)eps);
    for (int c = 0; c < C; c++) out[(size_t)m * C + c] = (float)((x[c] - mu) * r * w[c] + b[c]);
  }
}
