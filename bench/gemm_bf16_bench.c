// Does the CPU's bf16 mode pay on this machine? For the tiny, demo and xl
// models' forward linear shapes, C[M,N] = A[M,K] B[N,K]^T timed two ways in
// one process, alternating repetitions, median of each:
//   fp32  gemm()       (dnnl_sgemm: the fp32 mode)
//   bf16  gemm_bf16()  (both operands rounded to bf16 each call, then
//                       oneDNN's matmul: the bf16 mode, kernels/cpu/gemm_bf16.c)
// and the two results' norm-relative difference (bf16's rounding, ~1e-3).
// Prints the CPU and GFLOP/s per shape. Informational (no assertion).
// Build and run after `make`:
//   mpicc -std=gnu17 -O3 -march=native -fopenmp -Isrc -DTSR_HAVE_DNNL bench/gemm_bf16_bench.c build/libtessera.a
//     -ldnnl -lm -o build/gemm_bf16_bench && OMP_NUM_THREADS=2 build/gemm_bf16_bench [SECONDS]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/ops.h"

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}
static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return v[n / 2];
}

static void cpu_name(char *buf, size_t size) {
  snprintf(buf, size, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "model name", 10)) {
      const char *c = strchr(line, ':');
      if (c) snprintf(buf, size, "%s", c + 2);
      buf[strcspn(buf, "\n")] = 0;
      break;
    }
  fclose(f);
}

static void shape(const char *what, int M, int N, int K, double seconds) {
  float *A = tsr_calloc((size_t)M * K, sizeof(float)), *B = tsr_calloc((size_t)N * K, sizeof(float));
  float *C = tsr_calloc((size_t)M * N, sizeof(float)), *C16 = tsr_calloc((size_t)M * N, sizeof(float));
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);  // warm-ups (the bf16 primitive is created here)
  gemm_bf16(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C16, N);
  double num = 0, den = 0;
  for (size_t i = 0; i < (size_t)M * N; i++) num += (C16[i] - C[i]) * (double)(C16[i] - C[i]), den += (double)C[i] * C[i];
  enum { MAXR = 4000 };
  static double t[2][MAXR];
  int reps = 0;
  const double t_end = timer_now() + seconds;
  while (reps < MAXR && (timer_now() < t_end || reps < 5)) {
    double t0 = timer_now();
    gemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    t[0][reps] = timer_now() - t0;
    t0 = timer_now();
    gemm_bf16(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C16, N);
    t[1][reps] = timer_now() - t0;
    reps++;
  }
  const double fl = 2.0 * M * N * K * 1e-9, f32 = fl / median(t[0], reps), b16 = fl / median(t[1], reps);
  printf("%-10s M %5d N %5d K %5d  fp32 %7.1f  bf16 %7.1f GFLOP/s (x%.2f)  rel diff %.1e  %d reps\n", what, M, N, K,
         f32, b16, b16 / f32, sqrt(num / den), reps);
  tsr_free(A), tsr_free(B), tsr_free(C), tsr_free(C16);
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  char cpu[256], why[200];
  cpu_name(cpu, sizeof cpu);
  printf("CPU: %s; GEMM: %s; OMP_NUM_THREADS=%s; %.1f s per shape\n", cpu, gemm_library(),
         getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)", seconds);
  if (!gemm_bf16_available(why, sizeof why)) {
    printf("no bf16 mode here: %s\n", why);
    return 0;
  }
  static const struct { const char *what; int M, N, K; } shapes[] = {
      {"tiny qkv", 2048, 768, 256},  {"tiny proj", 2048, 256, 256}, {"tiny fc1", 2048, 1024, 256},
      {"tiny fc2", 2048, 256, 1024}, {"demo qkv", 1024, 576, 192},  {"demo fc1", 1024, 768, 192},
      {"demo fc2", 1024, 192, 768},  {"xl fc1", 4096, 4608, 1152},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    shape(shapes[i].what, shapes[i].M, shapes[i].N, shapes[i].K, seconds);
  return 0;
}
