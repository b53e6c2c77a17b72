// Linear layer, PyTorch layout: out[M,O] = in[M,I] w[O,I]^T + b[O].
// Fast path: three GEMMs (forward N·T, din N·N, dw T·N) with beta = 1 for the
// accumulating gradients; the bias is broadcast into out first (beta = 1).
#include <stddef.h>

#include "kernels/ops.h"

void linear_forward(float *out, const float *in, const float *w, const float *b, int M, int I, int O) {
  if (b) {
#pragma omp parallel for schedule(static) if ((int64_t)M * O > 16384)
    for (int m = 0; m < M; m++) {
      float *o = out + (size_t)m * O;
#pragma omp simd
      for (int j = 0; j < O; j++) o[j] = b[j];
    }
  }
  gemm(0, 1, M, O, I, 1.0f, in, I, w, I, b ? 1.0f : 0.0f, out, O);
}

// db[O] += sum_m dout[m,:], in column blocks (deterministic, no atomics).
enum { DB_BLOCK = 64 };
static void bias_grad(float *db, const float *dout, int M, int O) {
  int nblk = (O + DB_BLOCK - 1) / DB_BLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)M * O > 16384 && nblk > 1)
  for (int blk = 0; blk < nblk; blk++) {
    int j0 = blk * DB_BLOCK, nj = O - j0 < DB_BLOCK ? O - j0 : DB_BLOCK;
    double acc[DB_BLOCK] = {0};
    for (int m = 0; m < M; m++) {
      const float *d = dout + (size_t)m * O + j0;
#pragma omp simd
      for (int j = 0; j < nj; j++) acc[j] += d[j];
    }
    for (int j = 0; j < nj; j++) db[j0 + j] += (float)acc[j];
  }
}

void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int M, int I, int O) {
  if (din) gemm(0, 0, M, I, O, 1.0f, dout, O, w, I, 1.0f, din, I);
  if (dw) gemm(1, 0, O, I, M, 1.0f, dout, O, in, I, 1.0f, dw, I);
  if (db) bias_grad(db, dout, M, O);
}

void linear_forward_ref(float *out, const float *in, const float *w, const float *b, int M, int I, int O) {
  for (int m = 0; m < M; m++)
    for (int o = 0; o < O; o++) {
      double acc = b ? b[o] : 0.0;
      for (int i = 0; i < I; i++) acc += (double)in[(size_t)m * I + i] * w[(size_t)o * I + i];
      out[(size_t)m * O + o] = (float)acc;
    }
}

void linear_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O) {
  if (din)
    for (int m = 0; m < M; m++)
      for (int i = 0; i < I; i++) {
        double acc = 0;
        for (int o = 0; o < O; o++) acc += (double)dout[(size_t)m * O + o] * w[(size_t)o * I + i];
        din[(size_t)m * I + i] += (float)acc;
      }
  if (dw)
    for (int o = 0; o < O; o++)
      for (int i = 0; i < I; i++) {
        double acc = 0;
        for (int m = 0; m < M; m++) acc += (double)dout[(size_t)m * O + o] * in[(size_t)m * I + i];
        dw[(size_t)o * I + i] += (float)acc;
      }
  if (db)
    for (int o = 0; o < O; o++) {
      double acc = 0;
      for (int m = 0; m < M; m++) acc += dout[(size_t)m * O + o];
      db[o] += (float)acc;
    }
}
