#include "train/peak.h"

#include <stdio.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "core/timer.h"
#include "kernels/ops.h"

// Twelve independent accumulator chains (named, so they stay in registers)
// hide the FMA latency (4-5 cycles) on two FMA pipes; each iteration does
// twelve vector FMAs of W lanes.
enum { ITERS = 4096, REPS = 200 };

#define FMA12(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) op(9) op(10) op(11)
#define FMA_DECL(i) vec a##i = m * (float)(i + 1);
#define FMA_STEP(i) a##i = a##i * m + c;
#define FMA_SUM(i) sink += a##i[0];

// The chains live in one call with no call inside (a call would spill every
// vector register); the caller times whole calls.
#define FMA_KERNEL(name, target_attr, W)                                       \
  target_attr __attribute__((noinline)) static float name##_run(float seed) { \
    typedef float vec __attribute__((vector_size(4 * W)));                    \
    vec m, c;                                                                 \
    for (int k = 0; k < W; k++) { m[k] = seed; c[k] = 1e-7f; }                \
    FMA12(FMA_DECL)                                                           \
    for (int it = 0; it < ITERS; it++) {                                      \
      FMA12(FMA_STEP)                                                         \
      __asm__ volatile("" : "+x"(a0), "+x"(a11)); /* keep the loop */        \
    }                                                                         \
    float sink = 0;                                                           \
    FMA12(FMA_SUM)                                                            \
    return sink;                                                              \
  }                                                                           \
  static double name(void) {                                                  \
    double best = 1e30;                                                       \
    float sink = 0;                                                           \
    for (int r = 0; r < REPS; r++) {                                          \
      double t0 = timer_now();                                                \
      sink += name##_run(0.999999f);                                          \
      double dt = timer_now() - t0;                                           \
      if (dt < best) best = dt;                                               \
    }                                                                         \
    __asm__ volatile("" : : "x"(sink)); /* the results are used */           \
    return 2.0 * W * 12 * (double)ITERS / best * 1e-9;                        \
  }

#if defined(__x86_64__)
FMA_KERNEL(fma_avx512, __attribute__((target("avx512f"))), 16)
FMA_KERNEL(fma_avx2, __attribute__((target("avx2,fma"))), 8)
#endif
FMA_KERNEL(fma_plain, , 4)

#if defined(__x86_64__)
// Twelve independent vdpbf16ps chains, as the FMA kernels: 64 flops each.
#define DP_DECL(i) __m512 d##i = _mm512_set1_ps((float)(i + 1));
#define DP_STEP(i) d##i = _mm512_dpbf16_ps(d##i, x, y);
#define DP_SUM(i) sink += _mm512_reduce_add_ps(d##i);
__attribute__((target("avx512f,avx512bf16"), noinline)) static float dpbf16_run(float seed) {
  const __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(seed), _mm512_set1_ps(seed));
  const __m512bh y = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-7f), _mm512_set1_ps(1e-7f));
  FMA12(DP_DECL)
  for (int it = 0; it < ITERS; it++) {
    FMA12(DP_STEP)
    __asm__ volatile("" : "+v"(d0), "+v"(d11)); /* keep the loop */
  }
  float sink = 0;
  FMA12(DP_SUM)
  return sink;
}
static double dpbf16(void) {
  double best = 1e30;
  float sink = 0;
  for (int r = 0; r < REPS; r++) {
    double t0 = timer_now();
    sink += dpbf16_run(0.999999f);
    double dt = timer_now() - t0;
    if (dt < best) best = dt;
  }
  __asm__ volatile("" : : "x"(sink));
  return 64.0 * 12 * (double)ITERS / best * 1e-9;
}
#endif

Peak peak_bf16(int threads) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512bf16")) {
    Peak p = {.threads = threads < 1 ? 1 : threads, .isa = "avx512-bf16", .kind = "bf16 dot-product"};
    p.per_thread_gflops = dpbf16();
    p.gflops = p.per_thread_gflops * p.threads;
    return p;
  }
#endif
  return peak_fp32(threads);
}

Peak peak_for(int bf16_host, int threads) { return bf16_host ? peak_bf16(threads) : peak_fp32(threads); }

Peak peak_fp32(int threads) {
  Peak p = {.threads = threads < 1 ? 1 : threads, .kind = "fp32 FMA"};
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) {
    p.per_thread_gflops = fma_avx512();
    p.isa = "avx512";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    p.per_thread_gflops = fma_avx2();
    p.isa = "avx2+fma";
  } else
#endif
  {
    p.per_thread_gflops = fma_plain();
    p.isa = "sse";
  }
  p.gflops = p.per_thread_gflops * p.threads;
  return p;
}

void peak_describe(const Peak *p, char *buf, int n) {
  snprintf(buf, (size_t)n, "%s peak %d x %.1f GFLOP/s (%s, measured)", p->kind, p->threads, p->per_thread_gflops,
           p->isa);
}

double measure_gemm_gflops(void) {
  const int n = 1024, reps = 6;
  float *a = tsr_calloc((size_t)n * n, sizeof(float)), *b = tsr_calloc((size_t)n * n, sizeof(float));
  float *c = tsr_calloc((size_t)n * n, sizeof(float));
  for (size_t i = 0; i < (size_t)n * n; i++) a[i] = b[i] = 1.0f / (float)(1 + i % 7);
  gemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = timer_now();
    gemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    double dt = timer_now() - t0;
    if (dt < best) best = dt;
  }
  tsr_free(a);
  tsr_free(b);
  tsr_free(c);
  return 2.0 * n * (double)n * n / best * 1e-9;
}
