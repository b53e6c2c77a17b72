// Would bf16 GEMM operands pay on this CPU? (issue 19's bf16 path, measured
// before it is built.) For the tiny and demo models' linear shapes, the
// forward product C[M,N] = A[M,K] B[N,K]^T timed three ways, in one process,
// alternating repetitions, median of each:
//   fp32   dnnl_sgemm (what tessera's gemm() runs);
//   bf16   oneDNN's matmul primitive, bf16 A and B, fp32 C (operands already
//          bf16: the product alone);
//   bf16+  the same plus rounding A and B from fp32 each call (what a bf16
//          path over fp32 activations and master weights has to pay).
// Prints the CPU, oneDNN's implementation for the bf16 primitive (e.g.
// brg:avx512_core_bf16) and GFLOP/s and ratios per shape. Informational.
// Build (after `make`; mpicc only for the include paths of core):
//   gcc -std=gnu17 -O3 -march=native -fopenmp -Isrc bench/gemm_bf16_bench.c -ldnnl -lm -o build/gemm_bf16_bench
//   OMP_NUM_THREADS=2 build/gemm_bf16_bench [SECONDS]
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(call)                                                               \
  do {                                                                            \
    dnnl_status_t s_ = (call);                                                    \
    if (s_ != dnnl_success) {                                                     \
      fprintf(stderr, "gemm_bf16_bench: %s failed (status %d)\n", #call, (int)s_); \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

// round to nearest even, NaN kept
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}
static void round_all(uint16_t *out, const float *in, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) out[i] = to_bf16(in[i]);
}

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

static void shape(const char *what, int M, int N, int K, double seconds, dnnl_engine_t eng, dnnl_stream_t st) {
  float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * N);
  uint16_t *A16 = malloc(2 * (size_t)M * K), *B16 = malloc(2 * (size_t)N * K);
  for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  round_all(A16, A, (size_t)M * K);
  round_all(B16, B, (size_t)N * K);
  // the bf16 primitive: src A [M,K] row-major, weights B^T as [K,N] with strides (1, K), dst [M,N]
  const dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N}, bstr = {1, K};
  dnnl_memory_desc_t amd, bmd, cmd;
  CHECK(dnnl_memory_desc_init_by_tag(&amd, 2, ad, dnnl_bf16, dnnl_ab));
  CHECK(dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_bf16, bstr));
  CHECK(dnnl_memory_desc_init_by_tag(&cmd, 2, cd, dnnl_f32, dnnl_ab));
  dnnl_matmul_desc_t md;
  CHECK(dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd));
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
  const char *impl = "?";
  CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
  dnnl_primitive_t prim;
  CHECK(dnnl_primitive_create(&prim, pd));
  dnnl_memory_t am, bm, cm;
  CHECK(dnnl_memory_create(&am, &amd, eng, A16));
  CHECK(dnnl_memory_create(&bm, &bmd, eng, B16));
  CHECK(dnnl_memory_create(&cm, &cmd, eng, C));
  const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};

  // agreement: the bf16 product against fp32 (norm-relative; bf16 operands: ~1e-3)
  float *Cf = malloc(sizeof(float) * M * N);
  CHECK(dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, Cf, N));
  CHECK(dnnl_primitive_execute(prim, st, 3, args));
  CHECK(dnnl_stream_wait(st));
  double num = 0, den = 0;
  for (size_t i = 0; i < (size_t)M * N; i++) num += (C[i] - Cf[i]) * (double)(C[i] - Cf[i]), den += (double)Cf[i] * Cf[i];

  enum { MAXR = 4000 };
  static double t[3][MAXR];
  int reps = 0;
  const double t_end = now() + seconds;
  while (reps < MAXR && (now() < t_end || reps < 5)) {
    double t0 = now();
    CHECK(dnnl_sgemm('N', 'T', M, N, K, 1.0f, A, K, B, K, 0.0f, Cf, N));
    t[0][reps] = now() - t0;
    t0 = now();
    CHECK(dnnl_primitive_execute(prim, st, 3, args));
    CHECK(dnnl_stream_wait(st));
    t[1][reps] = now() - t0;
    t0 = now();
    round_all(A16, A, (size_t)M * K);
    round_all(B16, B, (size_t)N * K);
    CHECK(dnnl_primitive_execute(prim, st, 3, args));
    CHECK(dnnl_stream_wait(st));
    t[2][reps] = now() - t0;
    reps++;
  }
  const double fl = 2.0 * M * N * K * 1e-9;
  const double f32 = fl / median(t[0], reps), b16 = fl / median(t[1], reps), b16r = fl / median(t[2], reps);
  printf("%-10s M %5d N %5d K %5d  fp32 %7.1f  bf16 %7.1f (x%.2f)  bf16+round %7.1f (x%.2f) GFLOP/s  rel err %.1e  "
         "%d reps  [%s]\n",
         what, M, N, K, f32, b16, b16 / f32, b16r, b16r / f32, sqrt(num / den), reps, impl);
  dnnl_memory_destroy(am), dnnl_memory_destroy(bm), dnnl_memory_destroy(cm);
  dnnl_primitive_destroy(prim);
  dnnl_primitive_desc_destroy(pd);
  free(A), free(B), free(C), free(Cf), free(A16), free(B16);
}

int main(int argc, char **argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  char cpu[256];
  cpu_name(cpu, sizeof cpu);
  const dnnl_version_t *v = dnnl_version();
  printf("CPU: %s; oneDNN %d.%d.%d; OMP_NUM_THREADS=%s; %.1f s per shape\n", cpu, v->major, v->minor, v->patch,
         getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "(unset)", seconds);
  dnnl_engine_t eng;
  dnnl_stream_t st;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
  // forward products of the linears: tiny (B 4 x 512 tokens, D 256), demo (B 16 x 64 tokens, D 192)
  static const struct { const char *what; int M, N, K; } shapes[] = {
      {"tiny qkv", 2048, 768, 256},  {"tiny proj", 2048, 256, 256}, {"tiny fc1", 2048, 1024, 256},
      {"tiny fc2", 2048, 256, 1024}, {"demo qkv", 1024, 576, 192},  {"demo fc1", 1024, 768, 192},
      {"demo fc2", 1024, 192, 768},  {"xl fc1", 4096, 4608, 1152},
  };
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
    shape(shapes[i].what, shapes[i].M, shapes[i].N, shapes[i].K, seconds, eng, st);
  dnnl_stream_destroy(st);
  dnnl_engine_destroy(eng);
  return 0;
}
