// The op-test driver shared by the kernel unit tests (test_kernels_basic.c,
// test_kernels_vae.c). For every op with a backward, run_op checks:
//   1. fast forward and backward vs the reference;
//   2. reference backward vs central finite differences of L = sum(out * r),
//      L computed with the reference forward (with a check that the FD
//      gradient is non-trivial and that a 5% error in it would be caught);
//   3. the accumulate contract: backward twice gives twice the gradient
//      (bit-exact for the references), and backward onto a non-zero
//      gradient adds to it.
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

#define TOL_FAST 1e-5  // fast vs reference
#define TOL_FD 1e-2    // reference backward vs finite differences
#define FD_H 1e-3f
#define FD_SAMPLES 64

static uint32_t g_stream = 1;  // every tl_fill draws a fresh stream

static float *fzeros(int64_t n) {
  float *x = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
  if (!x) abort();
  return x;
}
static float *frand(int64_t n, float scale) {
  float *x = fzeros(n);
  tl_fill(x, n, g_stream++);
  for (int64_t i = 0; i < n; i++) x[i] *= scale;
  return x;
}
static float *fcopy(const float *s, int64_t n) {
  float *x = fzeros(n);
  memcpy(x, s, (size_t)n * sizeof(float));
  return x;
}

// ---------------------------------------------------------------- generic op driver
enum { MAXB = 6 };
typedef struct OpTest {
  const char *name;
  void *ctx;
  int nout;
  int64_t out_n[MAXB];
  const char *out_name[MAXB];
  void (*fwd)(void *ctx, int fast, float **outs);  // outputs (and caches) into outs
  double (*loss)(void *ctx);                       // sum(out * r), reference forward
  int ngrad;
  int64_t grad_n[MAXB];
  const char *grad_name[MAXB];
  float *param[MAXB];  // the input grad i differentiates (perturbed for FD)
  void (*bwd)(void *ctx, int fast, float **grads);  // accumulates into grads
  int fast_exact_accum;                             // fast backward must double bit-exactly
  int skip_fd;                                      // large case: threads on, no FD (too slow)
} OpTest;

static double dot_d(const float *a, const float *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

// Reference gradient `grad` of t->loss w.r.t. x vs central differences.
static void check_fd(const OpTest *t, const char *gname, float *x, int64_t n, const float *grad) {
  int k = n < FD_SAMPLES ? (int)n : FD_SAMPLES;
  float *fd = fzeros(k), *an = fzeros(k), *an5 = fzeros(k);
  for (int s = 0; s < k; s++) {
    int64_t i = n <= FD_SAMPLES ? s : (int64_t)(rng_uniform(99, RNG_TEST, 7, (uint32_t)n, (uint32_t)s) * n);
    if (i >= n) i = n - 1;
    const float x0 = x[i];
    x[i] = x0 + FD_H;
    const float xp = x[i];
    const double lp = t->loss(t->ctx);
    x[i] = x0 - FD_H;
    const float xm = x[i];
    const double lm = t->loss(t->ctx);
    x[i] = x0;
    fd[s] = (float)((lp - lm) / ((double)xp - (double)xm));
    an[s] = grad[i];
    an5[s] = 1.05f * grad[i];
  }
  char what[128];
  snprintf(what, sizeof what, "%s d%s vs FD", t->name, gname);
  EXPECT_CLOSE(an, fd, k, TOL_FD, what);
  double rms = sqrt(dot_d(fd, fd, k) / k);
  EXPECT(rms > 1e-3, "%s: FD gradient is trivial (rms %.3g)", what, rms);
  EXPECT(tl_rel_err(an5, fd, k) > TOL_FD, "%s: FD check would not catch a 5%% error", what);
  free(fd);
  free(an);
  free(an5);
}

static inline void run_op(const OpTest *t) {
  printf("[%s]\n", t->name);
  char what[160];
  // 1a. forward: fast vs reference (buffers start with the same non-zero
  //     pattern, so padding a stride skips must be left alike)
  float *of[MAXB], *orf[MAXB];
  for (int i = 0; i < t->nout; i++) {
    of[i] = frand(t->out_n[i], 1.0f);
    orf[i] = fcopy(of[i], t->out_n[i]);
  }
  t->fwd(t->ctx, 1, of);
  t->fwd(t->ctx, 0, orf);
  for (int i = 0; i < t->nout; i++) {
    snprintf(what, sizeof what, "%s %s fast vs ref", t->name, t->out_name[i]);
    EXPECT_CLOSE(of[i], orf[i], t->out_n[i], TOL_FAST, what);
    free(of[i]);
    free(orf[i]);
  }
  if (!t->bwd) return;
  // 1b. backward: fast vs reference, from zero gradients
  float *gf[MAXB], *gr[MAXB];
  for (int i = 0; i < t->ngrad; i++) {
    gf[i] = fzeros(t->grad_n[i]);
    gr[i] = fzeros(t->grad_n[i]);
  }
  t->bwd(t->ctx, 1, gf);
  t->bwd(t->ctx, 0, gr);
  for (int i = 0; i < t->ngrad; i++) {
    snprintf(what, sizeof what, "%s d%s fast vs ref", t->name, t->grad_name[i]);
    EXPECT_CLOSE(gf[i], gr[i], t->grad_n[i], TOL_FAST, what);
  }
  // 2. reference backward vs finite differences
  for (int i = 0; i < t->ngrad; i++)
    if (t->param[i] && !t->skip_fd) check_fd(t, t->grad_name[i], t->param[i], t->grad_n[i], gr[i]);
  // 3. accumulate: twice from zero = 2x; once onto R = R + g
  for (int fast = 0; fast <= 1; fast++) {
    float **g1 = fast ? gf : gr;
    float *g2[MAXB], *g3[MAXB], *r3[MAXB];
    for (int i = 0; i < t->ngrad; i++) {
      g2[i] = fzeros(t->grad_n[i]);
      r3[i] = frand(t->grad_n[i], 1.0f);
      g3[i] = fcopy(r3[i], t->grad_n[i]);
    }
    t->bwd(t->ctx, fast, g2);
    t->bwd(t->ctx, fast, g2);
    t->bwd(t->ctx, fast, g3);
    for (int i = 0; i < t->ngrad; i++) {
      float *two = fzeros(t->grad_n[i]), *sum = fzeros(t->grad_n[i]);
      for (int64_t j = 0; j < t->grad_n[i]; j++) {
        two[j] = 2.0f * g1[i][j];
        sum[j] = r3[i][j] + g1[i][j];
      }
      double tol = (!fast || t->fast_exact_accum) ? 0.0 : 1e-6;
      snprintf(what, sizeof what, "%s d%s %s twice = 2x", t->name, t->grad_name[i], fast ? "fast" : "ref");
      EXPECT_CLOSE(g2[i], two, t->grad_n[i], tol, what);
      snprintf(what, sizeof what, "%s d%s %s onto R = R+g", t->name, t->grad_name[i], fast ? "fast" : "ref");
      EXPECT_CLOSE(g3[i], sum, t->grad_n[i], 1e-6, what);
      free(two);
      free(sum);
      free(g2[i]);
      free(g3[i]);
      free(r3[i]);
    }
  }
  for (int i = 0; i < t->ngrad; i++) {
    free(gf[i]);
    free(gr[i]);
  }
}
