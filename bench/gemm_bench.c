// GEMM throughput on the model's shapes: prints GFLOP/s of gemm() (whatever
// library this build uses: gemm_library()) for each (ta,tb) layout used by
// linear_forward (N,T), linear_backward din (N,N) and dw (T,N).
// Build with and without -DTSR_HAVE_DNNL to compare oneDNN and the blocked
// C fallback, e.g.
//   mpicc -std=gnu17 -O3 -march=native -fopenmp -Isrc -DTSR_HAVE_DNNL src/core/*.c
//     src/kernels/cpu/gemm.c bench/gemm_bench.c -ldnnl -lm -o /tmp/gemm_bench
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

int main(int argc, char **argv) {
  static const int shapes[][3] = {{2048, 768, 256}, {2048, 256, 1024}, {2048, 768, 768}, {2048, 3072, 768}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    run(0, 1, M, N, K);  // linear forward: in w^T
    run(0, 0, M, N, K);  // linear backward din: dout w
    run(1, 0, N, K, M);  // linear backward dw: dout^T in  (reduction over the M rows)
  }
  return 0;
}
