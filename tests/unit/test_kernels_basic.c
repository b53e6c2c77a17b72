// Unit tests of the basic CPU ops: GEMM, linear, LayerNorm, per-head RMSNorm,
// GELU/SiLU, adaLN modulate / gated residual, MSE loss, AdamW.
// For every op with a backward:
//   1. fast forward and backward vs the reference (odd sizes, strides);
//   2. reference backward vs central finite differences of L = sum(out * r),
//      L computed with the reference forward (with a check that the FD
//      gradient is non-trivial and that a 5% error in it would be caught);
//   3. the accumulate contract: backward twice gives twice the gradient
//      (bit-exact for the references), and backward onto a non-zero
//      gradient adds to it.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "op_test.h"
#include "testlib.h"

// ---------------------------------------------------------------- GEMM
static void test_gemm(void) {
  printf("[gemm] library: %s\n", gemm_library());
  // gemm_ref against a hand-computed product: [1 2 3; 4 5 6] [1 0; 0 1; 1 1] = [4 5; 10 11]
  {
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, 0, 1, 1, 1}, want[4] = {2 * 4 + 1, 2 * 5 + 1, 2 * 10 + 1, 2 * 11 + 1};
    float C[4] = {1, 1, 1, 1}, Cf[4] = {1, 1, 1, 1};
    gemm_ref(0, 0, 2, 2, 3, 2.0f, A, 3, B, 2, 1.0f, C, 2);
    gemm(0, 0, 2, 2, 3, 2.0f, A, 3, B, 2, 1.0f, Cf, 2);
    EXPECT_CLOSE(C, want, 4, 0.0, "gemm_ref 2x3x2 vs hand-computed");
    EXPECT_CLOSE(Cf, want, 4, 1e-7, "gemm 2x3x2 vs hand-computed");
  }
  static const int shapes[][3] = {{37, 53, 70}, {150, 300, 520}, {1, 17, 9}, {64, 1, 33}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    for (int ta = 0; ta <= 1; ta++)
      for (int tb = 0; tb <= 1; tb++) {
        const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
        float *A = frand((int64_t)(ta ? K : M) * lda, 1.0f), *B = frand((int64_t)(tb ? N : K) * ldb, 1.0f);
        float *C = frand((int64_t)M * ldc, 1.0f), *Cr = fcopy(C, (int64_t)M * ldc);
        gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, C, ldc);
        gemm_ref(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, Cr, ldc);
        char what[96];
        snprintf(what, sizeof what, "gemm %dx%dx%d ta=%d tb=%d a=.7 b=.3", M, N, K, ta, tb);
        EXPECT_CLOSE(C, Cr, (int64_t)M * ldc, TOL_FAST, what);
        // beta = 0: C is not read (NaN must not propagate)
        for (int64_t i = 0; i < (int64_t)M * ldc; i++) C[i] = Cr[i] = NAN;
        gemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        gemm_ref(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, Cr, ldc);
        int nan = 0;
        for (int i = 0; i < M; i++)
          for (int j = 0; j < N; j++) nan += isnan(C[(size_t)i * ldc + j]) || isnan(Cr[(size_t)i * ldc + j]);
        EXPECT(nan == 0, "gemm %dx%dx%d ta=%d tb=%d beta=0: %d NaN from C", M, N, K, ta, tb, nan);
        for (int64_t i = 0; i < (int64_t)M * ldc; i++)
          if (i % ldc >= N) C[i] = Cr[i] = 0.0f;  // padding stays NaN in both: blank it for the norm
        snprintf(what, sizeof what, "gemm %dx%dx%d ta=%d tb=%d beta=0", M, N, K, ta, tb);
        EXPECT_CLOSE(C, Cr, (int64_t)M * ldc, TOL_FAST, what);
        free(A);
        free(B);
        free(C);
        free(Cr);
      }
  }
  // K = 0: C = beta C
  {
    float C[6] = {1, 2, 3, 4, 5, 6}, want[6] = {0.5f, 1, 1.5f, 2, 2.5f, 3}, dummy[1] = {0};
    gemm(0, 0, 2, 3, 0, 1.0f, dummy, 1, dummy, 3, 0.5f, C, 3);
    EXPECT_CLOSE(C, want, 6, 0.0, "gemm K=0 gives beta*C");
  }
}

// ---------------------------------------------------------------- linear
typedef struct {
  int M, I, O;
  float *in, *w, *b, *r, *scratch;
} LinCtx;
static void lin_fwd(void *c, int fast, float **o) {
  LinCtx *x = c;
  (fast ? linear_forward : linear_forward_ref)(o[0], x->in, x->w, x->b, x->M, x->I, x->O);
}
static double lin_loss(void *c) {
  LinCtx *x = c;
  linear_forward_ref(x->scratch, x->in, x->w, x->b, x->M, x->I, x->O);
  return dot_d(x->scratch, x->r, (int64_t)x->M * x->O);
}
static void lin_bwd(void *c, int fast, float **g) {
  LinCtx *x = c;
  (fast ? linear_backward : linear_backward_ref)(g[0], g[1], x->b ? g[2] : NULL, x->r, x->in, x->w, x->M, x->I, x->O);
}
static void test_linear(int with_bias, int M, int I, int O, int big) {
  LinCtx c = {.M = M, .I = I, .O = O};
  c.in = frand((int64_t)c.M * c.I, 1.0f);
  c.w = frand((int64_t)c.O * c.I, 0.3f);
  c.b = with_bias ? frand(c.O, 1.0f) : NULL;
  c.r = frand((int64_t)c.M * c.O, 1.0f);
  c.scratch = fzeros((int64_t)c.M * c.O);
  OpTest t = {.name = big == 2 ? "linear(I = 1024: dw's input copied with a padded ld)"
                     : big      ? "linear(large, threaded)"
                     : with_bias ? "linear" : "linear(no bias)", .ctx = &c, .nout = 1,
              .out_n = {(int64_t)c.M * c.O}, .out_name = {"out"}, .fwd = lin_fwd, .loss = lin_loss,
              .ngrad = with_bias ? 3 : 2, .grad_n = {(int64_t)c.M * c.I, (int64_t)c.O * c.I, c.O},
              .grad_name = {"in", "w", "b"}, .param = {c.in, c.w, c.b}, .bwd = lin_bwd, .fast_exact_accum = 0,
              .skip_fd = big};
  run_op(&t);
  // NULL gradients are skipped; the others are unchanged
  float *dw = fzeros((int64_t)c.O * c.I), *dw_all = fzeros((int64_t)c.O * c.I);
  float *din = fzeros((int64_t)c.M * c.I), *db = fzeros(c.O);
  linear_backward(NULL, dw, NULL, c.r, c.in, c.w, c.M, c.I, c.O);
  linear_backward(din, dw_all, db, c.r, c.in, c.w, c.M, c.I, c.O);
  EXPECT_CLOSE(dw, dw_all, (int64_t)c.O * c.I, 0.0, "linear dw alone (din, db NULL) = dw of all");
  free(dw), free(dw_all), free(din), free(db);
  free(c.in), free(c.w), free(c.b), free(c.r), free(c.scratch);
}

// ---------------------------------------------------------------- LayerNorm
typedef struct {
  int M, C;
  float *in, *w, *b, *r, *scratch, *mean, *rstd;
} LnCtx;
static void ln_fwd(void *c, int fast, float **o) {
  LnCtx *x = c;
  (fast ? layernorm_forward : layernorm_forward_ref)(o[0], o[1], o[2], x->in, x->w, x->b, x->M, x->C);
}
static double ln_loss(void *c) {
  LnCtx *x = c;
  layernorm_forward_ref(x->scratch, x->mean, x->rstd, x->in, x->w, x->b, x->M, x->C);
  return dot_d(x->scratch, x->r, (int64_t)x->M * x->C);
}
static void ln_bwd(void *c, int fast, float **g) {
  LnCtx *x = c;
  (fast ? layernorm_forward : layernorm_forward_ref)(x->scratch, x->mean, x->rstd, x->in, x->w, x->b, x->M, x->C);
  (fast ? layernorm_backward : layernorm_backward_ref)(g[0], x->w ? g[1] : NULL, x->b ? g[2] : NULL, x->r, x->in,
                                                       x->w, x->mean, x->rstd, x->M, x->C);
}
static void test_layernorm(int affine, int M, int C, int big) {
  LnCtx c = {.M = M, .C = C};
  const int64_t n = (int64_t)c.M * c.C;
  c.in = frand(n, 1.0f);
  for (int64_t i = 0; i < n; i++) c.in[i] += 0.5f;  // non-zero mean exercises the centring
  c.w = affine ? frand(c.C, 1.0f) : NULL;
  if (c.w)
    for (int i = 0; i < c.C; i++) c.w[i] += 1.0f;
  c.b = affine ? frand(c.C, 1.0f) : NULL;
  c.r = frand(n, 1.0f);
  c.scratch = fzeros(n);
  c.mean = fzeros(c.M);
  c.rstd = fzeros(c.M);
  OpTest t = {.name = big ? "layernorm(large, threaded)" : affine ? "layernorm" : "layernorm(no affine)", .ctx = &c, .nout = 3,
              .out_n = {n, c.M, c.M}, .out_name = {"out", "mean", "rstd"}, .fwd = ln_fwd, .loss = ln_loss,
              .ngrad = affine ? 3 : 1, .grad_n = {n, c.C, c.C}, .grad_name = {"in", "w", "b"},
              .param = {c.in, c.w, c.b}, .bwd = ln_bwd, .fast_exact_accum = 1, .skip_fd = big};
  run_op(&t);
  free(c.in), free(c.w), free(c.b), free(c.r), free(c.scratch), free(c.mean), free(c.rstd);
}

// ---------------------------------------------------------------- RMSNorm per head
typedef struct {
  int M, H, C, ld_in, ld_out, ld_din, ld_dout;
  float *in, *w, *r_out, *dout, *scratch, *rstd;
} RmsCtx;
static void rms_fwd(void *c, int fast, float **o) {
  RmsCtx *x = c;
  (fast ? rmsnorm_forward : rmsnorm_forward_ref)(o[0], x->ld_out, o[1], x->in, x->ld_in, x->w, x->M, x->H, x->C);
}
static double rms_loss(void *c) {
  RmsCtx *x = c;
  rmsnorm_forward_ref(x->scratch, x->ld_out, x->rstd, x->in, x->ld_in, x->w, x->M, x->H, x->C);
  return dot_d(x->scratch, x->r_out, (int64_t)x->M * x->ld_out);  // r_out is 0 in the padding
}
static void rms_bwd(void *c, int fast, float **g) {
  RmsCtx *x = c;
  (fast ? rmsnorm_forward : rmsnorm_forward_ref)(x->scratch, x->ld_out, x->rstd, x->in, x->ld_in, x->w, x->M, x->H,
                                                 x->C);
  (fast ? rmsnorm_backward : rmsnorm_backward_ref)(g[0], x->ld_din, g[1], x->dout, x->ld_dout, x->in, x->ld_in, x->w,
                                                   x->rstd, x->M, x->H, x->C);
}
static void test_rmsnorm(int M, int H, int C, int big) {
  // q of a packed qkv row: ld_in = 3*H*C; out and its gradient at other strides
  RmsCtx c = {.M = M, .H = H, .C = C};
  c.ld_in = 3 * c.H * c.C;
  c.ld_out = c.H * c.C + 5;
  c.ld_din = 3 * c.H * c.C;
  c.ld_dout = c.H * c.C + 1;
  c.in = frand((int64_t)c.M * c.ld_in, 1.0f);
  c.w = frand(c.C, 0.5f);
  for (int i = 0; i < c.C; i++) c.w[i] += 1.0f;
  c.r_out = fzeros((int64_t)c.M * c.ld_out);
  c.dout = frand((int64_t)c.M * c.ld_dout, 1.0f);  // padding of dout holds junk: must be ignored
  for (int m = 0; m < c.M; m++)
    for (int j = 0; j < c.H * c.C; j++) c.r_out[(size_t)m * c.ld_out + j] = c.dout[(size_t)m * c.ld_dout + j];
  c.scratch = fzeros((int64_t)c.M * c.ld_out);
  c.rstd = fzeros((int64_t)c.M * c.H);
  OpTest t = {.name = big ? "rmsnorm(large, threaded)" : "rmsnorm", .ctx = &c, .nout = 2, .out_n = {(int64_t)c.M * c.ld_out, (int64_t)c.M * c.H},
              .out_name = {"out", "rstd"}, .fwd = rms_fwd, .loss = rms_loss, .ngrad = 2,
              .grad_n = {(int64_t)c.M * c.ld_din, c.C}, .grad_name = {"in", "w"}, .param = {c.in, c.w},
              .bwd = rms_bwd, .fast_exact_accum = 1, .skip_fd = big};
  run_op(&t);
  // strides: writes stay inside the (m,h,c) elements
  for (int fast = 0; fast <= 1; fast++) {
    float *out = fzeros((int64_t)c.M * c.ld_out), *din = fzeros((int64_t)c.M * c.ld_din);
    for (int64_t i = 0; i < (int64_t)c.M * c.ld_out; i++) out[i] = 42.0f;
    rms_fwd(&c, fast, (float *[]){out, c.rstd});
    float *dw = fzeros(c.C);
    rms_bwd(&c, fast, (float *[]){din, dw});
    int bad = 0;
    for (int m = 0; m < c.M; m++) {
      for (int j = c.H * c.C; j < c.ld_out; j++) bad += out[(size_t)m * c.ld_out + j] != 42.0f;
      for (int j = c.H * c.C; j < c.ld_din; j++) bad += din[(size_t)m * c.ld_din + j] != 0.0f;
    }
    EXPECT(bad == 0, "rmsnorm %s wrote %d elements outside the heads", fast ? "fast" : "ref", bad);
    free(out), free(din), free(dw);
  }
  free(c.in), free(c.w), free(c.r_out), free(c.dout), free(c.scratch), free(c.rstd);
}

// ---------------------------------------------------------------- activations
typedef struct {
  int64_t n;
  int silu;
  float *in, *r, *scratch;
} ActCtx;
static void act_fwd(void *c, int fast, float **o) {
  ActCtx *x = c;
  if (x->silu)
    (fast ? silu_forward : silu_forward_ref)(o[0], x->in, x->n);
  else
    (fast ? gelu_forward : gelu_forward_ref)(o[0], x->in, x->n);
}
static double act_loss(void *c) {
  ActCtx *x = c;
  (x->silu ? silu_forward_ref : gelu_forward_ref)(x->scratch, x->in, x->n);
  return dot_d(x->scratch, x->r, x->n);
}
static void act_bwd(void *c, int fast, float **g) {
  ActCtx *x = c;
  if (x->silu)
    (fast ? silu_backward : silu_backward_ref)(g[0], x->r, x->in, x->n);
  else
    (fast ? gelu_backward : gelu_backward_ref)(g[0], x->r, x->in, x->n);
}
static void test_activation(int silu, int64_t n, int big) {
  ActCtx c = {.n = n, .silu = silu};
  c.in = frand(c.n, 4.0f);
  c.r = frand(c.n, 1.0f);
  c.scratch = fzeros(c.n);
  OpTest t = {.name = big ? (silu ? "silu(large, threaded)" : "gelu(large, threaded)") : silu ? "silu" : "gelu", .ctx = &c, .nout = 1, .out_n = {c.n}, .out_name = {"out"},
              .fwd = act_fwd, .loss = act_loss, .ngrad = 1, .grad_n = {c.n}, .grad_name = {"in"},
              .param = {c.in}, .bwd = act_bwd, .fast_exact_accum = 1, .skip_fd = big};
  run_op(&t);
  // the tails and the fast exp's clamp: values and derivatives stay finite and agree
  const float xs[] = {-1e4f, -200.0f, -90.0f, -30.0f, -10.0f, -5.0f, -1e-6f, 0.0f, 1e-6f, 5.0f, 10.0f, 30.0f, 90.0f, 200.0f, 1e4f};
  const int k = sizeof xs / sizeof xs[0];
  float of[16], orf[16], gf[16] = {0}, gr[16] = {0}, one[16];
  for (int i = 0; i < k; i++) one[i] = 1.0f;
  act_fwd(&(ActCtx){.n = k, .silu = silu, .in = (float *)xs}, 1, (float *[]){of});
  act_fwd(&(ActCtx){.n = k, .silu = silu, .in = (float *)xs}, 0, (float *[]){orf});
  act_bwd(&(ActCtx){.n = k, .silu = silu, .in = (float *)xs, .r = one}, 1, (float *[]){gf});
  act_bwd(&(ActCtx){.n = k, .silu = silu, .in = (float *)xs, .r = one}, 0, (float *[]){gr});
  int bad = 0;
  for (int i = 0; i < k; i++) {
    bad += !isfinite(of[i]) || !isfinite(gf[i]);
    bad += fabsf(of[i] - orf[i]) > 1e-6f * fabsf(orf[i]) + 1e-30f;
    bad += fabsf(gf[i] - gr[i]) > 1e-5f * fabsf(gr[i]) + 1e-6f;
  }
  EXPECT(bad == 0, "%s: %d mismatches at extreme inputs", t.name, bad);
  if (!bad) printf("  ok  %-44s\n", silu ? "silu extreme inputs (|x| up to 1e4)" : "gelu extreme inputs (|x| up to 1e4)");
  free(c.in), free(c.r), free(c.scratch);
}

// ---------------------------------------------------------------- modulate / gate
typedef struct {
  int B, N, D, mod_stride;
  uint8_t *sel;
  float *in, *shift, *scale, *r, *scratch;  // for gate: in = x0, shift = y, scale = gate
} ModCtx;
static int64_t mod_n(const ModCtx *x) { return (int64_t)x->B * 2 * x->mod_stride; }
static void mod_fwd(void *c, int fast, float **o) {
  ModCtx *x = c;
  (fast ? modulate_forward : modulate_forward_ref)(o[0], x->in, x->shift, x->scale, x->sel, x->mod_stride, x->B,
                                                   x->N, x->D);
}
static double mod_loss(void *c) {
  ModCtx *x = c;
  modulate_forward_ref(x->scratch, x->in, x->shift, x->scale, x->sel, x->mod_stride, x->B, x->N, x->D);
  return dot_d(x->scratch, x->r, (int64_t)x->B * x->N * x->D);
}
static void mod_bwd(void *c, int fast, float **g) {
  ModCtx *x = c;
  (fast ? modulate_backward : modulate_backward_ref)(g[0], g[1], g[2], x->r, x->in, x->scale, x->sel, x->mod_stride,
                                                     x->B, x->N, x->D);
}
static void gate_fwd(void *c, int fast, float **o) {
  ModCtx *x = c;
  memcpy(o[0], x->in, sizeof(float) * x->B * x->N * x->D);
  (fast ? gate_residual_forward : gate_residual_forward_ref)(o[0], x->shift, x->scale, x->sel, x->mod_stride, x->B,
                                                             x->N, x->D);
}
static double gate_loss(void *c) {
  ModCtx *x = c;
  gate_fwd(c, 0, &x->scratch);
  return dot_d(x->scratch, x->r, (int64_t)x->B * x->N * x->D);
}
static void gate_bwd(void *c, int fast, float **g) {
  ModCtx *x = c;
  (fast ? gate_residual_backward : gate_residual_backward_ref)(g[0], x->scale ? g[1] : NULL, x->r, x->shift, x->scale,
                                                               x->sel, x->mod_stride, x->B, x->N, x->D);
}
static void test_modulate(int with_sel, int B, int N, int D, int big) {
  ModCtx c = {.B = B, .N = N, .D = D};
  c.mod_stride = 3 * c.D + 6;  // e.g. one row of a [B,2,3D(+pad)] adaLN output
  const int64_t n = (int64_t)c.B * c.N * c.D;
  if (with_sel) {
    c.sel = calloc((size_t)c.B * c.N, 1);
    for (int i = 0; i < c.B * c.N; i++) c.sel[i] = rng_uniform(5, RNG_TEST, 1, 0, (uint32_t)i) < 0.4f;
    c.sel[0] = 0, c.sel[1] = 1;
  }
  c.in = frand(n, 1.0f);
  c.shift = frand(mod_n(&c), 1.0f);
  c.scale = frand(mod_n(&c), 0.5f);
  c.r = frand(n, 1.0f);
  c.scratch = fzeros(n);
  OpTest t = {.name = big ? "modulate(large, threaded)" : with_sel ? "modulate(sel)" : "modulate(sel NULL)", .ctx = &c, .nout = 1, .out_n = {n},
              .out_name = {"out"}, .fwd = mod_fwd, .loss = mod_loss, .ngrad = 3,
              .grad_n = {n, mod_n(&c), mod_n(&c)}, .grad_name = {"in", "shift", "scale"},
              .param = {c.in, c.shift, c.scale}, .bwd = mod_bwd, .fast_exact_accum = 1, .skip_fd = big};
  run_op(&t);
  // gradients land only in the D entries of the variants the tokens use
  float *ds = fzeros(mod_n(&c)), *dc = fzeros(mod_n(&c));
  modulate_backward(NULL, ds, dc, c.r, c.in, c.scale, c.sel, c.mod_stride, c.B, c.N, c.D);
  int bad = 0;
  for (int b = 0; b < c.B; b++)
    for (int v = 0; v < 2; v++) {
      int used = 0;
      for (int k = 0; k < c.N; k++) used |= (c.sel ? c.sel[b * c.N + k] : 0) == v;
      for (int j = 0; j < c.mod_stride; j++) {
        size_t o = (size_t)(b * 2 + v) * c.mod_stride + j;
        if (!used || j >= c.D) bad += ds[o] != 0.0f || dc[o] != 0.0f;
      }
    }
  EXPECT(bad == 0, "modulate: %d gradient entries written outside the used variants", bad);
  free(ds), free(dc);

  // gated residual on the same layout: x = in, y = shift, gate = scale
  t = (OpTest){.name = big ? "gate_residual(large, threaded)" : with_sel ? "gate_residual(sel)" : "gate_residual(sel NULL)", .ctx = &c, .nout = 1,
               .out_n = {n}, .out_name = {"x"}, .fwd = gate_fwd, .loss = gate_loss, .ngrad = 2,
               .grad_n = {n, mod_n(&c)}, .grad_name = {"y", "gate"}, .param = {NULL, c.scale},
               .bwd = gate_bwd, .fast_exact_accum = 1, .skip_fd = big};
  free(c.shift);
  c.shift = frand(n, 1.0f);  // y [B,N,D]
  t.param[0] = c.shift;
  run_op(&t);
  // gate NULL: plain residual x += y, dy += dx
  float *sv = c.scale;
  c.scale = NULL;
  t = (OpTest){.name = big ? "gate_residual(gate NULL, large)" : "gate_residual(gate NULL)", .ctx = &c, .nout = 1, .out_n = {n}, .out_name = {"x"},
               .fwd = gate_fwd, .loss = gate_loss, .ngrad = 1, .grad_n = {n}, .grad_name = {"y"},
               .param = {c.shift}, .bwd = gate_bwd, .fast_exact_accum = 1, .skip_fd = big};
  if (with_sel) run_op(&t);
  c.scale = sv;
  free(c.sel), free(c.in), free(c.shift), free(c.scale), free(c.r), free(c.scratch);
}

// ---------------------------------------------------------------- MSE loss
static void test_mse(int M, int P) {
  printf("[mse_loss M=%d P=%d]\n", M, P);
  const int64_t n = (int64_t)M * P;
  float *pred = frand(n, 1.0f), *target = frand(n, 1.0f), *w = fzeros(M);
  int nw = 0;
  for (int m = 0; m < M; m++) nw += (w[m] = (m % 3 == 1) ? 0.0f : 1.0f) != 0.0f;
  // direct computation in double
  double num = 0;
  float *want = fzeros(n);
  for (int m = 0; m < M; m++)
    for (int p = 0; p < P; p++) {
      double d = (double)pred[(size_t)m * P + p] - target[(size_t)m * P + p];
      num += w[m] * d * d;
      want[(size_t)m * P + p] = (float)(2.0 * w[m] * d / ((double)P * nw));
    }
  float want_loss = (float)(num / ((double)P * nw));
  float *dpred = frand(n, 100.0f);  // junk: dpred is written with '='
  float loss;
  mse_loss(&loss, dpred, pred, target, w, M, P);
  EXPECT_CLOSE(&loss, &want_loss, 1, 1e-6, "mse_loss (masked) vs direct");
  EXPECT_CLOSE(dpred, want, n, 1e-6, "mse_loss dpred (masked) vs direct");
  int bad = 0;
  for (int m = 0; m < M; m++)
    for (int p = 0; p < P; p++) bad += w[m] == 0.0f && dpred[(size_t)m * P + p] != 0.0f;
  EXPECT(bad == 0, "mse_loss: %d non-zero dpred on masked rows", bad);
  // w NULL = all ones
  float *ones = fzeros(M), *d1 = fzeros(n), *d2 = fzeros(n);
  for (int m = 0; m < M; m++) ones[m] = 1.0f;
  float l1, l2;
  mse_loss(&l1, d1, pred, target, NULL, M, P);
  mse_loss(&l2, d2, pred, target, ones, M, P);
  EXPECT_CLOSE(&l1, &l2, 1, 0.0, "mse_loss w=NULL vs w=1");
  EXPECT_CLOSE(d1, d2, n, 0.0, "mse_loss dpred w=NULL vs w=1");
  // every token masked: loss 0, dpred 0 (no division by zero)
  float *zero = fzeros(M);
  float l0;
  mse_loss(&l0, d1, pred, target, zero, M, P);
  int nz = 0;
  for (int64_t i = 0; i < n; i++) nz += d1[i] != 0.0f;
  EXPECT(l0 == 0.0f && nz == 0, "mse_loss all masked: loss %g, %d non-zero dpred", l0, nz);
  // dpred is the gradient: directional finite difference of the (masked) loss
  float *dir = frand(n, 1.0f), *pp = fcopy(pred, n), *pm = fcopy(pred, n);
  const float h = 1e-2f;
  for (int64_t i = 0; i < n; i++) pp[i] += h * dir[i], pm[i] -= h * dir[i];
  float lp, lm;
  mse_loss(&lp, NULL, pp, target, w, M, P);
  mse_loss(&lm, NULL, pm, target, w, M, P);
  double fd = ((double)lp - lm) / (2.0 * h);
  float fdf = (float)fd, an = (float)dot_d(dpred, dir, n);
  EXPECT_CLOSE(&an, &fdf, 1, 1e-3, "mse_loss dpred.dir vs FD");
  free(pred), free(target), free(w), free(want), free(dpred), free(ones), free(d1), free(d2), free(zero);
  free(dir), free(pp), free(pm);
}

// ---------------------------------------------------------------- AdamW
static void test_adamw(int64_t n) {  // n: not a multiple of the vector width
  printf("[adamw n=%lld]\n", (long long)n);
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f;
  float *p0 = frand(n, 1.0f), *g1 = frand(n, 1.0f), *g2 = frand(n, 1.0f);
  // hand-computed two steps in double
  double *ep = calloc(n, sizeof(double)), *em = calloc(n, sizeof(double)), *ev = calloc(n, sizeof(double));
  for (int64_t i = 0; i < n; i++) {
    double p = p0[i], ga = g1[i], gb = g2[i];
    // step 1: m = (1-b1) g, v = (1-b2) g^2; bias-corrected mhat = g, vhat = g^2
    double m = (1.0 - (double)b1) * ga, v = (1.0 - (double)b2) * ga * ga;
    p = p - (double)lr * (ga / (fabs(ga) + (double)eps) + (double)wd * p);
    // step 2
    m = (double)b1 * m + (1.0 - (double)b1) * gb;
    v = (double)b2 * v + (1.0 - (double)b2) * gb * gb;
    double mhat = m / (1.0 - (double)b1 * (double)b1), vhat = v / (1.0 - (double)b2 * (double)b2);
    p = p - (double)lr * (mhat / (sqrt(vhat) + (double)eps) + (double)wd * p);
    ep[i] = p, em[i] = m, ev[i] = v;
  }
  float *wp = fzeros(n), *wm = fzeros(n), *wv = fzeros(n);
  for (int64_t i = 0; i < n; i++) wp[i] = (float)ep[i], wm[i] = (float)em[i], wv[i] = (float)ev[i];
  for (int fast = 0; fast <= 1; fast++) {
    float *p = fcopy(p0, n), *m = fzeros(n), *v = fzeros(n);
    for (int step = 1; step <= 2; step++)
      (fast ? adamw_update : adamw_update_ref)(p, step == 1 ? g1 : g2, m, v, n, lr, b1, b2, eps, wd, step);
    char what[64];
    snprintf(what, sizeof what, "adamw %s p after 2 steps vs hand", fast ? "fast" : "ref");
    EXPECT_CLOSE(p, wp, n, 1e-6, what);
    snprintf(what, sizeof what, "adamw %s m after 2 steps vs hand", fast ? "fast" : "ref");
    EXPECT_CLOSE(m, wm, n, 1e-6, what);
    snprintf(what, sizeof what, "adamw %s v after 2 steps vs hand", fast ? "fast" : "ref");
    EXPECT_CLOSE(v, wv, n, 1e-6, what);
    // the update moved p by about lr per step (a trivially-passing test would not)
    double moved = 0;
    for (int64_t i = 0; i < n; i++) moved += fabs((double)p[i] - p0[i]);
    EXPECT(moved / n > 0.5 * lr, "adamw %s: mean |dp| %.3g too small", fast ? "fast" : "ref", moved / n);
    free(p), free(m), free(v);
  }
  free(p0), free(g1), free(g2), free(ep), free(em), free(ev), free(wp), free(wm), free(wv);
}

int main(void) {
  // small odd sizes: every check including finite differences
  test_gemm();
  test_linear(1, 37, 70, 53, 0);
  test_linear(0, 37, 70, 53, 0);
  test_layernorm(1, 37, 70, 0);
  test_layernorm(0, 37, 70, 0);
  test_rmsnorm(13, 3, 24, 0);
  test_activation(0, 1001, 0);
  test_activation(1, 1001, 0);
  test_modulate(1, 2, 19, 70, 0);
  test_modulate(0, 2, 19, 70, 0);
  test_mse(37, 70);
  test_adamw(1003);
  // sizes above the OpenMP thresholds, so the threaded paths run (no FD)
  test_linear(1, 301, 300, 203, 1);
  // a power-of-two leading dimension (I = 1024, O <= 768, M >= 256): the fast
  // backward copies `in` into scratch with ld 1040 before dw's GEMM
  // (kernels/cpu/linear.c pad_in); the gradients must still match the reference
  test_linear(1, 320, 1024, 200, 2);
  test_layernorm(1, 301, 300, 1);
  test_rmsnorm(301, 4, 64, 1);
  test_activation(0, 100003, 1);
  test_activation(1, 100003, 1);
  test_modulate(1, 3, 150, 200, 1);
  test_mse(301, 300);
  test_adamw(100003);
  return tl_finish("test_kernels_basic");
}
