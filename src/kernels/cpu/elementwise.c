// The elementwise glue between the model's ops (ops.h "elementwise glue"):
// fill, axpy, scale, broadcast add, grouped row sums, strided 2-D copy.
// Fast versions split the work over OpenMP threads; each element's value is
// the same whatever the split (no reductions across threads), so fast and
// reference agree bit for bit.
#include <math.h>
#include <string.h>

#include "kernels/ops.h"

enum { PAR_MIN = 16384 };  // below this many elements a thread team costs more than it saves

void fill_f32_ref(float *x, float value, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = value;
}
void fill_f32(float *x, float value, int64_t n) {
  if (value == 0.0f && !signbit(value)) {  // +0: all-zero bytes
    memset(x, 0, (size_t)n * sizeof(float));
    return;
  }
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) x[i] = value;
}

void axpy_ref(float *y, float alpha, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
void axpy(float *y, float alpha, const float *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

void scale_f32_ref(float *x, float s, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}
void scale_f32(float *x, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

void add_broadcast_ref(float *out, const float *a, const float *b, int R, int reps, int C) {
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) out[(size_t)r * C + c] = a[(size_t)r * C + c] + b[(size_t)(r / reps) * C + c];
}
void add_broadcast(float *out, const float *a, const float *b, int R, int reps, int C) {
#pragma omp parallel for schedule(static) if ((int64_t)R * C > PAR_MIN)
  for (int r = 0; r < R; r++) {
    float *o = out + (size_t)r * C;
    const float *ar = a + (size_t)r * C, *br = b + (size_t)(r / reps) * C;
#pragma omp simd
    for (int c = 0; c < C; c++) o[c] = ar[c] + br[c];
  }
}

void sum_groups_ref(float *out, const float *in, int G, int reps, int C) {
  for (int g = 0; g < G; g++)
    for (int c = 0; c < C; c++) {
      float s = in[(size_t)g * reps * C + c];
      for (int j = 1; j < reps; j++) s += in[((size_t)g * reps + j) * C + c];
      out[(size_t)g * C + c] = s;
    }
}
void sum_groups(float *out, const float *in, int G, int reps, int C) {
#pragma omp parallel for schedule(static) if ((int64_t)G * reps * C > PAR_MIN)
  for (int g = 0; g < G; g++) {
    float *o = out + (size_t)g * C;
    const float *first = in + (size_t)g * reps * C;
    memcpy(o, first, (size_t)C * sizeof(float));
    for (int j = 1; j < reps; j++) {
      const float *row = first + (size_t)j * C;
#pragma omp simd
      for (int c = 0; c < C; c++) o[c] += row[c];
    }
  }
}

void copy2d_ref(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols) {
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) dst[(size_t)r * ld_dst + c] = src[(size_t)r * ld_src + c];
}
void copy2d(float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols) {
  if (ld_dst == cols && ld_src == cols) {
    memcpy(dst, src, (size_t)rows * cols * sizeof(float));
    return;
  }
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols > PAR_MIN)
  for (int r = 0; r < rows; r++)
    memcpy(dst + (size_t)r * ld_dst, src + (size_t)r * ld_src, (size_t)cols * sizeof(float));
}
