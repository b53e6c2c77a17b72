// Linear layer, PyTorch layout: out[M,O] = in[M,I] w[O,I]^T + b[O].
// Fast path: three GEMMs (forward N·T, din N·N, dw T·N) with beta = 1 for the
// accumulating gradients; the bias is broadcast into out first (beta = 1).
//
// The weight gradient dw = dout^T in (a T,N GEMM reducing over the M rows)
// copies `in` into a scratch buffer with its leading dimension padded by 16
// floats when I falls under the measured rule of pad_in() below: a leading
// dimension of a multiple of 4 KiB maps every row of the operand onto the
// same cache sets, and oneDNN's sgemm on those shapes runs at about 0.7x of
// the padded speed (`gemm_bench pad`; docs/performance.md). The padded copy
// holds the same values, so the result is the same product.
#include <stddef.h>
#include <string.h>

#include "core/error.h"
#include "kernels/cpu/scratch.h"
#include "kernels/ops.h"

enum { LD_PAD = 16 };  // floats added to a padded leading dimension (64 bytes)

// Whether dw's `in` operand [M, I] is copied with ld I + 16 first. Measured
// with `gemm_bench pad` (oneDNN 2.6 sgemm, 2 threads, K = 2048, a shared
// 2-vCPU AMD EPYC Zen 4 with AVX-512; the Zen 3 AVX2 profile in
// docs/performance.md saw the same slow shape):
// dw[256, 1024] 1.43x and dw[256, 2048] 1.33x faster padded (copy included),
// dw[768, 1024] 1.07x, dw[512, 1024] 1.02x; dw[1024, 1024] 0.96-0.98x,
// dw[256, 4096] 0.97x, and every ld that is not a multiple of 1024 floats
// (256, 512, 768, 1536) slower padded (0.75-0.93x). So: I a multiple of 1024
// up to 2048 with O up to 768, and only with oneDNN (the blocked C fallback
// packs its operands itself; not measured).
static int pad_in(int M, int I, int O) {
#ifdef TSR_HAVE_DNNL
  return M >= 256 && I % 1024 == 0 && I <= 2048 && O <= 768;
#else
  (void)M, (void)I, (void)O;
  return 0;
#endif
}

typedef void (*GemmFn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

static void linear_forward_with(GemmFn g, float *out, const float *in, const float *w, const float *b, int M, int I,
                                int O) {
  if (b) {
#pragma omp parallel for schedule(static) if ((int64_t)M * O > 16384)
    for (int m = 0; m < M; m++) {
      float *o = out + (size_t)m * O;
#pragma omp simd
      for (int j = 0; j < O; j++) o[j] = b[j];
    }
  }
  g(0, 1, M, O, I, 1.0f, in, I, w, I, b ? 1.0f : 0.0f, out, O);
}
void linear_forward(float *out, const float *in, const float *w, const float *b, int M, int I, int O) {
  linear_forward_with(gemm, out, in, w, b, M, I, O);
}
// the CPU backend's bf16 mode: bf16 operands, fp32 accumulation (gemm_bf16.c)
void linear_forward_bf16(float *out, const float *in, const float *w, const float *b, int M, int I, int O) {
  linear_forward_with(gemm_bf16, out, in, w, b, M, I, O);
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
  if (dw) {
    const float *B = in;
    int ldb = I;
    if (pad_in(M, I, O)) {
      float *p = cpu_scratch(SCRATCH_LINEAR_PAD, (size_t)M * (I + LD_PAD));
#pragma omp parallel for schedule(static)
      for (int m = 0; m < M; m++) memcpy(p + (size_t)m * (I + LD_PAD), in + (size_t)m * I, (size_t)I * sizeof(float));
      B = p, ldb = I + LD_PAD;
    }
    gemm(1, 0, O, I, M, 1.0f, dout, O, B, ldb, 1.0f, dw, I);
  }
  if (db) bias_grad(db, dout, M, O);
}
// bf16 operands (dout rounded once for both products; the packed copies need no padding)
void linear_backward_bf16(float *din, float *dw, float *db, const float *dout, const float *in, const float *w, int M,
                          int I, int O) {
  linear_grads_bf16(din, dw, dout, in, w, M, I, O);
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
