// GEMM throughput on the model's shapes: prints GFLOP/s of gemm() (whatever
// library this build uses: gemm_library()) for each (ta,tb) layout used by
// linear_forward (N,T), linear_backward din (N,N) and dw (T,N).
// Build with and without -DTSR_HAVE_DNNL to compare oneDNN and the blocked
// C fallback, e.g.
//   mpicc -std=gnu17 -O3 -march=native -fopenmp -Isrc -DTSR_HAVE_DNNL src/core/*.c
//     src/kernels/cpu/gemm.c bench/gemm_bench.c -ldnnl -lm -o /tmp/gemm_bench
// or against the built library (after `make`):
//   mpicc -std=gnu17 -O3 -march=native -fopenmp -Isrc -DTSR_HAVE_DNNL bench/gemm_bench.c
//     build/libtessera.a -ldnnl -lm -o build/gemm_bench
//
// `gemm_bench pad [SECONDS [O I ...]]`: the weight-gradient GEMM dw[O,I] = dout^T in
// (ta = 1, K = 2048 rows) on the tiny model's linear shapes, timed in one
// process with the operands as they are (ld = O and I) against copies whose
// leading dimension is padded by 16 floats (the copy time included),
// alternating repetitions (plain, A padded, B padded, both), and reports
// GFLOP/s and the ratio to plain for each. The ld rule of linear_backward
// (kernels/cpu/linear.c) comes from this table.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "kernels/ops.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void run(int ta, int tb, int M, int N, int K) {
  float *A = tsr_calloc((size_t)M * K, sizeof(float));
  float *B = tsr_calloc((size_t)K * N, sizeof(float));
  float *C = tsr_calloc((size_t)M * N, sizeof(float));
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < (size_t)K * N; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  int lda = ta ? M : K, ldb = tb ? K : N;
  gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);  // warm-up
  int reps = 0;
  double t0 = now(), t;
  do {
    gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    reps++;
    t = now() - t0;
  } while (t < 0.5 || reps < 3);
  double gflops = 2.0 * M * N * K * reps / t / 1e9;
  printf("%-10s ta=%d tb=%d M=%5d N=%5d K=%5d  %7.1f GFLOP/s  (%.2f ms)\n", gemm_library(), ta, tb, M, N, K,
         gflops, 1e3 * t / reps);
  tsr_free(A);
  tsr_free(B);
  tsr_free(C);
}

// ---------------------------------------------------------------- pad A/B
// Copies rows x cols (row stride ld) into dst with stride ldp.
static void repack(float *dst, int ldp, const float *src, int ld, int rows, int cols) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < rows; r++) memcpy(dst + (size_t)r * ldp, src + (size_t)r * ld, (size_t)cols * sizeof(float));
}

enum { PAD = 16, NVAR = 4 };
static const char *const var_name[NVAR] = {"plain", "A padded", "B padded", "both padded"};

// One rep of variant v: dw[O,I] (+)= dout[K,O]^T in[K,I], padded copies made first.
static void pad_rep(int v, int O, int I, int K, const float *dout, const float *in, float *Ap, float *Bp, float *C) {
  const float *A = dout, *B = in;
  int lda = O, ldb = I;
  if (v & 1) repack(Ap, O + PAD, dout, O, K, O), A = Ap, lda = O + PAD;
  if (v & 2) repack(Bp, I + PAD, in, I, K, I), B = Bp, ldb = I + PAD;
  gemm(1, 0, O, I, K, 1.0f, A, lda, B, ldb, 1.0f, C, I);
}

static void pad_shape(const char *name, int O, int I, int K, double seconds) {
  float *dout = tsr_calloc((size_t)K * O, sizeof(float)), *in = tsr_calloc((size_t)K * I, sizeof(float));
  float *Ap = tsr_calloc((size_t)K * (O + PAD), sizeof(float)), *Bp = tsr_calloc((size_t)K * (I + PAD), sizeof(float));
  float *C = tsr_calloc((size_t)O * I, sizeof(float));
  for (size_t i = 0; i < (size_t)K * O; i++) dout[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < (size_t)K * I; i++) in[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  double tot[NVAR] = {0}, best[NVAR];
  int reps = 0;
  for (int v = 0; v < NVAR; v++) pad_rep(v, O, I, K, dout, in, Ap, Bp, C), best[v] = 1e30;  // warm-up
  const double t_end = now() + seconds;
  do {
    for (int v0 = 0; v0 < NVAR; v0++) {
      const int v = (v0 + reps) % NVAR;  // rotate the order each round
      double t0 = now();
      pad_rep(v, O, I, K, dout, in, Ap, Bp, C);
      double t = now() - t0;
      tot[v] += t;
      if (t < best[v]) best[v] = t;
    }
    reps++;
  } while (now() < t_end || reps < 5);
  const double flop = 2.0 * O * I * K;
  printf("%-6s dw[%4d,%4d] K=%d lda=%d ldb=%d  %d rounds\n", name, O, I, K, O, I, reps);
  for (int v = 0; v < NVAR; v++)
    printf("  %-12s mean %6.1f GFLOP/s  best %6.1f GFLOP/s  (%.2f ms)  ratio to plain (means) %.3f\n", var_name[v],
           flop * reps / tot[v] / 1e9, flop / best[v] / 1e9, 1e3 * tot[v] / reps, tot[0] / tot[v]);
  tsr_free(dout), tsr_free(in), tsr_free(Ap), tsr_free(Bp), tsr_free(C);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "pad")) {
    const double sec = argc > 2 ? atof(argv[2]) : 3.0;
    printf("%s, padding +%d floats, %.1f s a shape\n", gemm_library(), PAD, sec);
    if (argc > 4) {  // pad SECONDS O I [O I ...]: other shapes
      for (int a = 3; a + 1 < argc; a += 2) pad_shape("shape", atoi(argv[a]), atoi(argv[a + 1]), 2048, sec);
      return 0;
    }
    // the tiny model (dim 256, mlp 1024): qkv, proj/cq/cproj, fc1, fc2; 2,048 tokens
    pad_shape("qkv", 768, 256, 2048, sec);
    pad_shape("proj", 256, 256, 2048, sec);
    pad_shape("fc1", 1024, 256, 2048, sec);
    pad_shape("fc2", 256, 1024, 2048, sec);
    pad_shape("wide", 768, 768, 2048, sec);  // gemm_bench's default 768-wide shape: not a power of two
    return 0;
  }
  static const int shapes[][3] = {{2048, 768, 256}, {2048, 256, 1024}, {2048, 768, 768}, {2048, 3072, 768}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    run(0, 1, M, N, K);  // linear forward: in w^T
    run(0, 0, M, N, K);  // linear backward din: dout w
    run(1, 0, N, K, M);  // linear backward dw: dout^T in  (reduction over the M rows)
  }
  return 0;
}
