// Tiny test harness shared by the unit tests: counts failures, prints one
// line per check, exits non-zero if any failed.
#pragma once
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/fpenv.h"
#include "core/rng.h"

static int tl_failures = 0, tl_checks = 0;

// The kernels are tested in the floating-point environment bin/tessera runs
// them in: denormals flushed in every thread (core/fpenv.h, main.c). Set in
// the main thread only: the OpenMP pool, started later, inherits it (starting
// the pool here would hang tests that fork and use OpenMP in the child).
__attribute__((constructor)) static void tl_fpenv(void) { fpenv_flush_denormals(); }

#define EXPECT(cond, ...)                                       \
  do {                                                          \
    tl_checks++;                                                \
    if (!(cond)) {                                              \
      tl_failures++;                                            \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);               \
      printf(__VA_ARGS__);                                      \
      printf("\n");                                             \
    }                                                           \
  } while (0)

// ||a-b|| / max(||b||, tiny)
static inline double tl_rel_err(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - (double)b[i];
    num += d * d;
    den += (double)b[i] * (double)b[i];
  }
  return sqrt(num) / (den > 1e-30 ? sqrt(den) : 1.0);
}

// Check rel error and print it, so the log shows the margin as well as the verdict.
#define EXPECT_CLOSE(a, b, n, tol, what)                                                   \
  do {                                                                                     \
    double e_ = tl_rel_err((a), (b), (n));                                                 \
    EXPECT(e_ <= (tol), "%s: rel err %.3g > %.3g", (what), e_, (double)(tol));             \
    if (e_ <= (tol)) printf("  ok  %-44s rel err %.2e (tol %.0e)\n", (what), e_, (double)(tol)); \
  } while (0)

// Uniform(-1,1) from the counter RNG; `stream` keeps arrays independent.
static inline void tl_fill(float *x, int64_t n, uint32_t stream) {
  for (int64_t i = 0; i < n; i++)
    x[i] = 2.0f * rng_uniform(1234, RNG_TEST, stream, (uint32_t)(i >> 32), (uint32_t)i) - 1.0f;
}

static inline int tl_finish(const char *name) {
  printf("%s: %d checks, %d failed\n", name, tl_checks, tl_failures);
  return tl_failures ? 1 : 0;
}

// A library call that must succeed (test set-up): its returned error
// (core/error.h) ends the test with the message. tl_err is the TsrErr the
// call was given.
static TsrErr tl_err;
#define MUST(call)                                                                 \
  do {                                                                             \
    if ((call) != 0) {                                                             \
      fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, tl_err.msg); \
      exit(1);                                                                     \
    }                                                                              \
  } while (0)
static inline void *tl_must_ptr(void *p, const char *what) {
  if (!p) {
    fprintf(stderr, "%s failed: %s\n", what, tl_err.msg);
    exit(1);
  }
  return p;
}
#define MUST_PTR(call) tl_must_ptr((call), #call)
