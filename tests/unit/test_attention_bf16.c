// attention_forward_bf16 / attention_backward_bf16 (kernels/cpu/attention_bf16.c,
// the CPU backend's bf16 mode): tile products on bf16 operands, fp32 softmax
// statistics and accumulators. Held to the plain fp32 reference
// (attention_*_ref) and to the fp32 fast kernel with a norm-wise relative
// error <= 2e-2 that is also > 1e-6 (the products really round), on odd
// shapes: Nq != Nk, Nk not a multiple of the tiles, C = 24, 40, 64, 72, 128 and an
// odd C = 21, kvalid masking with several lengths (1 key included), B*H
// fewer than threads (the split-key backward), the model's packed qkv
// layout, Nq = Nk = 1. Also: lse; += accumulation onto nonzero dq, dk, dv
// (the increments are compared); masked keys and the gaps between head
// slices untouched (bit-exact); each gradient alone = the same bits as all
// three; twice = 2x; out with lse NULL = out with lse; the bf16 CPU backend's
// attention entries are these functions. On a build without AVX512-BF16 it
// prints SKIPPED and checks that the functions are the fp32 ones (same bits).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/backend.h"
#include "kernels/ops.h"
#include "testlib.h"

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
#define NATIVE 1
#else
#define NATIVE 0
#endif

#define TOL_BF16 2e-2  // bf16 operands: at most this
#define MIN_BF16 1e-6  // and at least this (it really rounds)

static float *fnew(size_t n, uint32_t stream, float scale) {
  float *x = calloc(n ? n : 1, sizeof(float));
  if (!x) abort();
  if (stream) {
    tl_fill(x, (int64_t)n, stream);
    for (size_t i = 0; i < n; i++) x[i] *= scale;
  }
  return x;
}
static float *fdup(const float *s, size_t n) {
  float *x = fnew(n, 0, 0);
  memcpy(x, s, n * sizeof(float));
  return x;
}

static double wall(void) {
#ifdef _OPENMP
  return omp_get_wtime();
#else
  return 0;
#endif
}

// rel err of got vs want: <= TOL_BF16 and > MIN_BF16. Without AVX512-BF16
// (the fp32 fallback) only the comparisons with the fp32 fast kernel are
// made, and they must give the same bits.
static void check_bf16(const char *what, const float *got, const float *want, size_t n, int vs_fast) {
  const double e = tl_rel_err(got, want, (int64_t)n);
  if (!NATIVE) {
    if (vs_fast) EXPECT(memcmp(got, want, n * sizeof(float)) == 0, "%s: not the fp32 result (%.2e)", what, e);
    return;
  }
  EXPECT(e <= TOL_BF16 && e > MIN_BF16, "%s: rel err %.3g (want %.0e < err <= %.0e)", what, e, MIN_BF16, TOL_BF16);
  if (e <= TOL_BF16 && e > MIN_BF16) printf("  ok  %-66s rel err %.2e\n", what, e);
}

typedef struct {
  const char *name;
  int B, Nq, Nk, H, C, ldq, ldk, ldv, ldo;
  const int *kvalid;
} Att;

typedef struct {
  float *q, *k, *v, *dout;
  size_t nq, nk, nv, no, nl;
} In;

static In make_in(const Att *a, uint32_t seed) {
  In x;
  x.nq = (size_t)a->B * a->Nq * a->ldq;
  x.nk = (size_t)a->B * a->Nk * a->ldk;
  x.nv = (size_t)a->B * a->Nk * a->ldv;
  x.no = (size_t)a->B * a->Nq * a->ldo;
  x.nl = (size_t)a->B * a->H * a->Nq;
  x.q = fnew(x.nq, seed + 1, 2.5f);  // sharper softmax
  x.k = fnew(x.nk, seed + 2, 1.0f);
  x.v = fnew(x.nv, seed + 3, 1.0f);
  x.dout = fnew(x.no, seed + 4, 1.0f);
  return x;
}

typedef void (*FwdFn)(float *, int, float *, const float *, int, const float *, int, const float *, int, const int *,
                      int, int, int, int, int);
typedef void (*BwdFn)(float *, float *, float *, const float *, const float *, int, const float *, const float *, int,
                      const float *, int, const float *, int, const int *, int, int, int, int, int);

static void fwd(FwdFn f, const Att *a, const In *x, float *out, float *lse) {
  f(out, a->ldo, lse, x->q, a->ldq, x->k, a->ldk, x->v, a->ldv, a->kvalid, a->B, a->Nq, a->Nk, a->H, a->C);
}
static void bwd(BwdFn f, const Att *a, const In *x, const float *out, const float *lse, float *dq, float *dk,
                float *dv) {
  f(dq, dk, dv, x->dout, out, a->ldo, lse, x->q, a->ldq, x->k, a->ldk, x->v, a->ldv, a->kvalid, a->B, a->Nq, a->Nk,
    a->H, a->C);
}

static int in_slice(size_t idx, int ld, int H, int C) { return (int)(idx % (size_t)ld) < H * C; }

// entries of g (initial g0) that must not change: gaps between head slices, masked keys
static int untouched_bad(const Att *a, const float *g, const float *g0, size_t n, int ld, int keys) {
  int bad = 0;
  for (size_t i = 0; i < n; i++) {
    const size_t row = i / (size_t)ld;
    const int b = (int)(row / (size_t)(keys ? a->Nk : a->Nq)), j = (int)(row % (size_t)(keys ? a->Nk : a->Nq));
    const int masked = keys && a->kvalid && j >= a->kvalid[b];
    if ((masked || !in_slice(i, ld, a->H, a->C)) && g[i] != g0[i]) bad++;
  }
  return bad;
}

static float *diff(const float *g, const float *g0, size_t n) {
  float *d = fnew(n, 0, 0);
  for (size_t i = 0; i < n; i++) d[i] = g[i] - g0[i];
  return d;
}

static void test_case(const Att *a) {
  char what[192];
  In x = make_in(a, 100);
  float *out_r = fnew(x.no, 0, 0), *lse_r = fnew(x.nl, 0, 0);
  float *out_f = fnew(x.no, 0, 0), *lse_f = fnew(x.nl, 0, 0);
  float *out_b = fnew(x.no, 0, 0), *lse_b = fnew(x.nl, 0, 0), *out_b2 = fnew(x.no, 0, 0);
  for (size_t i = 0; i < x.no; i++) out_b[i] = out_b2[i] = 7.0f;  // sentinel in the gaps
  fwd(attention_forward_ref, a, &x, out_r, lse_r);
  fwd(attention_forward, a, &x, out_f, lse_f);
  fwd(attention_forward_bf16, a, &x, out_b, lse_b);
  fwd(attention_forward_bf16, a, &x, out_b2, NULL);
  int gap = 0;
  for (size_t i = 0; i < x.no; i++) gap += !in_slice(i, a->ldo, a->H, a->C) && out_b[i] != 7.0f;
  EXPECT(gap == 0, "%s: bf16 forward wrote %d entries between the head slices", a->name, gap);
  for (size_t i = 0; i < x.no; i++)
    if (!in_slice(i, a->ldo, a->H, a->C)) out_b[i] = out_r[i], out_b2[i] = out_r[i];
  snprintf(what, sizeof what, "%s fwd out bf16 vs ref", a->name);
  check_bf16(what, out_b, out_r, x.no, 0);
  snprintf(what, sizeof what, "%s fwd lse bf16 vs ref", a->name);
  check_bf16(what, lse_b, lse_r, x.nl, 0);
  snprintf(what, sizeof what, "%s fwd out bf16 vs fp32 fast", a->name);
  check_bf16(what, out_b, out_f, x.no, 1);
  snprintf(what, sizeof what, "%s fwd lse bf16 vs fp32 fast", a->name);
  check_bf16(what, lse_b, lse_f, x.nl, 1);
  EXPECT(memcmp(out_b, out_b2, x.no * sizeof(float)) == 0, "%s: bf16 forward out with lse NULL differs", a->name);

  // Backward from the reference's out and lse, onto nonzero gradients.
  float *dq0 = fnew(x.nq, 201, 1.0f), *dk0 = fnew(x.nk, 202, 1.0f), *dv0 = fnew(x.nv, 203, 1.0f);
  float *dq_r = fdup(dq0, x.nq), *dk_r = fdup(dk0, x.nk), *dv_r = fdup(dv0, x.nv);
  float *dq_f = fdup(dq0, x.nq), *dk_f = fdup(dk0, x.nk), *dv_f = fdup(dv0, x.nv);
  float *dq_b = fdup(dq0, x.nq), *dk_b = fdup(dk0, x.nk), *dv_b = fdup(dv0, x.nv);
  bwd(attention_backward_ref, a, &x, out_r, lse_r, dq_r, dk_r, dv_r);
  bwd(attention_backward, a, &x, out_r, lse_r, dq_f, dk_f, dv_f);
  bwd(attention_backward_bf16, a, &x, out_r, lse_r, dq_b, dk_b, dv_b);
  const int bad = untouched_bad(a, dq_b, dq0, x.nq, a->ldq, 0) + untouched_bad(a, dk_b, dk0, x.nk, a->ldk, 1) +
                  untouched_bad(a, dv_b, dv0, x.nv, a->ldv, 1);
  EXPECT(bad == 0, "%s: bf16 backward changed %d entries at masked keys or between the slices", a->name, bad);
  struct {
    const char *name;
    float *b, *r, *f, *g0;
    size_t n;
  } g[3] = {{"dq", dq_b, dq_r, dq_f, dq0, x.nq}, {"dk", dk_b, dk_r, dk_f, dk0, x.nk}, {"dv", dv_b, dv_r, dv_f, dv0, x.nv}};
  float *inc_b[3];
  for (int i = 0; i < 3; i++) {
    float *ib = diff(g[i].b, g[i].g0, g[i].n), *ir = diff(g[i].r, g[i].g0, g[i].n), *iff = diff(g[i].f, g[i].g0, g[i].n);
    if (a->Nk == 1 && i < 2 && NATIVE) {
      // one key: dS = P (dP - D) is exactly 0, so dq, dk are 0 up to rounding
      // (dP from bf16 operands, D in fp32): only their size is checked
      float worst = 0;
      for (size_t e = 0; e < g[i].n; e++) worst = fabsf(ib[e]) > worst ? fabsf(ib[e]) : worst;
      EXPECT(worst <= 1e-2f, "%s bwd %s: one key, |d| up to %.3g (want ~0)", a->name, g[i].name, worst);
      printf("  ok  %-66s max |%s| %.2e (one key: 0)\n", a->name, g[i].name, worst);
    } else {
      snprintf(what, sizeof what, "%s bwd %s (+=) bf16 vs ref", a->name, g[i].name);
      check_bf16(what, ib, ir, g[i].n, 0);
      snprintf(what, sizeof what, "%s bwd %s (+=) bf16 vs fp32 fast", a->name, g[i].name);
      check_bf16(what, ib, iff, g[i].n, 1);
    }
    inc_b[i] = ib;
    free(ir), free(iff);
  }
  // each gradient alone: the same bits as with the others
  float *dq1 = fdup(dq0, x.nq), *dk1 = fdup(dk0, x.nk), *dv1 = fdup(dv0, x.nv);
  bwd(attention_backward_bf16, a, &x, out_r, lse_r, dq1, NULL, NULL);
  bwd(attention_backward_bf16, a, &x, out_r, lse_r, NULL, dk1, NULL);
  bwd(attention_backward_bf16, a, &x, out_r, lse_r, NULL, NULL, dv1);
  EXPECT(!memcmp(dq1, dq_b, x.nq * 4) && !memcmp(dk1, dk_b, x.nk * 4) && !memcmp(dv1, dv_b, x.nv * 4),
         "%s: bf16 dq|dk|dv alone differ from the full call's", a->name);
  // a second call adds the same again (deterministic)
  bwd(attention_backward_bf16, a, &x, out_r, lse_r, dq_b, dk_b, dv_b);
  double worst = 0;
  for (int i = 0; i < 3; i++) {
    float *two = diff(g[i].b, g[i].g0, g[i].n), *want = fnew(g[i].n, 0, 0);
    for (size_t e = 0; e < g[i].n; e++) want[e] = 2 * inc_b[i][e];
    const double e = tl_rel_err(two, want, (int64_t)g[i].n);
    worst = e > worst ? e : worst;
    free(two), free(want), free(inc_b[i]);
  }
  EXPECT(worst <= 1e-6, "%s: bf16 backward twice != 2x (rel %.2e)", a->name, worst);

  free(dq1), free(dk1), free(dv1);
  free(dq0), free(dk0), free(dv0), free(dq_r), free(dk_r), free(dv_r), free(dq_f), free(dk_f), free(dv_f);
  free(dq_b), free(dk_b), free(dv_b);
  free(out_r), free(lse_r), free(out_f), free(lse_f), free(out_b), free(lse_b), free(out_b2);
  free(x.q), free(x.k), free(x.v), free(x.dout);
}

// The model's self-attention layout: q, k, v interleaved in one [B,N,3,H,C]
// buffer, dq, dk, dv likewise: checked (reps = 0) or timed, fp32 fast vs bf16.
static void test_packed_qkv(int B, int N, int H, int C, int reps) {
  char what[160];
  const int ld = 3 * H * C, ldo = H * C;
  const size_t n = (size_t)B * N * ld, no = (size_t)B * N * ldo, nl = (size_t)B * H * N;
  float *qkv = fnew(n, 21, 2.0f), *dout = fnew(no, 22, 1.0f);
  float *o_r = fnew(no, 0, 0), *l_r = fnew(nl, 0, 0), *o_b = fnew(no, 0, 0), *l_b = fnew(nl, 0, 0);
  float *o_f = fnew(no, 0, 0), *l_f = fnew(nl, 0, 0);
  float *g_r = fnew(n, 0, 0), *g_b = fnew(n, 0, 0);
  const float *q = qkv, *k = qkv + H * C, *v = qkv + 2 * H * C;
  if (reps == 0) {  // checked against the reference
    attention_forward_ref(o_r, ldo, l_r, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
    attention_forward_bf16(o_b, ldo, l_b, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
    snprintf(what, sizeof what, "packed qkv B%d N%d H%d C%d fwd out bf16 vs ref", B, N, H, C);
    check_bf16(what, o_b, o_r, no, 0);
    attention_backward_ref(g_r, g_r + H * C, g_r + 2 * H * C, dout, o_r, ldo, l_r, q, ld, k, ld, v, ld, NULL, B, N,
                           N, H, C);
    attention_backward_bf16(g_b, g_b + H * C, g_b + 2 * H * C, dout, o_r, ldo, l_r, q, ld, k, ld, v, ld, NULL, B, N,
                            N, H, C);
    snprintf(what, sizeof what, "packed qkv B%d N%d H%d C%d bwd dqkv bf16 vs ref", B, N, H, C);
    check_bf16(what, g_b, g_r, n, 0);
  } else {  // the model's shape: timed (informational, not a check)  // informational timing (not a check): fp32 fast vs bf16
    double t[4] = {1e30, 1e30, 1e30, 1e30};
    for (int r = 0; r < reps; r++) {
      double t0 = wall();
      attention_forward(o_f, ldo, l_f, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
      double t1 = wall();
      attention_forward_bf16(o_b, ldo, l_b, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
      double t2 = wall();
      attention_backward(g_r, g_r + H * C, g_r + 2 * H * C, dout, o_f, ldo, l_f, q, ld, k, ld, v, ld, NULL, B, N, N,
                         H, C);
      double t3 = wall();
      attention_backward_bf16(g_b, g_b + H * C, g_b + 2 * H * C, dout, o_f, ldo, l_f, q, ld, k, ld, v, ld, NULL, B,
                              N, N, H, C);
      double t4 = wall();
      const double d[4] = {t1 - t0, t2 - t1, t3 - t2, t4 - t3};
      for (int i = 0; i < 4; i++) t[i] = d[i] < t[i] ? d[i] : t[i];
    }
    const double fl = 4.0 * B * H * (double)N * N * C;
    printf("  time B%d N%d H%d C%d (best of %d): forward fp32 %.2f ms (%.0f GFLOP/s), bf16 %.2f ms (%.0f GFLOP/s), "
           "%.2fx; backward fp32 %.2f ms (%.0f), bf16 %.2f ms (%.0f), %.2fx\n",
           B, N, H, C, reps, t[0] * 1e3, fl / t[0] * 1e-9, t[1] * 1e3, fl / t[1] * 1e-9, t[0] / t[1], t[2] * 1e3,
           2.5 * fl / t[2] * 1e-9, t[3] * 1e3, 2.5 * fl / t[3] * 1e-9, t[2] / t[3]);
  }
  free(qkv), free(dout), free(o_r), free(l_r), free(o_b), free(l_b), free(o_f), free(l_f), free(g_r), free(g_b);
}

// The bf16 CPU backend's attention entries are these functions.
static void test_backend(void) {
  char why[256] = "";
  const Backend *be = backend_open("cpu", "bf16", 0, why, sizeof why);
  if (!be) {
    printf("  (no bf16 CPU backend here: %s)\n", why);
    return;
  }
  const int kv[2] = {40, 17};
  const Att a = {"backend", 2, 45, 40, 2, 32, 70, 66, 64, 65, kv};
  In x = make_in(&a, 300);
  float *o1 = fnew(x.no, 0, 0), *o2 = fnew(x.no, 0, 0), *l1 = fnew(x.nl, 0, 0), *l2 = fnew(x.nl, 0, 0);
  be_attention_forward(be, o1, a.ldo, l1, x.q, a.ldq, x.k, a.ldk, x.v, a.ldv, a.kvalid, a.B, a.Nq, a.Nk, a.H, a.C);
  fwd(attention_forward_bf16, &a, &x, o2, l2);
  EXPECT(!memcmp(o1, o2, x.no * 4) && !memcmp(l1, l2, x.nl * 4), "the bf16 backend's attention_forward is "
         "attention_forward_bf16");
  float *g1 = fnew(x.nq + x.nk + x.nv, 0, 0), *g2 = fnew(x.nq + x.nk + x.nv, 0, 0);
  be_attention_backward(be, g1, g1 + x.nq, g1 + x.nq + x.nk, x.dout, o2, a.ldo, l2, x.q, a.ldq, x.k, a.ldk, x.v,
                        a.ldv, a.kvalid, a.B, a.Nq, a.Nk, a.H, a.C);
  bwd(attention_backward_bf16, &a, &x, o2, l2, g2, g2 + x.nq, g2 + x.nq + x.nk);
  const int same_b = !memcmp(g1, g2, (x.nq + x.nk + x.nv) * 4);
  EXPECT(same_b, "the bf16 backend's attention_backward is attention_backward_bf16");
  if (same_b && !memcmp(o1, o2, x.no * 4)) printf("  ok  the bf16 CPU backend's attention entries are the _bf16 functions\n");
  free(o1), free(o2), free(l1), free(l2), free(g1), free(g2), free(x.q), free(x.k), free(x.v), free(x.dout);
}

int main(void) {
  if (!NATIVE) printf("SKIPPED the bf16 products (built without AVX512-BF16): checking the fp32 fallback only\n");
  static const int kv53_1[2] = {53, 1}, kv300_129[2] = {300, 129}, kv3[3] = {150, 97, 2}, kvx[2] = {32, 9};
  static const int kv259[1] = {259}, kv_cross[4] = {32, 25, 18, 11}, kv70_33[2] = {70, 33};
  const Att cases[] = {
      {"odd B2 Nq77 Nk53 H3 C24 kvalid{53,1}", 2, 77, 53, 3, 24, 80, 77, 91, 75, kv53_1},
      {"multi-tile B2 Nq200 Nk300 H2 C64 kvalid{300,129}", 2, 200, 300, 2, 64, 130, 140, 129, 128, kv300_129},
      {"C40 B3 Nq130 Nk150 H2 kvalid{150,97,2}", 3, 130, 150, 2, 40, 83, 81, 80, 85, kv3},
      {"cross B2 Nq160 Nk32 H2 C72 kvalid{32,9}", 2, 160, 32, 2, 72, 150, 144, 144, 144, kvx},
      {"C128 B2 Nq100 Nk70 H2 kvalid{70,33}", 2, 100, 70, 2, 128, 260, 256, 300, 257, kv70_33},
      {"cross B4 Nq96 Nk32 H2 C64 kvalid{32,25,18,11}", 4, 96, 32, 2, 64, 128, 128, 128, 128, kv_cross},
      {"odd C21 B1 Nq50 Nk45 H2", 1, 50, 45, 2, 21, 43, 42, 45, 44, NULL},
      {"tiny B1 Nq1 Nk1 H1 C2", 1, 1, 1, 1, 2, 2, 3, 2, 2, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_case(&cases[i]);
#ifdef _OPENMP
  const int nth = omp_get_max_threads();
  omp_set_num_threads(4);  // B*H = 1 < threads: the backward splits key tiles
#endif
  const Att split = {"split (4 thr) B1 H1 Nq150 Nk300 C24 kvalid{259}", 1, 150, 300, 1, 24, 30, 25, 26, 27, kv259};
  test_case(&split);
  const Att split64 = {"split (4 thr) B1 H2 Nq300 Nk520 C64", 1, 300, 520, 2, 64, 128, 128, 128, 128, NULL};
  test_case(&split64);
#ifdef _OPENMP
  omp_set_num_threads(nth);
#endif
  test_packed_qkv(2, 150, 2, 64, 0);
  if (NATIVE) test_packed_qkv(4, 512, 4, 64, 5);  // tiny model's self-attention
  test_backend();
  return tl_finish("test_attention_bf16");
}
