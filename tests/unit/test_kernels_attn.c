// Unit tests: attention (fast vs reference, reference vs finite differences
// and vs an independent double-precision softmax), 3D RoPE, timestep and
// token embeddings, masked mean, patchify/unpatchify.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "kernels/ops.h"
#include "testlib.h"

static float *fnew(size_t n, uint32_t stream) {
  float *x = malloc((n ? n : 1) * sizeof(float));
  if (stream)
    tl_fill(x, (int64_t)n, stream);
  else
    memset(x, 0, (n ? n : 1) * sizeof(float));
  return x;
}

static double wall(void) {
#ifdef _OPENMP
  return omp_get_wtime();
#else
  return 0;
#endif
}

// ================================================================ attention
typedef struct {
  const char *name;
  int B, Nq, Nk, H, C, ldq, ldk, ldv, ldo;
  const int *kvalid;
} Att;

// Buffers of one attention problem with strided rows; entries outside the
// (b,n,h,c) slices stay at their initial values.
typedef struct {
  float *q, *k, *v, *out, *lse, *dout, *dq, *dk, *dv;
  size_t nq, nk, nv, no, nl;
} AttBufs;

static AttBufs att_alloc(const Att *a, uint32_t seed) {
  AttBufs x;
  x.nq = (size_t)a->B * a->Nq * a->ldq;
  x.nk = (size_t)a->B * a->Nk * a->ldk;
  x.nv = (size_t)a->B * a->Nk * a->ldv;
  x.no = (size_t)a->B * a->Nq * a->ldo;
  x.nl = (size_t)a->B * a->H * a->Nq;
  x.q = fnew(x.nq, seed + 1);
  x.k = fnew(x.nk, seed + 2);
  x.v = fnew(x.nv, seed + 3);
  x.dout = fnew(x.no, seed + 4);
  for (size_t i = 0; i < x.nq; i++) x.q[i] *= 2.5f;  // sharper softmax
  x.out = fnew(x.no, 0);
  x.lse = fnew(x.nl, 0);
  x.dq = fnew(x.nq, 0);
  x.dk = fnew(x.nk, 0);
  x.dv = fnew(x.nv, 0);
  return x;
}

static void att_free(AttBufs *x) {
  free(x->q), free(x->k), free(x->v), free(x->out), free(x->lse), free(x->dout);
  free(x->dq), free(x->dk), free(x->dv);
}

static void att_fwd(int fast, const Att *a, AttBufs *x) {
  (fast ? attention_forward : attention_forward_ref)(x->out, a->ldo, x->lse, x->q, a->ldq, x->k, a->ldk, x->v,
                                                     a->ldv, a->kvalid, a->B, a->Nq, a->Nk, a->H, a->C);
}

static void att_bwd(int fast, const Att *a, AttBufs *x, float *dq, float *dk, float *dv) {
  (fast ? attention_backward : attention_backward_ref)(dq, dk, dv, x->dout, x->out, a->ldo, x->lse, x->q,
                                                       a->ldq, x->k, a->ldk, x->v, a->ldv, a->kvalid, a->B,
                                                       a->Nq, a->Nk, a->H, a->C);
}

static int is_slice(size_t idx, int ld, int H, int C) { return (int)(idx % ld) < H * C; }

// (1) fast vs reference, forward and backward; (3) accumulate contract;
// gaps between strided rows untouched; masked keys get exactly zero dk/dv.
static void test_fast_vs_ref(const Att *a) {
  char what[160];
  AttBufs f = att_alloc(a, 10), r = att_alloc(a, 10);
  for (size_t i = 0; i < f.no; i++) f.out[i] = r.out[i] = 7.0f;  // sentinel in the gaps
  att_fwd(1, a, &f);
  att_fwd(0, a, &r);
  snprintf(what, sizeof what, "%s fwd out fast vs ref", a->name);
  EXPECT_CLOSE(f.out, r.out, f.no, 1e-5, what);
  snprintf(what, sizeof what, "%s fwd lse fast vs ref", a->name);
  EXPECT_CLOSE(f.lse, r.lse, f.nl, 1e-5, what);
  int gap_bad = 0;
  for (size_t i = 0; i < f.no; i++)
    if (!is_slice(i, a->ldo, a->H, a->C) && f.out[i] != 7.0f) gap_bad++;
  EXPECT(gap_bad == 0, "%s: forward wrote %d entries outside the head slices", a->name, gap_bad);

  // Backward from the reference forward's out/lse for both.
  memcpy(f.out, r.out, f.no * sizeof(float));
  memcpy(f.lse, r.lse, f.nl * sizeof(float));
  att_bwd(1, a, &f, f.dq, f.dk, f.dv);
  att_bwd(0, a, &r, r.dq, r.dk, r.dv);
  snprintf(what, sizeof what, "%s bwd dq fast vs ref", a->name);
  EXPECT_CLOSE(f.dq, r.dq, f.nq, 1e-5, what);
  snprintf(what, sizeof what, "%s bwd dk fast vs ref", a->name);
  EXPECT_CLOSE(f.dk, r.dk, f.nk, 1e-5, what);
  snprintf(what, sizeof what, "%s bwd dv fast vs ref", a->name);
  EXPECT_CLOSE(f.dv, r.dv, f.nv, 1e-5, what);

  int masked_bad = 0;
  for (int b = 0; b < a->B; b++)
    for (int j = 0; j < a->Nk; j++)
      for (int e = 0; e < a->ldk; e++) {
        const size_t ik = ((size_t)b * a->Nk + j) * a->ldk + e, iv = ((size_t)b * a->Nk + j) * a->ldv + e;
        const int masked = a->kvalid && j >= a->kvalid[b];
        if (masked || e >= a->H * a->C) masked_bad += (f.dk[ik] != 0) + (r.dk[ik] != 0);
        if ((masked || e >= a->H * a->C) && e < a->ldv) masked_bad += (f.dv[iv] != 0) + (r.dv[iv] != 0);
      }
  for (size_t i = 0; i < f.nq; i++)
    if (!is_slice(i, a->ldq, a->H, a->C)) masked_bad += (f.dq[i] != 0);
  EXPECT(masked_bad == 0, "%s: %d nonzero dk/dv/dq entries at masked keys or outside the slices", a->name,
         masked_bad);

  // Each gradient alone (the others NULL) equals the full call's.
  float *one = fnew(f.nq + f.nk + f.nv, 0);
  memcpy(one, r.dq, f.nq * 4), memcpy(one + f.nq, r.dk, f.nk * 4), memcpy(one + f.nq + f.nk, r.dv, f.nv * 4);
  memset(f.dq, 0, f.nq * 4), memset(f.dk, 0, f.nk * 4), memset(f.dv, 0, f.nv * 4);
  att_bwd(1, a, &f, f.dq, NULL, NULL);
  att_bwd(1, a, &f, NULL, f.dk, NULL);
  att_bwd(1, a, &f, NULL, NULL, f.dv);
  snprintf(what, sizeof what, "%s bwd fast dq|dk|dv alone", a->name);
  {
    float *sep = fnew(f.nq + f.nk + f.nv, 0);
    memcpy(sep, f.dq, f.nq * 4), memcpy(sep + f.nq, f.dk, f.nk * 4), memcpy(sep + f.nq + f.nk, f.dv, f.nv * 4);
    EXPECT_CLOSE(sep, one, f.nq + f.nk + f.nv, 1e-5, what);
    free(sep);
  }
  // Accumulate: a second call adds the same again (fast and reference).
  float *g1 = fnew(f.nq + f.nk + f.nv, 0), *g2 = fnew(f.nq + f.nk + f.nv, 0);
  for (int fast = 0; fast < 2; fast++) {
    AttBufs *x = fast ? &f : &r;
    memcpy(g1, x->dq, f.nq * 4), memcpy(g1 + f.nq, x->dk, f.nk * 4), memcpy(g1 + f.nq + f.nk, x->dv, f.nv * 4);
    for (size_t i = 0; i < f.nq + f.nk + f.nv; i++) g1[i] *= 2;
    att_bwd(fast, a, x, x->dq, x->dk, x->dv);
    memcpy(g2, x->dq, f.nq * 4), memcpy(g2 + f.nq, x->dk, f.nk * 4), memcpy(g2 + f.nq + f.nk, x->dv, f.nv * 4);
    snprintf(what, sizeof what, "%s bwd %s twice = 2x", a->name, fast ? "fast" : "ref");
    EXPECT_CLOSE(g2, g1, f.nq + f.nk + f.nv, 1e-6, what);
  }
  free(one);
  free(g1), free(g2);
  att_free(&f), att_free(&r);
}

// Self-attention on a packed qkv buffer [B,N,3,H,C] (the model's layout):
// q, k, v and their gradients interleave within one row.
static void test_packed_qkv(int B, int N, int H, int C, int pad) {
  char what[160];
  const int ld = 3 * H * C + pad, ldo = H * C;
  const size_t n = (size_t)B * N * ld, no = (size_t)B * N * ldo, nl = (size_t)B * H * N;
  float *qkv = fnew(n, 21), *dout = fnew(no, 22), *of = fnew(no, 0), *orf = fnew(no, 0);
  float *lf = fnew(nl, 0), *lr = fnew(nl, 0), *gf = fnew(n, 0), *gr = fnew(n, 0);
  for (size_t i = 0; i < n; i++) qkv[i] *= 2.0f;
  const float *q = qkv, *k = qkv + H * C, *v = qkv + 2 * H * C;
  attention_forward(of, ldo, lf, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
  attention_forward_ref(orf, ldo, lr, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
  snprintf(what, sizeof what, "packed qkv B%d N%d H%d C%d fwd out", B, N, H, C);
  EXPECT_CLOSE(of, orf, no, 1e-5, what);
  attention_backward(gf, gf + H * C, gf + 2 * H * C, dout, orf, ldo, lr, q, ld, k, ld, v, ld, NULL, B, N, N, H, C);
  attention_backward_ref(gr, gr + H * C, gr + 2 * H * C, dout, orf, ldo, lr, q, ld, k, ld, v, ld, NULL, B, N, N,
                         H, C);
  snprintf(what, sizeof what, "packed qkv B%d N%d H%d C%d bwd dqkv", B, N, H, C);
  EXPECT_CLOSE(gf, gr, n, 1e-5, what);
  free(qkv), free(dout), free(of), free(orf), free(lf), free(lr), free(gf), free(gr);
}

// L = sum out * R, in double from the reference forward.
static double att_loss(const Att *a, AttBufs *x, const float *R) {
  att_fwd(0, a, x);
  double L = 0;
  for (size_t i = 0; i < x->no; i++) L += (double)x->out[i] * R[i];
  return L;
}

// (2) reference backward vs central differences of L = sum out * R.
static void test_fd(void) {
  const int kv[2] = {7, 3};
  const Att a = {"fd", 2, 5, 7, 2, 4, 9, 10, 11, 8, kv};
  AttBufs x = att_alloc(&a, 30);
  float *R = fnew(x.no, 35);
  att_fwd(0, &a, &x);
  memcpy(x.dout, R, x.no * sizeof(float));
  att_bwd(0, &a, &x, x.dq, x.dk, x.dv);
  const float eps = 1e-3f;
  struct {
    const char *name;
    float *p, *g;
    size_t n;
    int ld;
  } ins[3] = {{"ref dq vs finite differences", x.q, x.dq, x.nq, a.ldq},
              {"ref dk vs finite differences", x.k, x.dk, x.nk, a.ldk},
              {"ref dv vs finite differences", x.v, x.dv, x.nv, a.ldv}};
  for (int t = 0; t < 3; t++) {
    float *fd = fnew(ins[t].n, 0);
    for (size_t i = 0; i < ins[t].n; i++) {
      if (!is_slice(i, ins[t].ld, a.H, a.C)) continue;
      const float keep = ins[t].p[i];
      ins[t].p[i] = keep + eps;
      const double lp = att_loss(&a, &x, R);
      ins[t].p[i] = keep - eps;
      const double lm = att_loss(&a, &x, R);
      ins[t].p[i] = keep;
      fd[i] = (float)((lp - lm) / (2.0 * eps));
    }
    EXPECT_CLOSE(ins[t].g, fd, ins[t].n, 1e-2, ins[t].name);
    free(fd);
  }
  // masked keys (b=1, j>=3): exactly zero gradient
  int bad = 0;
  for (int j = 3; j < a.Nk; j++)
    for (int e = 0; e < a.H * a.C; e++)
      bad += x.dk[((size_t)1 * a.Nk + j) * a.ldk + e] != 0 || x.dv[((size_t)1 * a.Nk + j) * a.ldv + e] != 0;
  EXPECT(bad == 0, "masked keys: %d nonzero dk/dv entries", bad);
  free(R);
  att_free(&x);
}

// (4) against a naive softmax computed here in double.
static void test_naive_double(void) {
  const int kv[3] = {1, 40, 53};
  const Att a = {"naive", 3, 37, 53, 2, 16, 40, 33, 35, 36, kv};
  AttBufs f = att_alloc(&a, 40), r = att_alloc(&a, 40);
  att_fwd(1, &a, &f);
  att_fwd(0, &a, &r);
  float *want = fnew(f.no, 0), *wlse = fnew(f.nl, 0);
  double s[64];
  for (int b = 0; b < a.B; b++)
    for (int h = 0; h < a.H; h++)
      for (int i = 0; i < a.Nq; i++) {
        double mx = -1e300, sum = 0;
        for (int j = 0; j < kv[b]; j++) {
          double d = 0;
          for (int c = 0; c < a.C; c++)
            d += (double)f.q[((size_t)b * a.Nq + i) * a.ldq + h * a.C + c] *
                 f.k[((size_t)b * a.Nk + j) * a.ldk + h * a.C + c];
          s[j] = d / sqrt((double)a.C);
          mx = fmax(mx, s[j]);
        }
        for (int j = 0; j < kv[b]; j++) sum += exp(s[j] - mx);
        for (int c = 0; c < a.C; c++) {
          double o = 0;
          for (int j = 0; j < kv[b]; j++)
            o += exp(s[j] - mx) / sum * f.v[((size_t)b * a.Nk + j) * a.ldv + h * a.C + c];
          want[((size_t)b * a.Nq + i) * a.ldo + h * a.C + c] = (float)o;
        }
        wlse[((size_t)b * a.H + h) * a.Nq + i] = (float)(mx + log(sum));
      }
  EXPECT_CLOSE(r.out, want, f.no, 1e-6, "ref out vs naive double softmax");
  EXPECT_CLOSE(f.out, want, f.no, 1e-5, "fast out vs naive double softmax");
  EXPECT_CLOSE(r.lse, wlse, f.nl, 1e-6, "ref lse vs naive double softmax");
  EXPECT_CLOSE(f.lse, wlse, f.nl, 1e-5, "fast lse vs naive double softmax");
  // kvalid = 1: the output is exactly v of key 0
  float maxd = 0;
  for (int i = 0; i < a.Nq; i++)
    for (int c = 0; c < a.H * a.C; c++) maxd = fmaxf(maxd, fabsf(f.out[(size_t)i * a.ldo + c] - f.v[c]));
  EXPECT(maxd < 1e-6f, "kvalid=1: out differs from v[0] by %g", maxd);
  free(want), free(wlse);
  att_free(&f), att_free(&r);
}

static void test_attention_speed(void) {
  const int B = 4, N = 512, H = 4, C = 64, ld = 3 * H * C;
  const Att a = {"speed", B, N, N, H, C, ld, ld, ld, H * C, NULL};
  AttBufs x = att_alloc(&a, 50);
  att_fwd(1, &a, &x);
  att_bwd(1, &a, &x, x.dq, x.dk, x.dv);
  double tf = 1e30, tb = 1e30;
  for (int rep = 0; rep < 3; rep++) {
    double t0 = wall();
    att_fwd(1, &a, &x);
    double t1 = wall();
    att_bwd(1, &a, &x, x.dq, x.dk, x.dv);
    double t2 = wall();
    tf = fmin(tf, t1 - t0), tb = fmin(tb, t2 - t1);
  }
  const double fl = 4.0 * B * H * N * (double)N * C;
  printf("  info attention B%d N%d H%d C%d: fwd %.2f ms (%.1f GFLOP/s), bwd %.2f ms (%.1f GFLOP/s at 2.5x)\n", B, N,
         H, C, tf * 1e3, fl / tf * 1e-9, tb * 1e3, 2.5 * fl / tb * 1e-9);
  att_free(&x);
}

static void test_attention(void) {
  const int kv2[2] = {53, 1}, kv2b[2] = {17, 40}, kvx[2] = {32, 9}, kv1[1] = {300};
  const Att cases[] = {
      {"odd B2 Nq77 Nk53 H3 C24", 2, 77, 53, 3, 24, 80, 77, 91, 75, NULL},
      {"odd kvalid{53,1}", 2, 77, 53, 3, 24, 80, 77, 91, 75, kv2},
      {"odd kvalid{17,40}", 2, 77, 53, 3, 24, 80, 77, 91, 75, kv2b},
      {"multi-tile B2 Nq200 Nk300 H2 C64", 2, 200, 300, 2, 64, 130, 140, 129, 128, NULL},
      {"cross B2 Nq160 Nk32 C72 kvalid{32,9}", 2, 160, 32, 2, 72, 150, 144, 144, 144, kvx},
      {"C%8!=0 B2 Nq101 Nk40 H3 C20 kvalid{32,9}", 2, 101, 40, 3, 20, 61, 60, 67, 63, kvx},
      {"tiny B1 Nq1 Nk1 H1 C2", 1, 1, 1, 1, 2, 2, 3, 2, 2, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_fast_vs_ref(&cases[i]);
  // Fewer (b,h) pairs than threads: the backward splits key tiles.
#ifdef _OPENMP
  const int nth = omp_get_max_threads();
  omp_set_num_threads(4);
#endif
  const Att split = {"split B1 H1 Nq150 Nk300 C24 (4 thr)", 1, 150, 300, 1, 24, 30, 25, 26, 27, kv1};
  test_fast_vs_ref(&split);
#ifdef _OPENMP
  omp_set_num_threads(nth);
#endif
  test_packed_qkv(2, 150, 2, 64, 0);
  test_fd();
  test_naive_double();
  test_attention_speed();
}

// ================================================================ RoPE
static void test_rope(void) {
  const int B = 2, N = 30, H = 2, C = 12, ld = H * C + 5, n0 = 7, gh = 3, gw = 4;
  const int rope[3] = {4, 4, 4};
  const size_t n = (size_t)B * N * ld;
  float *x = fnew(n, 61), *a = fnew(n, 0), *r = fnew(n, 0);
  float *cs = fnew((size_t)N * C / 2, 0), *sn = fnew((size_t)N * C / 2, 0);
  rope3d_table(cs, sn, n0, N, gh, gw, rope);
  memcpy(a, x, n * 4), memcpy(r, x, n * 4);
  rope3d_forward(a, ld, cs, sn, B, N, H, C);
  rope3d_forward_ref(r, ld, n0, gh, gw, rope, B, N, H, C);
  EXPECT_CLOSE(a, r, n, 1e-6, "rope fwd table vs ref");
  // norm of each pair preserved; gaps untouched
  double worst = 0;
  int gap_bad = 0;
  for (size_t row = 0; row < (size_t)B * N; row++)
    for (int e = 0; e < ld; e++) {
      const size_t i = row * ld + e;
      if (e >= H * C) {
        gap_bad += a[i] != x[i];
      } else if (e % 2 == 0) {
        const double n0_ = hypot(x[i], x[i + 1]), n1_ = hypot(a[i], a[i + 1]);
        worst = fmax(worst, fabs(n1_ - n0_) / fmax(n0_, 1e-30));
      }
    }
  EXPECT(worst < 1e-6, "rope: pair norm changed by %.3g (rel)", worst);
  EXPECT(gap_bad == 0, "rope: %d entries outside the head slices changed", gap_bad);
  if (worst < 1e-6) printf("  ok  %-44s max rel %.2e\n", "rope pair norms preserved", worst);
  // backward = inverse
  float *back = fnew(n, 0);
  memcpy(back, a, n * 4);
  rope3d_backward(back, ld, cs, sn, B, N, H, C);
  EXPECT_CLOSE(back, x, n, 1e-6, "rope bwd(fwd(x)) = x (table)");
  memcpy(back, r, n * 4);
  rope3d_backward_ref(back, ld, n0, gh, gw, rope, B, N, H, C);
  EXPECT_CLOSE(back, x, n, 1e-6, "rope bwd(fwd(x)) = x (ref)");
  memcpy(a, x, n * 4), memcpy(r, x, n * 4);
  rope3d_backward(a, ld, cs, sn, B, N, H, C);
  rope3d_backward_ref(r, ld, n0, gh, gw, rope, B, N, H, C);
  EXPECT_CLOSE(a, r, n, 1e-6, "rope bwd table vs ref");
  // Hand-computed: local n=16 -> global 23 -> (t,h,w) = (1, 2, 3).
  //  w segment pair i=1 (elements 10,11): angle 3 * 10000^(-2/4) = 0.03
  //  h segment pair i=0 (elements 4,5):   angle 2
  //  t segment pair i=1 (elements 2,3):   angle 1 * 0.01
  float *y = fnew((size_t)B * N * ld, 0);
  float *e = y + ((size_t)1 * N + 16) * ld + 1 * C;  // b=1, head 1
  e[10] = 1, e[11] = 0, e[4] = 0.5f, e[5] = 0.25f, e[2] = 0, e[3] = 2;
  rope3d_forward(y, ld, cs, sn, B, N, H, C);
  const float want[6] = {(float)cos(0.03), (float)sin(0.03), (float)(0.5 * cos(2.0) - 0.25 * sin(2.0)),
                         (float)(0.5 * sin(2.0) + 0.25 * cos(2.0)), (float)(-2 * sin(0.01)),
                         (float)(2 * cos(0.01))};
  const float got[6] = {e[10], e[11], e[4], e[5], e[2], e[3]};
  EXPECT_CLOSE(got, want, 6, 1e-6, "rope hand-computed (t,h,w)=(1,2,3)");
  EXPECT(fabsf(cs[16 * 6 + 5] - (float)cos(0.03)) < 1e-7f, "rope table cos[16][5] = %g, want cos(0.03)",
         cs[16 * 6 + 5]);
  // A model-sized split 64 -> 16/24/24 on a larger grid.
  {
    const int r3[3] = {16, 24, 24}, N2 = 4 * 16 * 16, H2 = 2, C2 = 64, ld2 = 3 * H2 * C2;
    const size_t n2 = (size_t)N2 * ld2;
    float *x2 = fnew(n2, 62), *a2 = fnew(n2, 0), *cs2 = fnew((size_t)N2 * 32, 0), *sn2 = fnew((size_t)N2 * 32, 0);
    memcpy(a2, x2, n2 * 4);
    rope3d_table(cs2, sn2, 0, N2, 16, 16, r3);
    rope3d_forward(a2, ld2, cs2, sn2, 1, N2, H2, C2);
    rope3d_forward_ref(x2, ld2, 0, 16, 16, r3, 1, N2, H2, C2);
    EXPECT_CLOSE(a2, x2, n2, 1e-6, "rope 16/24/24 grid 4x16x16 table vs ref");
    free(x2), free(a2), free(cs2), free(sn2);
  }
  free(x), free(a), free(r), free(cs), free(sn), free(back), free(y);
}

// ================================================================ embeddings
static void test_timestep(void) {
  const int B = 3, F = 256;
  const float t[3] = {0.0f, 0.5f, 1.0f};
  float *out = fnew((size_t)B * F, 0), *want = fnew((size_t)B * F, 0);
  timestep_embedding(out, t, B, F);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < F / 2; i++) {
      const double arg = 1000.0 * t[b] * exp(-log(10000.0) * i / 128.0);
      want[b * F + i] = (float)cos(arg);
      want[b * F + F / 2 + i] = (float)sin(arg);
    }
  EXPECT_CLOSE(out, want, (size_t)B * F, 1e-6, "timestep embedding vs formula");
  int bad = 0;
  for (int i = 0; i < F / 2; i++) bad += out[i] != 1.0f || out[F / 2 + i] != 0.0f;
  EXPECT(bad == 0, "timestep t=0: %d entries not (cos 1, sin 0)", bad);
  // t = 1, i = 0: cos(1000), sin(1000); i = 1 at t = 0.5: 500 * 10000^(-1/128)
  EXPECT(fabsf(out[2 * F] - (float)cos(1000.0)) < 1e-6f && fabsf(out[2 * F + 128] - (float)sin(1000.0)) < 1e-6f,
         "timestep t=1 i=0: got (%g, %g)", out[2 * F], out[2 * F + 128]);
  EXPECT(fabsf(out[F + 1] - (float)cos(500.0 * pow(10000.0, -1.0 / 128))) < 1e-6f,
         "timestep t=0.5 i=1: got %g", out[F + 1]);
  free(out), free(want);
}

static void test_embedding(void) {
  const int B = 2, L = 4, D = 5, V = 4;
  const int32_t tok[8] = {3, 1, 3, 3, 0, 3, 2, 1};  // repeated tokens
  float *table = fnew((size_t)V * D, 71), *pos = fnew((size_t)L * D, 72), *out = fnew((size_t)B * L * D, 0);
  float *R = fnew((size_t)B * L * D, 73);
  embedding_forward(out, tok, table, pos, B, L, D);
  EXPECT(out[(1 * L + 2) * D + 3] == table[2 * D + 3] + pos[2 * D + 3], "embedding_forward: hand-indexed element");
  // backward vs finite differences of L = sum out * R (linear: differences are exact up to rounding)
  float *dt = fnew((size_t)V * D, 0), *dp = fnew((size_t)L * D, 0), *fdt = fnew((size_t)V * D, 0),
        *fdp = fnew((size_t)L * D, 0);
  embedding_backward(dt, dp, R, tok, B, L, D);
  const float eps = 1e-2f;
  for (int w = 0; w < 2; w++) {
    float *p = w ? pos : table, *fd = w ? fdp : fdt;
    const int n = (w ? L : V) * D;
    for (int i = 0; i < n; i++) {
      double l[2];
      const float keep = p[i];
      for (int s = 0; s < 2; s++) {
        p[i] = keep + (s ? -eps : eps);
        embedding_forward(out, tok, table, pos, B, L, D);
        l[s] = 0;
        for (int j = 0; j < B * L * D; j++) l[s] += (double)out[j] * R[j];
      }
      p[i] = keep;
      fd[i] = (float)((l[0] - l[1]) / (2 * eps));
    }
  }
  EXPECT_CLOSE(dt, fdt, (size_t)V * D, 1e-4, "embedding dtable vs finite differences");
  EXPECT_CLOSE(dp, fdp, (size_t)L * D, 1e-4, "embedding dpos vs finite differences");
  // accumulate: twice = 2x
  float *dt2 = fnew((size_t)V * D, 0);
  for (int i = 0; i < V * D; i++) dt2[i] = 2 * dt[i];
  embedding_backward(dt, NULL, R, tok, B, L, D);
  EXPECT_CLOSE(dt, dt2, (size_t)V * D, 1e-6, "embedding dtable twice = 2x (dpos NULL)");
  free(table), free(pos), free(out), free(R), free(dt), free(dp), free(fdt), free(fdp), free(dt2);

  // Threaded path (B*L*D large, several column chunks) vs a serial double sum.
  {
    const int B2 = 4, L2 = 64, D2 = 300, V2 = 5;
    int32_t *t2 = malloc(sizeof(int32_t) * B2 * L2);
    for (int i = 0; i < B2 * L2; i++) t2[i] = (i * 7 + i / 3) % V2;
    float *g = fnew((size_t)B2 * L2 * D2, 74), *dtab = fnew((size_t)V2 * D2, 0), *dpos = fnew((size_t)L2 * D2, 0);
    float *wt = fnew((size_t)V2 * D2, 0), *wp = fnew((size_t)L2 * D2, 0);
    double *acc = calloc((size_t)(V2 + L2) * D2, sizeof(double));
    for (int r = 0; r < B2 * L2; r++)
      for (int d = 0; d < D2; d++) {
        acc[(size_t)t2[r] * D2 + d] += g[(size_t)r * D2 + d];
        acc[(size_t)(V2 + r % L2) * D2 + d] += g[(size_t)r * D2 + d];
      }
    for (int i = 0; i < V2 * D2; i++) wt[i] = (float)acc[i];
    for (int i = 0; i < L2 * D2; i++) wp[i] = (float)acc[(size_t)V2 * D2 + i];
    embedding_backward(dtab, dpos, g, t2, B2, L2, D2);
    EXPECT_CLOSE(dtab, wt, (size_t)V2 * D2, 1e-6, "embedding dtable threaded vs serial sum");
    EXPECT_CLOSE(dpos, wp, (size_t)L2 * D2, 1e-6, "embedding dpos threaded vs serial sum");
    free(t2), free(g), free(dtab), free(dpos), free(wt), free(wp), free(acc);
  }
}

static void test_masked_mean(void) {
  const int B = 3, L = 6, D = 4;
  const int nv[3] = {6, 1, 4};
  float *in = fnew((size_t)B * L * D, 81), *out = fnew((size_t)B * D, 0), *R = fnew((size_t)B * D, 82);
  masked_mean_forward(out, in, nv, B, L, D);
  const float want = (in[(2 * L + 0) * D + 1] + in[(2 * L + 1) * D + 1] + in[(2 * L + 2) * D + 1] +
                      in[(2 * L + 3) * D + 1]) / 4;
  EXPECT(fabsf(out[2 * D + 1] - want) < 1e-6f, "masked_mean b=2 d=1: %g want %g", out[2 * D + 1], want);
  EXPECT(out[1 * D + 3] == in[(1 * L) * D + 3], "masked_mean nvalid=1 copies row 0");
  float *din = fnew((size_t)B * L * D, 0), *fd = fnew((size_t)B * L * D, 0);
  masked_mean_backward(din, R, nv, B, L, D);
  const float eps = 1e-2f;
  for (int i = 0; i < B * L * D; i++) {
    double l[2];
    const float keep = in[i];
    for (int s = 0; s < 2; s++) {
      in[i] = keep + (s ? -eps : eps);
      masked_mean_forward(out, in, nv, B, L, D);
      l[s] = 0;
      for (int j = 0; j < B * D; j++) l[s] += (double)out[j] * R[j];
    }
    in[i] = keep;
    fd[i] = (float)((l[0] - l[1]) / (2 * eps));
  }
  EXPECT_CLOSE(din, fd, (size_t)B * L * D, 1e-4, "masked_mean backward vs finite differences");
  int pad_bad = 0;
  for (int b = 0; b < B; b++)
    for (int l = nv[b]; l < L; l++)
      for (int d = 0; d < D; d++) pad_bad += din[((size_t)b * L + l) * D + d] != 0;
  EXPECT(pad_bad == 0, "masked_mean: %d nonzero gradients on padded rows", pad_bad);
  float *twice = fnew((size_t)B * L * D, 0);
  for (int i = 0; i < B * L * D; i++) twice[i] = 2 * din[i];
  masked_mean_backward(din, R, nv, B, L, D);
  EXPECT_CLOSE(din, twice, (size_t)B * L * D, 1e-6, "masked_mean backward twice = 2x");
  free(in), free(out), free(R), free(din), free(fd), free(twice);
}

// ================================================================ patches
static void test_patches(void) {
  const int B = 2, T = 4, H = 6, W = 8, C = 3, pt = 2, ph = 3, pw = 2;
  const int N = (T / pt) * (H / ph) * (W / pw), P = pt * ph * pw * C;
  const size_t n = (size_t)B * T * H * W * C;
  EXPECT(n == (size_t)B * N * P, "patch sizes");
  float *video = fnew(n, 91), *patches = fnew(n, 0), *back = fnew(n, 0), *p2 = fnew(n, 0);
  patchify(patches, video, B, T, H, W, C, pt, ph, pw);
  unpatchify(back, patches, B, T, H, W, C, pt, ph, pw);
  EXPECT(memcmp(back, video, n * 4) == 0, "unpatchify(patchify(x)) != x");
  patchify(p2, back, B, T, H, W, C, pt, ph, pw);
  EXPECT(memcmp(p2, patches, n * 4) == 0, "patchify(unpatchify(p)) != p");
  // video[b=1][t=3][y=4][x=5][c=2]: (it,ih,iw) = (1,1,2) -> n = (1*2+1)*4+2 = 14;
  // (a,c,e) = (1,1,1) -> p = ((1*3+1)*2+1)*3+2 = 29
  const size_t vi = ((((size_t)1 * T + 3) * H + 4) * W + 5) * C + 2, pi = ((size_t)1 * N + 14) * P + 29;
  EXPECT(patches[pi] == video[vi], "patchify hand-indexed element: %g vs %g", patches[pi], video[vi]);
  // and a permutation: every value appears once (sums match)
  double s0 = 0, s1 = 0;
  for (size_t i = 0; i < n; i++) s0 += video[i], s1 += patches[i];
  EXPECT(fabs(s0 - s1) < 1e-9 * n, "patchify is not a permutation");
  if (!tl_failures) printf("  ok  %-44s exact\n", "patchify/unpatchify round trip + element");
  free(video), free(patches), free(back), free(p2);
}

int main(void) {
  test_attention();
  test_rope();
  test_timestep();
  test_embedding();
  test_masked_mean();
  test_patches();
  return tl_finish("test_kernels_attn");
}
