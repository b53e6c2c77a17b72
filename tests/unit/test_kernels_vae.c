// Unit tests of the video autoencoder's CPU ops (kernels/ops.h "video
// autoencoder"): conv3d (oneDNN) vs its plain reference and the reference vs
// finite differences, on causal, strided, asymmetric-padding, 1x1x1 and
// (1,3,3) geometries; frame-wise GroupNorm likewise, its statistics against a
// direct computation; the causal nearest upsampling
// against hand-indexed elements and its backward as the exact adjoint; the
// Gaussian latent against a direct computation and finite differences.
// Driver: op_test.h (fast vs ref, ref vs FD, the += contract).
#include "kernels/ops.h"
#include "op_test.h"
#include "testlib.h"

// ---------------------------------------------------------------- conv3d
typedef struct {
  Conv3dGeom g;
  float *in, *w, *b, *r, *scratch;
  int64_t nin, nw, nout;
} ConvCtx;
static void conv_fwd(void *c, int fast, float **o) {
  ConvCtx *x = c;
  (fast ? conv3d_forward : conv3d_forward_ref)(o[0], x->in, x->w, x->b, &x->g);
}
static double conv_loss(void *c) {
  ConvCtx *x = c;
  conv3d_forward_ref(x->scratch, x->in, x->w, x->b, &x->g);
  return dot_d(x->scratch, x->r, x->nout);
}
static void conv_bwd(void *c, int fast, float **gr) {
  ConvCtx *x = c;
  (fast ? conv3d_backward_data : conv3d_backward_data_ref)(gr[0], x->r, x->w, &x->g);
  (fast ? conv3d_backward_weights : conv3d_backward_weights_ref)(gr[1], x->b ? gr[2] : NULL, x->r, x->in, &x->g);
}

static void test_conv(const char *name, Conv3dGeom g, int with_bias, int big) {
  ConvCtx c = {.g = g};
  c.nin = (int64_t)g.n * g.c * g.d * g.h * g.w;
  c.nw = (int64_t)g.o * g.c * g.kd * g.kh * g.kw;
  c.nout = (int64_t)g.n * g.o * conv3d_od(&g) * conv3d_oh(&g) * conv3d_ow(&g);
  c.in = frand(c.nin, 1.0f);
  c.w = frand(c.nw, 0.3f);
  c.b = with_bias ? frand(g.o, 1.0f) : NULL;
  c.r = frand(c.nout, 1.0f);
  c.scratch = fzeros(c.nout);
  printf("  geometry: in %dx%dx%dx%dx%d -> out %dx%dx%dx%dx%d, kernel %dx%dx%d stride %d,%d,%d pad %d/%d %d/%d %d/%d\n",
         g.n, g.c, g.d, g.h, g.w, g.n, g.o, conv3d_od(&g), conv3d_oh(&g), conv3d_ow(&g), g.kd, g.kh, g.kw, g.sd, g.sh,
         g.sw, g.pd[0], g.pd[1], g.ph[0], g.ph[1], g.pw[0], g.pw[1]);
  OpTest t = {.name = name, .ctx = &c, .nout = 1, .out_n = {c.nout}, .out_name = {"out"}, .fwd = conv_fwd,
              .loss = conv_loss, .ngrad = with_bias ? 3 : 2, .grad_n = {c.nin, c.nw, g.o},
              .grad_name = {"in", "w", "b"}, .param = {c.in, c.w, c.b}, .bwd = conv_bwd, .skip_fd = big};
  run_op(&t);
  free(c.in), free(c.w), free(c.b), free(c.r), free(c.scratch);
}

// A hand-worked causal conv: one channel, 3 frames of 1x1, kernel 3 in time
// with pd = {2, 0}: out[t] = w2 x[t] + w1 x[t-1] + w0 x[t-2] (zero before t=0),
// so frame 0 sees only itself.
static void test_conv_causal_by_hand(void) {
  Conv3dGeom g = {.n = 1, .c = 1, .d = 3, .h = 1, .w = 1, .o = 1, .kd = 3, .kh = 1, .kw = 1, .sd = 1, .sh = 1,
                  .sw = 1, .pd = {2, 0}};
  const float x[3] = {1, 10, 100}, w[3] = {0.5f, 2, 3}, b = 0.25f;
  const float want[3] = {3 * 1 + b, 3 * 10 + 2 * 1 + b, 3 * 100 + 2 * 10 + 0.5f * 1 + b};
  float got[3], gotr[3];
  conv3d_forward(got, x, w, &b, &g);
  conv3d_forward_ref(gotr, x, w, &b, &g);
  EXPECT_CLOSE(got, want, 3, 1e-7, "conv3d causal by hand (fast)");
  EXPECT_CLOSE(gotr, want, 3, 1e-7, "conv3d causal by hand (ref)");
  // strided causal down-sampling, kernel 3 stride 2 pd {2,0}: 5 frames -> 3 = 1 + (5-1)/2
  Conv3dGeom s = g;
  s.d = 5, s.sd = 2;
  EXPECT(conv3d_od(&s) == 3, "causal stride-2 conv of 5 frames gives %d frames, want 3", conv3d_od(&s));
}

// ---------------------------------------------------------------- GroupNorm
typedef struct {
  int N, C, T, S, G;
  float *in, *w, *b, *r, *scratch, *mean, *rstd;
} GnCtx;
static void gn_fwd(void *c, int fast, float **o) {
  GnCtx *x = c;
  (fast ? groupnorm_forward : groupnorm_forward_ref)(o[0], o[1], o[2], x->in, x->w, x->b, x->N, x->C, x->T, x->S, x->G);
}
static double gn_loss(void *c) {
  GnCtx *x = c;
  groupnorm_forward_ref(x->scratch, x->mean, x->rstd, x->in, x->w, x->b, x->N, x->C, x->T, x->S, x->G);
  return dot_d(x->scratch, x->r, (int64_t)x->N * x->C * x->T * x->S);
}
static void gn_bwd(void *c, int fast, float **g) {
  GnCtx *x = c;
  groupnorm_forward_ref(x->scratch, x->mean, x->rstd, x->in, x->w, x->b, x->N, x->C, x->T, x->S, x->G);
  (fast ? groupnorm_backward : groupnorm_backward_ref)(g[0], g[1], g[2], x->r, x->in, x->w, x->mean, x->rstd, x->N,
                                                       x->C, x->T, x->S, x->G);
}
static void test_groupnorm(int N, int C, int T, int S, int G, int big) {
  GnCtx c = {.N = N, .C = C, .T = T, .S = S, .G = G};
  const int64_t n = (int64_t)N * C * T * S, ns = (int64_t)N * G * T;
  c.in = frand(n, 1.0f);
  for (int64_t i = 0; i < n; i++) c.in[i] = 2.0f * c.in[i] + 0.7f;  // non-zero mean, non-unit variance
  c.w = frand(C, 0.5f);
  for (int i = 0; i < C; i++) c.w[i] += 1.0f;
  c.b = frand(C, 1.0f);
  c.r = frand(n, 1.0f);
  c.scratch = fzeros(n);
  c.mean = fzeros(ns);
  c.rstd = fzeros(ns);
  OpTest t = {.name = big ? "groupnorm(large, threaded)" : "groupnorm", .ctx = &c, .nout = 3,
              .out_n = {n, ns, ns}, .out_name = {"out", "mean", "rstd"}, .fwd = gn_fwd, .loss = gn_loss,
              .ngrad = 3, .grad_n = {n, C, C}, .grad_name = {"in", "w", "b"}, .param = {c.in, c.w, c.b},
              .bwd = gn_bwd, .skip_fd = big};
  run_op(&t);
  // the statistics of (n=1, g=1, last frame) against a direct double computation over
  // that frame's sites of the group's channels only
  if (N > 1 && G > 1) {
    const int cg = C / G, t = T - 1;
    double s = 0, q = 0;
    for (int ch = cg; ch < 2 * cg; ch++)
      for (int i = 0; i < S; i++) s += c.in[(((int64_t)1 * C + ch) * T + t) * S + i];
    const double mu = s / ((double)cg * S);
    for (int ch = cg; ch < 2 * cg; ch++)
      for (int i = 0; i < S; i++) {
        const double d = c.in[(((int64_t)1 * C + ch) * T + t) * S + i] - mu;
        q += d * d;
      }
    const float want[2] = {(float)mu, (float)(1.0 / sqrt(q / ((double)cg * S) + TSR_NORM_EPS))};
    float *out = fzeros(n);
    groupnorm_forward(out, c.mean, c.rstd, c.in, c.w, c.b, N, C, T, S, G);
    const float got[2] = {c.mean[(G + 1) * T + t], c.rstd[(G + 1) * T + t]};
    EXPECT_CLOSE(got, want, 2, 1e-6, "groupnorm mean/rstd of (n=1, g=1, last frame) vs direct");
    free(out);
  }
  free(c.in), free(c.w), free(c.b), free(c.r), free(c.scratch), free(c.mean), free(c.rstd);
}

// ---------------------------------------------------------------- upsampling
static void test_upsample(int NC, int D, int H, int W, int sd, int sh, int sw) {
  printf("[upsample3d NC %d, %dx%dx%d by %d,%d,%d]\n", NC, D, H, W, sd, sh, sw);
  const int OD = 1 + (D - 1) * sd;
  const int64_t ni = (int64_t)NC * D * H * W, no = (int64_t)NC * OD * H * sh * W * sw;
  float *x = frand(ni, 1.0f), *y = frand(no, 1.0f), *o = fzeros(no), *orf = fzeros(no);
  float *dx = frand(ni, 1.0f), *dxr = fcopy(dx, ni), *dx0 = fcopy(dx, ni);
  upsample3d_forward(o, x, NC, D, H, W, sd, sh, sw);
  upsample3d_forward_ref(orf, x, NC, D, H, W, sd, sh, sw);
  EXPECT_CLOSE(o, orf, no, 0.0, "upsample3d forward fast vs ref");
  upsample3d_backward(dx, y, NC, D, H, W, sd, sh, sw);
  upsample3d_backward_ref(dxr, y, NC, D, H, W, sd, sh, sw);
  EXPECT_CLOSE(dx, dxr, ni, 1e-6, "upsample3d backward fast vs ref");
  // adjoint: <up(x), y> = <x, up^T(y)>
  for (int64_t i = 0; i < ni; i++) dxr[i] -= dx0[i];
  const double lhs = dot_d(orf, y, no), rhs = dot_d(x, dxr, ni);
  EXPECT(fabs(lhs - rhs) <= 1e-5 * (fabs(lhs) + 1), "upsample3d backward is not the adjoint: %.9g vs %.9g", lhs, rhs);
  // by hand: output frame 0 is input frame 0; output frame 1..sd are input frame 1
  const int c = NC - 1, t = OD - 1, yy = H * sh - 1, xx = W * sw - 1;
  const float want = x[(((int64_t)c * D + D - 1) * H + H - 1) * W + W - 1];
  EXPECT(o[(((int64_t)c * OD + t) * H * sh + yy) * W * sw + xx] == want, "upsample3d last element");
  if (sd > 1 && D > 1) {
    const float f1 = x[((int64_t)c * D + 1) * H * W], f0 = x[(int64_t)c * D * H * W];
    EXPECT(o[((int64_t)c * OD + 0) * H * sh * W * sw] == f0, "upsample3d: output frame 0 is not input frame 0");
    EXPECT(o[((int64_t)c * OD + 1) * H * sh * W * sw] == f1 && o[((int64_t)c * OD + sd) * H * sh * W * sw] == f1,
           "upsample3d: output frames 1..sd are not input frame 1 (causal)");
  }
  free(x), free(y), free(o), free(orf), free(dx), free(dxr), free(dx0);
}

// ---------------------------------------------------------------- Gaussian latent
typedef struct {
  int N, C, S;
  float *mom, *eps, *r, *z, kw;
} GaCtx;
static double ga_loss(void *c) {  // L = sum z r + kw kl
  GaCtx *x = c;
  float kl;
  gauss_sample_forward(x->z, &kl, x->mom, x->eps, x->N, x->C, x->S);
  return dot_d(x->z, x->r, (int64_t)x->N * x->C * x->S) + (double)x->kw * kl;
}
static void ga_fwd(void *c, int fast, float **o) {
  GaCtx *x = c;
  gauss_sample_forward(o[0], o[1], x->mom, x->eps, x->N, x->C, x->S);
}
static void ga_bwd(void *c, int fast, float **g) {
  GaCtx *x = c;
  gauss_sample_backward(g[0], x->r, x->kw, x->mom, x->eps, x->N, x->C, x->S);
}
static void test_gauss(void) {
  GaCtx c = {.N = 2, .C = 3, .S = 10, .kw = 40.0f};  // kw: the KL term comparable to the z term
  const int64_t cs = (int64_t)c.C * c.S, nz = c.N * cs;
  c.mom = frand(2 * nz, 1.0f);
  c.eps = frand(nz, 1.5f);
  c.r = frand(nz, 1.0f);
  c.z = fzeros(nz);
  OpTest t = {.name = "gauss_sample", .ctx = &c, .nout = 2, .out_n = {nz, 1}, .out_name = {"z", "kl"},
              .fwd = ga_fwd, .loss = ga_loss, .ngrad = 1, .grad_n = {2 * nz}, .grad_name = {"moments"},
              .param = {c.mom}, .bwd = ga_bwd, .fast_exact_accum = 1};
  run_op(&t);
  // direct computation of z and kl
  float kl, *z = fzeros(nz), *zw = fzeros(nz);
  double acc = 0;
  for (int n = 0; n < c.N; n++)
    for (int64_t i = 0; i < cs; i++) {
      const double mu = c.mom[n * 2 * cs + i], lv = c.mom[n * 2 * cs + cs + i];
      zw[n * cs + i] = (float)(mu + exp(0.5 * lv) * c.eps[n * cs + i]);
      acc += 0.5 * (mu * mu + exp(lv) - 1 - lv);
    }
  gauss_sample_forward(z, &kl, c.mom, c.eps, c.N, c.C, c.S);
  EXPECT_CLOSE(z, zw, nz, 1e-6, "gauss z vs direct");
  const float klw = (float)(acc / (double)nz);
  EXPECT_CLOSE(&kl, &klw, 1, 1e-6, "gauss kl vs direct");
  // eps NULL: z = mean exactly
  gauss_sample_forward(z, NULL, c.mom, NULL, c.N, c.C, c.S);
  int bad = 0;
  for (int n = 0; n < c.N; n++)
    for (int64_t i = 0; i < cs; i++) bad += z[n * cs + i] != c.mom[n * 2 * cs + i];
  EXPECT(bad == 0, "gauss z with eps NULL differs from the mean in %d places", bad);
  // a logvar beyond the clamp gets no gradient
  c.mom[cs] = 25.0f;
  float *g = fzeros(2 * nz);
  gauss_sample_backward(g, c.r, c.kw, c.mom, c.eps, c.N, c.C, c.S);
  EXPECT(g[cs] == 0.0f, "gauss: clamped logvar got gradient %g", g[cs]);
  free(g), free(z), free(zw), free(c.mom), free(c.eps), free(c.r), free(c.z);
}

int main(void) {
  test_conv_causal_by_hand();
  // causal 3x3x3 (the residual blocks' conv)
  test_conv("conv3d causal 3x3x3", (Conv3dGeom){2, 3, 5, 6, 7, 5, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 1, 0);
  // causal strided down-sampling in time and space, asymmetric spatial padding
  test_conv("conv3d strided 2x2x2", (Conv3dGeom){2, 4, 5, 8, 6, 3, 3, 3, 3, 2, 2, 2, {2, 0}, {0, 1}, {0, 1}}, 1, 0);
  test_conv("conv3d 1x1x1 no bias", (Conv3dGeom){2, 4, 3, 5, 4, 6, 1, 1, 1, 1, 1, 1, {0, 0}, {0, 0}, {0, 0}}, 0, 0);
  test_conv("conv3d 1x3x3 stride 1,2,1", (Conv3dGeom){1, 3, 4, 7, 5, 4, 1, 3, 3, 1, 2, 1, {0, 0}, {1, 0}, {2, 1}}, 1, 0);
  test_conv("conv3d(large)", (Conv3dGeom){2, 32, 5, 16, 16, 32, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}}, 1, 1);
  test_groupnorm(2, 12, 5, 3 * 2, 4, 0);
  test_groupnorm(2, 8, 1, 7, 1, 0);
  test_groupnorm(2, 64, 4, 1024, 32, 1);
  test_upsample(6, 3, 4, 5, 2, 2, 2);
  test_upsample(4, 3, 3, 2, 1, 2, 3);
  test_upsample(16, 5, 16, 16, 2, 2, 2);
  test_gauss();
  return tl_finish("test_kernels_vae");
}
