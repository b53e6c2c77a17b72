// Every op of the backend table (kernels/oplist.h, called as be_<op>) on
// every backend this binary can open, against the CPU reference op (`*_ref`
// of src/kernels/ops.h, or the one CPU implementation of a ONE op) on fresh
// random inputs: the CPU backend always, then the CUDA backend in fp32 mode
// and in bf16 mode when one opens (a GPU, or the CPU stand-in of
// tests/cuda/mock_gpu.c in build/cuda/test_cuda_ops_mock). On the fp32 CUDA
// pass also the CUDA-only functions of cuda_ops.h (bf16 storage, cuBLASLt
// epilogues, the fused LayerNorm + modulate, the bf16 AdamW copy).
//  - Outputs written with `=` are poisoned with NaN on the device (and on the
//    host for the reference) before each run; a NaN left where the reference
//    wrote, or a value where it did not (gaps between head slices, masked
//    keys), fails.
//  - Gradients start from the same random R on both sides; the check compares
//    the increments (got − R) with (ref − R), so `=` instead of `+=` fails.
//  - Error = ‖got − ref‖ / ‖ref‖ over the written positions; tolerances:
//    1e-5 for fp32 kernels, 1e-2 where a backend computes in bf16 (the
//    GEMMs and linears of the bf16 CUDA backend), exact
//    (0) for copies, fills and embeddings (stated per line).
// Usage: test_cuda_ops            all checks; without a GPU the CPU backend's, then
//                                 "SKIPPED (cuda): why", exit 0 if they passed
//        test_cuda_ops --require-gpu   the same, but exit 1 without a GPU (make test-cuda)
//        test_cuda_ops --probe    exit 0 and "GPU: ..." if usable, else "SKIPPED: why" and exit 3
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "kernels/backend.h"
#include "kernels/cuda_ops.h"
#include "kernels/ops.h"

static const Backend *be;  // the backend under test
static GpuCtx *gcx;        // its CUDA context (NULL: not the CUDA backend)
static int extras;         // 1: also the CUDA-only functions of cuda_ops.h (the fp32 CUDA pass)
static double tol_mm;      // be_gemm, be_linear_*: 1e-5, or 1e-2 where the backend computes them in bf16
static double tol_attn_grad;  // be_attention_backward: 1e-5, or 3e-2 for the bf16 GEMM attention
static const char *label;  // "cpu", "cuda fp32", "cuda bf16"
static int n_checks = 0, n_failed = 0;
static uint32_t next_stream = 100;

// ---------------------------------------------------------------- host helpers
static float *hmalloc(int64_t n) {
  float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!p) abort();
  return p;
}
// uniform(lo, hi), a fresh counter-RNG stream per array
static float *hrand(int64_t n, float lo, float hi) {
  float *x = hmalloc(n);
  const uint32_t s = next_stream++;
  for (int64_t i = 0; i < n; i++)
    x[i] = lo + (hi - lo) * rng_uniform(777, RNG_TEST, s, (uint32_t)(i >> 32), (uint32_t)i);
  return x;
}
static float *hnan(int64_t n) {
  float *x = hmalloc(n);
  for (int64_t i = 0; i < n; i++) x[i] = NAN;
  return x;
}
static float *hcopy(const float *a, int64_t n) {
  float *x = hmalloc(n);
  memcpy(x, a, (size_t)n * sizeof(float));
  return x;
}
static void *dput(const void *h, size_t bytes) {
  void *d = be_alloc(be, bytes);
  be_upload(be, d, h, bytes);
  return d;
}
static float *dputf(const float *h, int64_t n) { return dput(h, (size_t)n * sizeof(float)); }
static float *dnanf(int64_t n) {
  float *d = be_alloc(be, (size_t)(n > 0 ? n : 1) * sizeof(float));
  be_fill_f32(be, d, NAN, n);
  return d;
}
static float *dgetf(const float *d, int64_t n) {
  float *h = hmalloc(n);
  be_download(be, h, d, (size_t)n * sizeof(float));
  return h;
}
// round-to-nearest-even to bf16, kept in a float (the host reference of the conversion)
static float bf16_round(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return x;  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  u &= 0xffff0000u;
  memcpy(&x, &u, 4);
  return x;
}
static float *hround_bf16(const float *a, int64_t n) {
  float *x = hmalloc(n);
  for (int64_t i = 0; i < n; i++) x[i] = bf16_round(a[i]);
  return x;
}
static bf16_t *dput_bf16(const float *h, int64_t n) {  // upload as f32, convert on the device
  float *tmp = dputf(h, n);
  bf16_t *d = be_alloc(be, (size_t)(n > 0 ? n : 1) * sizeof(bf16_t));
  gpu_f32_to_bf16(gcx, d, tmp, n);
  be_sync(be);
  be_free(be, tmp);
  return d;
}
static float *dget_bf16(const bf16_t *d, int64_t n) {
  float *tmp = be_alloc(be, (size_t)(n > 0 ? n : 1) * sizeof(float));
  gpu_bf16_to_f32(gcx, tmp, d, n);
  float *h = dgetf(tmp, n);
  be_free(be, tmp);
  return h;
}

// ---------------------------------------------------------------- checks
// got vs ref over n values; base (may be NULL) is subtracted from both first
// (accumulating ops). A position counts as written when ref is not NaN; there
// got must be finite, elsewhere got must be NaN too (never written).
static void check(const char *op, const char *what, const float *got, const float *ref, const float *base,
                  int64_t n, double tol) {
  double num = 0, den = 0;
  int64_t bad_nan = 0, written = 0;
  for (int64_t i = 0; i < n; i++) {
    const int rn = isnan(ref[i]), gn = isnan(got[i]);
    if (rn || gn) {
      if (rn != gn) bad_nan++;
      continue;
    }
    written++;
    const double b = base ? base[i] : 0.0, g = (double)got[i] - b, r = (double)ref[i] - b;
    num += (g - r) * (g - r);
    den += r * r;
  }
  const double err = sqrt(num) / (den > 1e-300 ? sqrt(den) : 1.0);
  const int ok = bad_nan == 0 && err <= tol && (written > 0 || n == 0);
  n_checks++;
  if (!ok) n_failed++;
  printf("%-4s %-9s %-30s %-8s rel err %.2e  tol %.0e  (%lld values%s)\n", ok ? "ok" : "FAIL", label, op, what, err,
         tol, (long long)n, bad_nan ? ", NaN pattern differs from the reference" : "");
  if (bad_nan) {
    for (int64_t i = 0, shown = 0; i < n && shown < 3; i++)
      if (isnan(ref[i]) != isnan(got[i])) {
        printf("       [%lld] got %g ref %g\n", (long long)i, got[i], ref[i]);
        shown++;
      }
  }
}
static void check_true(const char *op, const char *what, int cond) {
  n_checks++;
  if (!cond) n_failed++;
  printf("%-4s %-9s %-30s %s\n", cond ? "ok" : "FAIL", label, op, what);
}
// Compares a device result with a host reference, frees the host copy.
static void check_dev(const char *op, const char *what, const float *dgot, const float *ref, const float *base,
                      int64_t n, double tol) {
  float *got = dgetf(dgot, n);
  check(op, what, got, ref, base, n, tol);
  free(got);
}

static const double TOL_F32 = 1e-5, TOL_BF16 = 1e-2;

// ---------------------------------------------------------------- convert
static void test_convert(void) {
  const int64_t n = 100003;
  float *x = hrand(n, -3e4f, 3e4f);
  x[0] = NAN;
  x[1] = INFINITY;
  x[2] = 1.0f + 1.0f / 256.0f;          // a tie: rounds to even (1.0)
  x[3] = 1.0f + 3.0f / 256.0f;          // a tie: rounds up to 1 + 2/128
  float *want = hround_bf16(x, n);
  bf16_t *d = dput_bf16(x, n);
  float *got = dget_bf16(d, n);
  int64_t diff = 0;
  for (int64_t i = 0; i < n; i++)
    if (!(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])))) diff++;
  n_checks++;
  if (diff) n_failed++;
  printf("%-4s %-9s %-30s %-8s %lld of %lld differ from host round-to-nearest-even (want 0)\n",
         diff ? "FAIL" : "ok", label, "f32_to_bf16/bf16_to_f32", "exact", (long long)diff, (long long)n);
  be_free(be, d);
  free(x), free(want), free(got);
}

// ---------------------------------------------------------------- GEMM
static void test_gemm(void) {
  const int M = 150, N = 97, K = 130;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
      const int64_t na = (int64_t)(ta ? K : M) * lda, nb = (int64_t)(tb ? N : K) * ldb, nc = (int64_t)M * ldc;
      float *A = hrand(na, -1, 1), *Bm = hrand(nb, -1, 1), *C0 = hrand(nc, -1, 1);
      float *ref = hcopy(C0, nc);
      gemm_ref(ta, tb, M, N, K, 0.7f, A, lda, Bm, ldb, 0.3f, ref, ldc);
      float *dA = dputf(A, na), *dB = dputf(Bm, nb), *dC = dputf(C0, nc);
      char name[64];
      snprintf(name, sizeof name, "gemm ta%d tb%d", ta, tb);
      be_gemm(be, ta, tb, M, N, K, 0.7f, dA, lda, dB, ldb, 0.3f, dC, ldc);
      check_dev(name, "C", dC, ref, NULL, nc, tol_mm);
      if (extras) {  // bf16 inputs: the reference sees the same rounded values, so only the
                     // accumulation differs (fp32 vs double)
        float *Ar = hround_bf16(A, na), *Br = hround_bf16(Bm, nb), *ref2 = hcopy(C0, nc);
        gemm_ref(ta, tb, M, N, K, 0.7f, Ar, lda, Br, ldb, 0.3f, ref2, ldc);
        bf16_t *dA16 = dput_bf16(A, na), *dB16 = dput_bf16(Bm, nb);
        be_upload(be, dC, C0, (size_t)nc * sizeof(float));
        snprintf(name, sizeof name, "gemm_bf16->f32 ta%d tb%d", ta, tb);
        gpu_gemm_bf16(gcx, ta, tb, M, N, K, 0.7f, dA16, lda, dB16, ldb, 0.3f, dC, 0, ldc);
        check_dev(name, "C", dC, ref2, NULL, nc, 1e-5);
        be_free(be, dA16), be_free(be, dB16), free(Ar), free(Br), free(ref2);
      }
      be_free(be, dA), be_free(be, dB), be_free(be, dC);
      free(A), free(Bm), free(C0), free(ref);
    }
  if (!extras) return;
  // beta = 0 never reads C (NaN there must not propagate); bf16 output
  const int64_t nc = (int64_t)M * N;
  float *A = hrand((int64_t)M * K, -1, 1), *Bm = hrand((int64_t)K * N, -1, 1), *ref = hnan(nc);
  float *Ar = hround_bf16(A, (int64_t)M * K), *Br = hround_bf16(Bm, (int64_t)K * N);
  gemm_ref(0, 0, M, N, K, 1.0f, Ar, K, Br, N, 0.0f, ref, N);
  bf16_t *dA16 = dput_bf16(A, (int64_t)M * K), *dB16 = dput_bf16(Bm, (int64_t)K * N);
  float *dC = dnanf(nc);
  gpu_gemm_bf16(gcx, 0, 0, M, N, K, 1.0f, dA16, K, dB16, N, 0.0f, dC, 0, N);
  check_dev("gemm_bf16 beta=0 over NaN", "C", dC, ref, NULL, nc, 1e-5);
  bf16_t *dC16 = be_alloc(be, (size_t)nc * sizeof(bf16_t));
  gpu_gemm_bf16(gcx, 0, 0, M, N, K, 1.0f, dA16, K, dB16, N, 0.0f, dC16, 1, N);
  float *got = dget_bf16(dC16, nc);
  check("gemm_bf16->bf16", "C", got, ref, NULL, nc, TOL_BF16);
  free(got), be_free(be, dC16), be_free(be, dC), be_free(be, dA16), be_free(be, dB16);
  free(A), free(Bm), free(Ar), free(Br), free(ref);
}

// ---------------------------------------------------------------- linear
static void test_linear(void) {
  const int M = 77, I = 70, O = 53;
  float *in = hrand((int64_t)M * I, -1, 1), *w = hrand((int64_t)O * I, -0.5f, 0.5f), *b = hrand(O, -1, 1);
  float *ref = hnan((int64_t)M * O);
  linear_forward_ref(ref, in, w, b, M, I, O);
  float *din = dputf(in, (int64_t)M * I), *dw = dputf(w, (int64_t)O * I), *db = dputf(b, O),
        *dout = dnanf((int64_t)M * O);
  be_linear_forward(be, dout, din, dw, db, M, I, O);
  check_dev("linear_forward", "out", dout, ref, NULL, (int64_t)M * O, tol_mm);
  // backward onto random R
  float *g = hrand((int64_t)M * O, -1, 1), *Rin = hrand((int64_t)M * I, -1, 1), *Rw = hrand((int64_t)O * I, -1, 1),
        *Rb = hrand(O, -1, 1);
  float *rin = hcopy(Rin, (int64_t)M * I), *rw = hcopy(Rw, (int64_t)O * I), *rb = hcopy(Rb, O);
  linear_backward_ref(rin, rw, rb, g, in, w, M, I, O);
  float *dg = dputf(g, (int64_t)M * O), *ddin = dputf(Rin, (int64_t)M * I), *ddw = dputf(Rw, (int64_t)O * I),
        *ddb = dputf(Rb, O);
  be_linear_backward(be, ddin, ddw, ddb, dg, din, dw, M, I, O);
  check_dev("linear_backward", "din", ddin, rin, Rin, (int64_t)M * I, tol_mm);
  check_dev("linear_backward", "dw", ddw, rw, Rw, (int64_t)O * I, tol_mm);
  check_dev("linear_backward", "db", ddb, rb, Rb, O, TOL_F32);
  be_free(be, din), be_free(be, dw), be_free(be, db), be_free(be, dout), be_free(be, dg), be_free(be, ddin), be_free(be, ddw),
      be_free(be, ddb);
  free(in), free(w), free(b), free(ref), free(g), free(Rin), free(Rw), free(Rb), free(rin), free(rw), free(rb);
}

// bf16 linear with cuBLASLt epilogues: O = 128 (fused aux), O = 53 (fallback path for aux)
static void test_linear_bf16(void) {
  const int M = 64, I = 96;
  const int Os[2] = {128, 53};
  for (int oi = 0; oi < 2; oi++)
    for (int gelu = 0; gelu < 2; gelu++)
      for (int has_b = 0; has_b < 2; has_b++) {
        const int O = Os[oi];
        const int64_t no = (int64_t)M * O;
        float *in = hrand((int64_t)M * I, -1, 1), *w = hrand((int64_t)O * I, -0.3f, 0.3f), *b = hrand(O, -1, 1);
        float *inr = hround_bf16(in, (int64_t)M * I), *wr = hround_bf16(w, (int64_t)O * I), *br = hround_bf16(b, O);
        float *pre = hnan(no), *ref = hnan(no);
        linear_forward_ref(pre, inr, wr, has_b ? br : NULL, M, I, O);
        if (gelu) gelu_forward_ref(ref, pre, no);
        else memcpy(ref, pre, (size_t)no * sizeof(float));
        bf16_t *din = dput_bf16(in, (int64_t)M * I), *dw = dput_bf16(w, (int64_t)O * I), *db = dput_bf16(b, O);
        float *poison = hnan(no);
        bf16_t *dout = dput_bf16(poison, no), *dpre = dput_bf16(poison, no);
        gpu_linear_forward_bf16(gcx, dout, gelu ? dpre : NULL, din, dw, has_b ? db : NULL, gelu, M, I, O);
        char name[64];
        snprintf(name, sizeof name, "linear_bf16 O%d%s%s", O, gelu ? " gelu" : "", has_b ? " bias" : "");
        float *got = dget_bf16(dout, no);
        check(name, "out", got, ref, NULL, no, TOL_BF16);
        free(got);
        if (gelu) {
          got = dget_bf16(dpre, no);
          check(name, "pre", got, pre, NULL, no, TOL_BF16);
          free(got);
        }
        be_free(be, din), be_free(be, dw), be_free(be, db), be_free(be, dout), be_free(be, dpre);
        free(in), free(w), free(b), free(inr), free(wr), free(br), free(pre), free(ref), free(poison);
      }
}

// bf16 linear backward: fp32 gradients from bf16 operands; the reference sees
// the same bf16-rounded values, so only the accumulation order differs
static void test_linear_backward_bf16(void) {
  const int M = 77, I = 70, O = 53;
  float *in = hrand((int64_t)M * I, -1, 1), *w = hrand((int64_t)O * I, -0.5f, 0.5f), *g = hrand((int64_t)M * O, -1, 1);
  float *inr = hround_bf16(in, (int64_t)M * I), *wr = hround_bf16(w, (int64_t)O * I), *gr = hround_bf16(g, (int64_t)M * O);
  float *Rin = hrand((int64_t)M * I, -1, 1), *Rw = hrand((int64_t)O * I, -1, 1), *Rb = hrand(O, -1, 1);
  float *rin = hcopy(Rin, (int64_t)M * I), *rw = hcopy(Rw, (int64_t)O * I), *rb = hcopy(Rb, O);
  linear_backward_ref(rin, rw, rb, gr, inr, wr, M, I, O);
  bf16_t *din16 = dput_bf16(in, (int64_t)M * I), *dw16 = dput_bf16(w, (int64_t)O * I), *dg16 = dput_bf16(g, (int64_t)M * O);
  float *ddin = dputf(Rin, (int64_t)M * I), *ddw = dputf(Rw, (int64_t)O * I), *ddb = dputf(Rb, O);
  gpu_linear_backward_bf16(gcx, ddin, ddw, ddb, dg16, din16, dw16, M, I, O);
  check_dev("linear_backward_bf16", "din", ddin, rin, Rin, (int64_t)M * I, 1e-5);
  check_dev("linear_backward_bf16", "dw", ddw, rw, Rw, (int64_t)O * I, 1e-5);
  check_dev("linear_backward_bf16", "db", ddb, rb, Rb, O, 1e-5);
  be_free(be, din16), be_free(be, dw16), be_free(be, dg16), be_free(be, ddin), be_free(be, ddw), be_free(be, ddb);
  free(in), free(w), free(g), free(inr), free(wr), free(gr), free(Rin), free(Rw), free(Rb), free(rin), free(rw), free(rb);
}

// ---------------------------------------------------------------- LayerNorm
static void test_layernorm(void) {
  const int Ms[2] = {37, 301}, Cs[2] = {70, 1152};
  for (int s = 0; s < 2; s++)
    for (int affine = 0; affine < 2; affine++) {
      const int M = Ms[s], C = Cs[s];
      const int64_t n = (int64_t)M * C;
      float *x = hrand(n, -2, 3), *w = hrand(C, 0.5f, 1.5f), *b = hrand(C, -1, 1);
      float *out = hnan(n), *mean = hnan(M), *rstd = hnan(M);
      layernorm_forward_ref(out, mean, rstd, x, affine ? w : NULL, affine ? b : NULL, M, C);
      float *dx = dputf(x, n), *dw = dputf(w, C), *db = dputf(b, C), *dout = dnanf(n), *dmean = dnanf(M),
            *drstd = dnanf(M);
      be_layernorm_forward(be, dout, dmean, drstd, dx, affine ? dw : NULL, affine ? db : NULL, M, C);
      char name[64];
      snprintf(name, sizeof name, "layernorm %dx%d%s", M, C, affine ? " affine" : "");
      check_dev(name, "out", dout, out, NULL, n, TOL_F32);
      check_dev(name, "mean", dmean, mean, NULL, M, TOL_F32);
      check_dev(name, "rstd", drstd, rstd, NULL, M, TOL_F32);
      float *g = hrand(n, -1, 1), *Rx = hrand(n, -1, 1), *Rw = hrand(C, -1, 1), *Rb = hrand(C, -1, 1);
      float *rx = hcopy(Rx, n), *rw = hcopy(Rw, C), *rb = hcopy(Rb, C);
      layernorm_backward_ref(rx, affine ? rw : NULL, affine ? rb : NULL, g, x, affine ? w : NULL, mean, rstd, M, C);
      float *dg = dputf(g, n), *ddx = dputf(Rx, n), *ddw = dputf(Rw, C), *ddb = dputf(Rb, C);
      be_layernorm_backward(be, ddx, affine ? ddw : NULL, affine ? ddb : NULL, dg, dx, affine ? dw : NULL, dmean,
                             drstd, M, C);
      check_dev(name, "din", ddx, rx, Rx, n, TOL_F32);
      if (affine) {
        check_dev(name, "dw", ddw, rw, Rw, C, TOL_F32);
        check_dev(name, "db", ddb, rb, Rb, C, TOL_F32);
      }
      be_free(be, dx), be_free(be, dw), be_free(be, db), be_free(be, dout), be_free(be, dmean), be_free(be, drstd), be_free(be, dg),
          be_free(be, ddx), be_free(be, ddw), be_free(be, ddb);
      free(x), free(w), free(b), free(out), free(mean), free(rstd), free(g), free(Rx), free(Rw), free(Rb), free(rx),
          free(rw), free(rb);
    }
}

// ---------------------------------------------------------------- modulate family
// mod buffer per (b, variant): [shift | scale | gate | 6 spare] at stride 3D+6
static void test_modulate(void) {
  const int B = 2, N = 37, D = 70, ms = 3 * D + 6;
  const int64_t n = (int64_t)B * N * D, nmod = (int64_t)B * 2 * ms;
  for (int use_sel = 0; use_sel < 2; use_sel++) {
    uint8_t sel[2 * 37];
    for (int i = 0; i < B * N; i++) sel[i] = (uint8_t)(use_sel ? (rng_uniform(5, RNG_TEST, 9, 0, i) < 0.4f) * (1 + i % 3) : 0);
    const uint8_t *hs = use_sel ? sel : NULL;
    uint8_t *dsel = use_sel ? dput(sel, sizeof sel) : NULL;
    float *x = hrand(n, -2, 2), *mod = hrand(nmod, -1, 1), *y = hrand(n, -1, 1);
    float *dx_ = dputf(x, n), *dmod = dputf(mod, nmod), *dy_ = dputf(y, n);
    const float *shift = mod, *scale = mod + D, *gate = mod + 2 * D;
    const float *dshift_in = dmod, *dscale_in = dmod + D, *dgate_in = dmod + 2 * D;
    char name[64];
    // modulate
    float *ref = hnan(n);
    modulate_forward_ref(ref, x, shift, scale, hs, ms, B, N, D);
    float *dout = dnanf(n);
    be_modulate_forward(be, dout, dx_, dshift_in, dscale_in, dsel, ms, B, N, D);
    snprintf(name, sizeof name, "modulate%s", use_sel ? " sel" : "");
    check_dev(name, "out", dout, ref, NULL, n, TOL_F32);
    float *g = hrand(n, -1, 1), *Rx = hrand(n, -1, 1), *Rmod = hrand(nmod, -1, 1);
    float *rx = hcopy(Rx, n), *rmod = hcopy(Rmod, nmod);
    modulate_backward_ref(rx, rmod, rmod + D, g, x, scale, hs, ms, B, N, D);
    float *dg = dputf(g, n), *ddx = dputf(Rx, n), *ddmod = dputf(Rmod, nmod);
    be_modulate_backward(be, ddx, ddmod, ddmod + D, dg, dx_, dscale_in, dsel, ms, B, N, D);
    check_dev(name, "din", ddx, rx, Rx, n, TOL_F32);
    check_dev(name, "dshift+dscale", ddmod, rmod, Rmod, nmod, TOL_F32);
    free(rx), free(rmod);
    if (extras) {  // fused LayerNorm + modulate (CUDA only) = layernorm_ref (no affine) then modulate_ref
      float *h = hnan(n), *mean = hnan(B * N), *rstd = hnan(B * N);
      layernorm_forward_ref(h, mean, rstd, x, NULL, NULL, B * N, D);
      modulate_forward_ref(ref, h, shift, scale, hs, ms, B, N, D);
      float *dmean = dnanf(B * N), *drstd = dnanf(B * N);
      be_fill_f32(be, dout, NAN, n);
      gpu_ln_modulate_forward(gcx, dout, dmean, drstd, dx_, dshift_in, dscale_in, dsel, ms, B, N, D);
      snprintf(name, sizeof name, "ln_modulate%s", use_sel ? " sel" : "");
      check_dev(name, "out", dout, ref, NULL, n, TOL_F32);
      check_dev(name, "mean", dmean, mean, NULL, B * N, TOL_F32);
      check_dev(name, "rstd", drstd, rstd, NULL, B * N, TOL_F32);
      float *dh = calloc((size_t)n, sizeof(float));
      rx = hcopy(Rx, n), rmod = hcopy(Rmod, nmod);
      modulate_backward_ref(dh, rmod, rmod + D, g, h, scale, hs, ms, B, N, D);
      layernorm_backward_ref(rx, NULL, NULL, dh, x, NULL, mean, rstd, B * N, D);
      be_upload(be, ddx, Rx, (size_t)n * sizeof(float));
      be_upload(be, ddmod, Rmod, (size_t)nmod * sizeof(float));
      gpu_ln_modulate_backward(gcx, ddx, ddmod, ddmod + D, dg, dx_, dscale_in, dmean, drstd, dsel, ms, B, N, D);
      check_dev(name, "din", ddx, rx, Rx, n, TOL_F32);
      check_dev(name, "dshift+dscale", ddmod, rmod, Rmod, nmod, TOL_F32);
      free(rx), free(rmod), free(dh), free(h), free(mean), free(rstd);
      be_free(be, dmean), be_free(be, drstd);
    }
    // gated residual (and gate NULL = plain residual)
    for (int has_gate = 0; has_gate < 2; has_gate++) {
      float *xr = hcopy(x, n);
      gate_residual_forward_ref(xr, y, has_gate ? gate : NULL, hs, ms, B, N, D);
      be_upload(be, ddx, x, (size_t)n * sizeof(float));
      be_gate_residual_forward(be, ddx, dy_, has_gate ? dgate_in : NULL, dsel, ms, B, N, D);
      snprintf(name, sizeof name, "gate_residual%s%s", has_gate ? "" : " nogate", use_sel ? " sel" : "");
      check_dev(name, "x", ddx, xr, NULL, n, TOL_F32);
      float *ry = hcopy(Rx, n);
      rmod = hcopy(Rmod, nmod);
      gate_residual_backward_ref(ry, rmod + 2 * D, g, y, has_gate ? gate : NULL, hs, ms, B, N, D);
      be_upload(be, ddx, Rx, (size_t)n * sizeof(float));
      be_upload(be, ddmod, Rmod, (size_t)nmod * sizeof(float));
      be_gate_residual_backward(be, ddx, ddmod + 2 * D, dg, dy_, has_gate ? dgate_in : NULL, dsel, ms, B, N, D);
      check_dev(name, "dy", ddx, ry, Rx, n, TOL_F32);
      check_dev(name, "dgate", ddmod, rmod, Rmod, nmod, TOL_F32);
      free(xr), free(ry), free(rmod);
    }
    be_free(be, dx_), be_free(be, dmod), be_free(be, dy_), be_free(be, dout), be_free(be, dg), be_free(be, ddx), be_free(be, ddmod);
    be_free(be, dsel);
    free(x), free(mod), free(y), free(ref), free(g), free(Rx), free(Rmod);
  }
}

// ---------------------------------------------------------------- per-head RMSNorm
static void test_rmsnorm(void) {
  const int M = 37, H = 3, C = 24, ld_in = 3 * H * C, ld_out = H * C + 8, ld_dout = H * C + 3, ld_din = H * C + 18;
  float *in = hrand((int64_t)M * ld_in, -2, 2), *w = hrand(C, 0.5f, 1.5f);
  float *out = hnan((int64_t)M * ld_out), *rstd = hnan((int64_t)M * H);
  rmsnorm_forward_ref(out, ld_out, rstd, in, ld_in, w, M, H, C);
  float *din_ = dputf(in, (int64_t)M * ld_in), *dw = dputf(w, C), *dout = dnanf((int64_t)M * ld_out),
        *drstd = dnanf((int64_t)M * H);
  be_rmsnorm_forward(be, dout, ld_out, drstd, din_, ld_in, dw, M, H, C);
  check_dev("rmsnorm (strided heads)", "out", dout, out, NULL, (int64_t)M * ld_out, TOL_F32);
  check_dev("rmsnorm (strided heads)", "rstd", drstd, rstd, NULL, (int64_t)M * H, TOL_F32);
  float *g = hrand((int64_t)M * ld_dout, -1, 1), *Rx = hrand((int64_t)M * ld_din, -1, 1), *Rw = hrand(C, -1, 1);
  for (int m = 0; m < M; m++)  // gaps of din are NaN: they must stay NaN (never written)
    for (int c = H * C; c < ld_din; c++) Rx[(int64_t)m * ld_din + c] = NAN;
  float *rx = hcopy(Rx, (int64_t)M * ld_din), *rw = hcopy(Rw, C);
  rmsnorm_backward_ref(rx, ld_din, rw, g, ld_dout, in, ld_in, w, rstd, M, H, C);
  float *dg = dputf(g, (int64_t)M * ld_dout), *ddx = dputf(Rx, (int64_t)M * ld_din), *ddw = dputf(Rw, C);
  be_rmsnorm_backward(be, ddx, ld_din, ddw, dg, ld_dout, din_, ld_in, dw, drstd, M, H, C);
  check_dev("rmsnorm (strided heads)", "din", ddx, rx, Rx, (int64_t)M * ld_din, TOL_F32);
  check_dev("rmsnorm (strided heads)", "dw", ddw, rw, Rw, C, TOL_F32);
  be_free(be, din_), be_free(be, dw), be_free(be, dout), be_free(be, drstd), be_free(be, dg), be_free(be, ddx), be_free(be, ddw);
  free(in), free(w), free(out), free(rstd), free(g), free(Rx), free(Rw), free(rx), free(rw);
}

// ---------------------------------------------------------------- activations
static void test_activations(void) {
  const int64_t n = 100003;
  float *x = hrand(n, -6, 6), *g = hrand(n, -1, 1), *R = hrand(n, -1, 1);
  const float extremes[8] = {-1e4f, -100.0f, -20.0f, -10.0f, 10.0f, 20.0f, 100.0f, 1e4f};  // the clamps
  memcpy(x, extremes, sizeof extremes);
  float *dx = dputf(x, n), *dg = dputf(g, n), *dout = dnanf(n), *dd = dputf(R, n);
  for (int which = 0; which < 2; which++) {
    const char *name = which ? "silu" : "gelu_tanh";
    float *ref = hnan(n), *rd = hcopy(R, n);
    if (which) silu_forward_ref(ref, x, n), silu_backward_ref(rd, g, x, n);
    else gelu_forward_ref(ref, x, n), gelu_backward_ref(rd, g, x, n);
    be_fill_f32(be, dout, NAN, n);
    be_upload(be, dd, R, (size_t)n * sizeof(float));
    if (which) be_silu_forward(be, dout, dx, n), be_silu_backward(be, dd, dg, dx, n);
    else be_gelu_forward(be, dout, dx, n), be_gelu_backward(be, dd, dg, dx, n);
    check_dev(name, "out", dout, ref, NULL, n, TOL_F32);
    check_dev(name, "din", dd, rd, R, n, TOL_F32);
    free(ref), free(rd);
  }
  be_free(be, dx), be_free(be, dg), be_free(be, dout), be_free(be, dd);
  free(x), free(g), free(R);
}

// ---------------------------------------------------------------- RoPE
static void test_rope(void) {
  const int B = 2, gh = 6, gw = 5, n0 = 7, N = 113, H = 3, C = 24, ld = H * C + 8;
  const int rope[3] = {8, 6, 10};
  const int half = C / 2;
  float *ct = hnan((int64_t)N * half), *st = hnan((int64_t)N * half);
  rope3d_table(ct, st, n0, N, gh, gw, rope);
  float *dct = dnanf((int64_t)N * half), *dst = dnanf((int64_t)N * half);
  be_rope3d_table(be, dct, dst, n0, N, gh, gw, rope);
  check_dev("rope3d_table", "cos", dct, ct, NULL, (int64_t)N * half, 1e-6);
  check_dev("rope3d_table", "sin", dst, st, NULL, (int64_t)N * half, 1e-6);
  const int64_t n = (int64_t)B * N * ld;
  float *x = hrand(n, -1, 1);
  for (int64_t r = 0; r < (int64_t)B * N; r++)
    for (int c = H * C; c < ld; c++) x[r * ld + c] = NAN;  // gaps: never touched
  float *ref = hcopy(x, n), *refb = hcopy(x, n);
  rope3d_forward_ref(ref, ld, n0, gh, gw, rope, B, N, H, C);
  rope3d_backward_ref(refb, ld, n0, gh, gw, rope, B, N, H, C);
  float *dx = dputf(x, n);
  be_rope3d_forward(be, dx, ld, dct, dst, B, N, H, C);
  check_dev("rope3d", "forward", dx, ref, NULL, n, TOL_F32);
  be_upload(be, dx, x, (size_t)n * sizeof(float));
  be_rope3d_backward(be, dx, ld, dct, dst, B, N, H, C);
  check_dev("rope3d", "backward", dx, refb, NULL, n, TOL_F32);
  be_free(be, dct), be_free(be, dst), be_free(be, dx);
  free(ct), free(st), free(x), free(ref), free(refb);
}

// ---------------------------------------------------------------- attention
typedef struct {
  const char *name;
  int B, Nq, Nk, H, C, ldq, ldk, ldv, ldo;
  int kvalid[2];  // 0 = no mask (NULL)
} AttnCase;

typedef void (*GpuAttnBackward)(const GpuCtx *, float *, float *, float *, const float *, const float *, int,
                                const float *, const float *, int, const float *, int, const float *, int, const int *,
                                int, int, int, int, int);

// masked keys (j >= kvalid[b]): dk, dv on the device exactly as they were (Rk, Rv)
static void check_masked_keys(const AttnCase *t, const char *name, const float *ddk, const float *ddv, const float *Rk,
                              const float *Rv) {
  const int64_t nk = (int64_t)t->B * t->Nk * t->ldk, nv = (int64_t)t->B * t->Nk * t->ldv;
  float *gk = dgetf(ddk, nk), *gv = dgetf(ddv, nv);
  int64_t touched = 0;
  for (int b = 0; b < t->B; b++)
    for (int j = t->kvalid[b]; j < t->Nk; j++)
      for (int c = 0; c < t->H * t->C; c++) {
        const int64_t ik = ((int64_t)b * t->Nk + j) * t->ldk + c, iv = ((int64_t)b * t->Nk + j) * t->ldv + c;
        touched += gk[ik] != Rk[ik];
        touched += gv[iv] != Rv[iv];
      }
  char what[96];
  snprintf(what, sizeof what, "masked keys' dk, dv untouched (%lld values changed)", (long long)touched);
  check_true(name, what, touched == 0);
  free(gk), free(gv);
}

static void test_attention_case(const AttnCase *t) {
  const int B = t->B, Nq = t->Nq, Nk = t->Nk, H = t->H, C = t->C;
  const int64_t nq = (int64_t)B * Nq * t->ldq, nk = (int64_t)B * Nk * t->ldk, nv = (int64_t)B * Nk * t->ldv,
                no = (int64_t)B * Nq * t->ldo, nl = (int64_t)B * H * Nq;
  const int *kv = t->kvalid[0] ? t->kvalid : NULL;
  float *q = hrand(nq, -1.5f, 1.5f), *k = hrand(nk, -1.5f, 1.5f), *v = hrand(nv, -1, 1);
  float *out = hnan(no), *lse = hnan(nl);
  attention_forward_ref(out, t->ldo, lse, q, t->ldq, k, t->ldk, v, t->ldv, kv, B, Nq, Nk, H, C);
  float *dq_ = dputf(q, nq), *dk_ = dputf(k, nk), *dv_ = dputf(v, nv), *dout = dnanf(no), *dlse = dnanf(nl);
  int *dkv = kv ? dput(kv, sizeof(int) * B) : NULL;
  be_attention_forward(be, dout, t->ldo, dlse, dq_, t->ldq, dk_, t->ldk, dv_, t->ldv, dkv, B, Nq, Nk, H, C);
  if (!be->bf16) {
    check_dev(t->name, "out", dout, out, NULL, no, TOL_F32);
    check_dev(t->name, "lse", dlse, lse, NULL, nl, TOL_F32);
  } else {  // the GEMM attention against the reference fed the same bf16-rounded q, k, v: lse is
            // fp32 arithmetic on exact products (1e-4), out carries P's bf16 rounding (1e-2)
    float *qr = hround_bf16(q, nq), *kr = hround_bf16(k, nk), *vr = hround_bf16(v, nv);
    float *rout = hnan(no), *rlse = hnan(nl);
    attention_forward_ref(rout, t->ldo, rlse, qr, t->ldq, kr, t->ldk, vr, t->ldv, kv, B, Nq, Nk, H, C);
    check_dev(t->name, "out", dout, rout, NULL, no, TOL_BF16);
    check_dev(t->name, "lse", dlse, rlse, NULL, nl, 1e-4);
    free(qr), free(kr), free(vr), free(rout), free(rlse);
  }
  if (extras) {  // the bf16 mode's two forwards, each on every case it takes, against the reference fed
                 // the same bf16-rounded q, k, v: lse is then fp32 arithmetic on exact products (1e-4:
                 // room for the tensor cores' accumulation order), out carries P's bf16 rounding (1e-2)
    float *qr = hround_bf16(q, nq), *kr = hround_bf16(k, nk), *vr = hround_bf16(v, nv);
    float *rout = hnan(no), *rlse = hnan(nl);
    attention_forward_ref(rout, t->ldo, rlse, qr, t->ldq, kr, t->ldk, vr, t->ldv, kv, B, Nq, Nk, H, C);
    float *tout = dnanf(no), *tlse = dnanf(nl);
    char name[80];
    snprintf(name, sizeof name, "%s GEMM", t->name);
    gpu_attention_forward_gemm(gcx, tout, t->ldo, tlse, dq_, t->ldq, dk_, t->ldk, dv_, t->ldv, dkv, B, Nq, Nk, H, C);
    check_dev(name, "out", tout, rout, NULL, no, TOL_BF16);
    check_dev(name, "lse", tlse, rlse, NULL, nl, 1e-4);
    if (gpu_attention_mma_supports(C)) {
      snprintf(name, sizeof name, "%s MMA", t->name);
      be_fill_f32(be, tout, NAN, no), be_fill_f32(be, tlse, NAN, nl);
      gpu_attention_forward_mma(gcx, tout, t->ldo, tlse, dq_, t->ldq, dk_, t->ldk, dv_, t->ldv, dkv, B, Nq, Nk, H, C);
      check_dev(name, "out", tout, rout, NULL, no, TOL_BF16);
      check_dev(name, "lse", tlse, rlse, NULL, nl, 1e-4);
    }
    be_free(be, tout), be_free(be, tlse);
    free(qr), free(kr), free(vr), free(rout), free(rlse);
  }
  // backward: dout with NaN in the gaps between heads (only head slices are read)
  float *g = hrand(no, -1, 1);
  for (int64_t i = 0; i < no; i++)
    if (isnan(out[i])) g[i] = NAN;
  float *Rq = hrand(nq, -1, 1), *Rk = hrand(nk, -1, 1), *Rv = hrand(nv, -1, 1);
  float *rq = hcopy(Rq, nq), *rk = hcopy(Rk, nk), *rv = hcopy(Rv, nv);
  attention_backward_ref(rq, rk, rv, g, out, t->ldo, lse, q, t->ldq, k, t->ldk, v, t->ldv, kv, B, Nq, Nk, H, C);
  float *dg = dputf(g, no), *ddq = dputf(Rq, nq), *ddk = dputf(Rk, nk), *ddv = dputf(Rv, nv);
  be_attention_backward(be, ddq, ddk, ddv, dg, dout, t->ldo, dlse, dq_, t->ldq, dk_, t->ldk, dv_, t->ldv, dkv, B,
                         Nq, Nk, H, C);
  check_dev(t->name, "dq", ddq, rq, Rq, nq, tol_attn_grad);
  check_dev(t->name, "dk", ddk, rk, Rk, nk, tol_attn_grad);
  check_dev(t->name, "dv", ddv, rv, Rv, nv, tol_attn_grad);
  if (kv) check_masked_keys(t, t->name, ddk, ddv, Rk, Rv);
  if (extras) {  // the bf16 mode's two backwards, each on every case it takes (against the fp32 reference)
    GpuAttnBackward fns[2] = {gpu_attention_backward_gemm,
                              gpu_attention_mma_bwd_supports(C) ? gpu_attention_backward_mma : NULL};
    const char *tags[2] = {"GEMM", "MMA"};
    for (int f = 0; f < 2; f++) {
      if (!fns[f]) continue;
      char name[80];
      snprintf(name, sizeof name, "%s %s", t->name, tags[f]);
      float *xq = dputf(Rq, nq), *xk = dputf(Rk, nk), *xv = dputf(Rv, nv);
      fns[f](gcx, xq, xk, xv, dg, dout, t->ldo, dlse, dq_, t->ldq, dk_, t->ldk, dv_, t->ldv, dkv, B, Nq, Nk, H, C);
      check_dev(name, "dq", xq, rq, Rq, nq, 3 * TOL_BF16);
      check_dev(name, "dk", xk, rk, Rk, nk, 3 * TOL_BF16);
      check_dev(name, "dv", xv, rv, Rv, nv, 3 * TOL_BF16);
      if (kv) check_masked_keys(t, name, xk, xv, Rk, Rv);
      be_free(be, xq), be_free(be, xk), be_free(be, xv);
    }
  }
  be_free(be, dq_), be_free(be, dk_), be_free(be, dv_), be_free(be, dout), be_free(be, dlse), be_free(be, dkv), be_free(be, dg),
      be_free(be, ddq), be_free(be, ddk), be_free(be, ddv);
  free(q), free(k), free(v), free(out), free(lse), free(g), free(Rq), free(Rk), free(Rv), free(rq), free(rk), free(rv);
}

static void test_attention(void) {
  const AttnCase cases[] = {
      {"attn self 77 C24 strided", 2, 77, 77, 3, 24, 80, 90, 75, 73, {0, 0}},
      {"attn cross 77x53 kv{53,1}", 2, 77, 53, 3, 24, 72, 72, 72, 72, {53, 1}},
      {"attn 200x300 C64 kv{300,129}", 2, 200, 300, 2, 64, 3 * 128, 3 * 128, 3 * 128, 130, {300, 129}},
      {"attn cross 100x32 C72 kv{17,32}", 2, 100, 32, 2, 72, 144, 288, 288, 150, {17, 32}},
      {"attn self 65 C128", 1, 65, 65, 2, 128, 256, 256, 256, 256, {0, 0}},
      {"attn self 1x1 C20", 2, 1, 1, 1, 20, 20, 20, 20, 20, {0, 0}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_attention_case(&cases[i]);
}

// ---------------------------------------------------------------- embeddings
// ring attention's merge against the CPU op (itself held to whole-sequence
// attention in tests/unit/test_ring_attention.c); gaps between heads untouched
static void test_attention_merge(void) {
  const int B = 2, N = 37, H = 3, C = 24, ldo = H * C + 8, ldb = H * C;
  const int64_t no = (int64_t)B * N * ldo, nb = (int64_t)B * N * ldb, nl = (int64_t)B * H * N;
  float *out = hrand(no, -1, 1), *lse = hrand(nl, -2, 3), *blk = hrand(nb, -1, 1), *blse = hrand(nl, -2, 3);
  for (int64_t r = 0; r < (int64_t)B * N; r++)
    for (int c = H * C; c < ldo; c++) out[r * ldo + c] = NAN;
  float *ref = hcopy(out, no), *rlse = hcopy(lse, nl);
  attention_merge(ref, ldo, rlse, blk, ldb, blse, B, N, H, C);
  float *dout = dputf(out, no), *dlse = dputf(lse, nl), *dblk = dputf(blk, nb), *dblse = dputf(blse, nl);
  be_attention_merge(be, dout, ldo, dlse, dblk, ldb, dblse, B, N, H, C);
  check_dev("attention_merge", "out", dout, ref, NULL, no, TOL_F32);
  check_dev("attention_merge", "lse", dlse, rlse, NULL, nl, TOL_F32);
  be_free(be, dout), be_free(be, dlse), be_free(be, dblk), be_free(be, dblse);
  free(out), free(lse), free(blk), free(blse), free(ref), free(rlse);
}

static void test_embeddings(void) {
  {  // timestep embedding, F even and odd
    const int B = 7;
    float t[7] = {0.0f, 1.0f, 0.5f, 0.123f, 0.999f, 0.001f, 0.77f};
    float *dt = dputf(t, B);
    for (int F = 256; F <= 257; F++) {
      float *ref = hnan((int64_t)B * F);
      timestep_embedding(ref, t, B, F);
      float *dout = dnanf((int64_t)B * F);
      be_timestep_embedding(be, dout, dt, B, F);
      check_dev(F % 2 ? "timestep_embedding F257" : "timestep_embedding F256", "out", dout, ref, NULL,
                (int64_t)B * F, 1e-6);
      be_free(be, dout);
      free(ref);
    }
    be_free(be, dt);
  }
  {  // token + position embedding with repeated tokens; backward in the CPU's order
    const int B = 3, L = 19, D = 70, V = 11;
    int32_t tokens[3 * 19];
    for (int i = 0; i < B * L; i++) tokens[i] = (int32_t)((i * 7 + i / 5) % V);
    float *table = hrand((int64_t)V * D, -1, 1), *pos = hrand((int64_t)L * D, -1, 1);
    float *ref = hnan((int64_t)B * L * D);
    embedding_forward(ref, tokens, table, pos, B, L, D);
    int32_t *dtok = dput(tokens, sizeof tokens);
    float *dtab = dputf(table, (int64_t)V * D), *dpos = dputf(pos, (int64_t)L * D), *dout = dnanf((int64_t)B * L * D);
    be_embedding_forward(be, dout, dtok, dtab, dpos, B, L, D);
    check_dev("embedding", "out", dout, ref, NULL, (int64_t)B * L * D, 0.0);
    float *g = hrand((int64_t)B * L * D, -1, 1), *Rt = hrand((int64_t)V * D, -1, 1), *Rp = hrand((int64_t)L * D, -1, 1);
    float *rt = hcopy(Rt, (int64_t)V * D), *rp = hcopy(Rp, (int64_t)L * D);
    embedding_backward(rt, rp, g, tokens, B, L, D);
    float *dg = dputf(g, (int64_t)B * L * D);
    be_upload(be, dtab, Rt, (size_t)V * D * sizeof(float));
    be_upload(be, dpos, Rp, (size_t)L * D * sizeof(float));
    be_embedding_backward(be, dtab, dpos, dg, dtok, B, L, D);
    check_dev("embedding", "dtable", dtab, rt, Rt, (int64_t)V * D, 0.0);
    check_dev("embedding", "dpos", dpos, rp, Rp, (int64_t)L * D, 0.0);
    be_free(be, dtok), be_free(be, dtab), be_free(be, dpos), be_free(be, dout), be_free(be, dg);
    free(table), free(pos), free(ref), free(g), free(Rt), free(Rp), free(rt), free(rp);
  }
  {  // masked mean over the valid rows
    const int B = 3, L = 19, D = 70;
    int nvalid[3] = {19, 1, 7};
    float *in = hrand((int64_t)B * L * D, -1, 1), *ref = hnan((int64_t)B * D);
    masked_mean_forward(ref, in, nvalid, B, L, D);
    int *dnv = dput(nvalid, sizeof nvalid);
    float *din = dputf(in, (int64_t)B * L * D), *dout = dnanf((int64_t)B * D);
    be_masked_mean_forward(be, dout, din, dnv, B, L, D);
    check_dev("masked_mean", "out", dout, ref, NULL, (int64_t)B * D, 1e-6);
    float *g = hrand((int64_t)B * D, -1, 1), *R = hrand((int64_t)B * L * D, -1, 1), *r = hcopy(R, (int64_t)B * L * D);
    masked_mean_backward(r, g, nvalid, B, L, D);
    float *dg = dputf(g, (int64_t)B * D);
    be_upload(be, din, R, (size_t)B * L * D * sizeof(float));
    be_masked_mean_backward(be, din, dg, dnv, B, L, D);
    check_dev("masked_mean", "din", din, r, R, (int64_t)B * L * D, 1e-6);
    float *got = dgetf(din, (int64_t)B * L * D);
    int64_t touched = 0;  // padded rows exactly as they were
    for (int b = 0; b < B; b++)
      for (int l = nvalid[b]; l < L; l++)
        for (int d = 0; d < D; d++) touched += got[((int64_t)b * L + l) * D + d] != R[((int64_t)b * L + l) * D + d];
    check_true("masked_mean", touched ? "padded rows changed" : "padded rows untouched", touched == 0);
    be_free(be, dnv), be_free(be, din), be_free(be, dout), be_free(be, dg);
    free(in), free(ref), free(g), free(R), free(r), free(got);
  }
}

// ---------------------------------------------------------------- patches
static void test_patches(void) {
  const int B = 2, T = 4, H = 6, W = 10, C = 3, pt = 2, ph = 3, pw = 5;
  const int64_t n = (int64_t)B * T * H * W * C;
  float *video = hrand(n, -1, 1), *ref = hnan(n), *back = hnan(n);
  patchify(ref, video, B, T, H, W, C, pt, ph, pw);
  unpatchify(back, ref, B, T, H, W, C, pt, ph, pw);
  float *dvideo = dputf(video, n), *dp = dnanf(n), *dback = dnanf(n);
  be_patchify(be, dp, dvideo, B, T, H, W, C, pt, ph, pw);
  check_dev("patchify", "patches", dp, ref, NULL, n, 0.0);
  be_unpatchify(be, dback, dp, B, T, H, W, C, pt, ph, pw);
  check_dev("unpatchify", "video", dback, back, NULL, n, 0.0);
  be_free(be, dvideo), be_free(be, dp), be_free(be, dback);
  free(video), free(ref), free(back);
}

// ---------------------------------------------------------------- loss
static void test_loss(void) {
  const int M = 301, P = 96;
  const int64_t n = (int64_t)M * P;
  float *pred = hrand(n, -2, 2), *target = hrand(n, -2, 2), *u = hrand(M, 0, 1);
  float *dpred_ = dputf(pred, n), *dtarget = dputf(target, n), *dgrad = dnanf(n), *dloss = dnanf(1);
  for (int mode = 0; mode < 3; mode++) {  // 0: w NULL, 1: 0/1 mask, 2: everything masked
    float *w = hmalloc(M);
    for (int m = 0; m < M; m++) w[m] = mode == 2 ? 0.0f : (u[m] < 0.3f ? 0.0f : 1.0f);
    float *ref = hnan(n);
    float want;
    mse_loss(&want, ref, pred, target, mode ? w : NULL, M, P);
    float *dw = dputf(w, M);
    be_fill_f32(be, dgrad, NAN, n);
    be_mse_loss(be, dloss, dgrad, dpred_, dtarget, mode ? dw : NULL, M, P);
    const char *name = mode == 0 ? "mse_loss w=NULL" : (mode == 1 ? "mse_loss 0/1 mask" : "mse_loss all masked");
    float got;
    be_download(be, &got, dloss, sizeof got);
    if (mode == 2) {
      check_true(name, "loss = 0", got == 0.0f && want == 0.0f);
      float *g = dgetf(dgrad, n);
      int64_t nz = 0;
      for (int64_t i = 0; i < n; i++) nz += g[i] != 0.0f;
      check_true(name, "dpred all exact zeros", nz == 0);
      free(g);
    } else {
      check(name, "loss", &got, &want, NULL, 1, TOL_F32);
      check_dev(name, "dpred", dgrad, ref, NULL, n, TOL_F32);
    }
    be_free(be, dw);
    free(w), free(ref);
  }
  be_free(be, dpred_), be_free(be, dtarget), be_free(be, dgrad), be_free(be, dloss);
  free(pred), free(target), free(u);
}

// ---------------------------------------------------------------- AdamW
static void test_adamw(void) {
  const int64_t n = 100003;
  float *p = hrand(n, -1, 1), *m = hrand(n, -0.1f, 0.1f), *v = hrand(n, 0, 0.01f);
  float *rp = hcopy(p, n), *rm = hcopy(m, n), *rv = hcopy(v, n);
  float *dp = dputf(p, n), *dm = dputf(m, n), *dv = dputf(v, n);
  bf16_t *dp16 = extras ? be_alloc(be, (size_t)n * sizeof(bf16_t)) : NULL;
  for (int step = 1; step <= 3; step++) {
    float *g = hrand(n, -1, 1);
    adamw_update_ref(rp, g, rm, rv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, step);
    float *dg = dputf(g, n);
    if (step < 3 || !extras) be_adamw_update(be, dp, dg, dm, dv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, step);
    else gpu_adamw_update_bf16(gcx, dp, dp16, dg, dm, dv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.1f, step);
    be_free(be, dg);
    free(g);
  }
  check_dev("adamw (3 steps)", "p", dp, rp, p, n, TOL_F32);
  check_dev("adamw (3 steps)", "m", dm, rm, NULL, n, TOL_F32);
  check_dev("adamw (3 steps)", "v", dv, rv, NULL, n, TOL_F32);
  if (extras) {  // step 3 also wrote the bf16 copy
    float *gp = dgetf(dp, n), *want = hround_bf16(gp, n), *got16 = dget_bf16(dp16, n);
    check("adamw bf16 copy", "p_bf16", got16, want, NULL, n, 0.0);
    free(gp), free(want), free(got16);
  }
  be_free(be, dp), be_free(be, dm), be_free(be, dv), be_free(be, dp16);
  free(p), free(m), free(v), free(rp), free(rm), free(rv);
}

// ---------------------------------------------------------------- elementwise glue
// fill, scale, broadcast add, grouped sums and copies are exact (one rounding
// at most, the same on every backend: sum_groups adds in row order); axpy
// 1e-6 (a GPU fuses y + alpha x into one multiply-add).
static void test_glue(void) {
  const int64_t n = 100003;
  float *x = hrand(n, -2, 2), *y = hrand(n, -2, 2);
  float *dx = dputf(x, n), *dy = dnanf(n);
  {  // fill over NaN poison, a non-zero value (no memset shortcut) and +0
    for (int k = 0; k < 2; k++) {
      const float value = k ? 0.0f : -1.25f;
      float *ref = hnan(n);
      fill_f32_ref(ref, value, n);
      be_fill_f32(be, dy, NAN, n);
      be_fill_f32(be, dy, value, n);
      check_dev(k ? "fill_f32 0" : "fill_f32 -1.25", "x", dy, ref, NULL, n, 0.0);
      free(ref);
    }
  }
  {  // axpy, scale
    float *ref = hcopy(y, n);
    axpy_ref(ref, -0.75f, x, n);
    be_upload(be, dy, y, (size_t)n * sizeof(float));
    be_axpy(be, dy, -0.75f, dx, n);
    check_dev("axpy", "y", dy, ref, y, n, 1e-6);
    memcpy(ref, y, (size_t)n * sizeof(float));
    scale_f32_ref(ref, 0.3f, n);
    be_upload(be, dy, y, (size_t)n * sizeof(float));
    be_scale_f32(be, dy, 0.3f, n);
    check_dev("scale_f32", "x", dy, ref, NULL, n, 0.0);
    free(ref);
  }
  {  // add_broadcast into a fresh output and in place; one bias row (reps = R)
    const int R = 301, C = 70;
    const int repss[3] = {1, 7, R};
    for (int k = 0; k < 3; k++) {
      const int reps = repss[k], nb = (R + reps - 1) / reps;
      float *a = hrand((int64_t)R * C, -1, 1), *b = hrand((int64_t)nb * C, -1, 1), *ref = hnan((int64_t)R * C);
      add_broadcast_ref(ref, a, b, R, reps, C);
      float *da = dputf(a, (int64_t)R * C), *db = dputf(b, (int64_t)nb * C), *dout = dnanf((int64_t)R * C);
      char name[64];
      snprintf(name, sizeof name, "add_broadcast reps %d", reps);
      be_add_broadcast(be, dout, da, db, R, reps, C);
      check_dev(name, "out", dout, ref, NULL, (int64_t)R * C, 0.0);
      be_add_broadcast(be, da, da, db, R, reps, C);
      check_dev(name, "in place", da, ref, NULL, (int64_t)R * C, 0.0);
      be_free(be, da), be_free(be, db), be_free(be, dout);
      free(a), free(b), free(ref);
    }
  }
  {  // sum_groups: G groups of reps rows
    const int G = 5, reps = 37, C = 70;
    const int64_t nin = (int64_t)G * reps * C;
    float *in = hrand(nin, -1, 1), *ref = hnan((int64_t)G * C);
    sum_groups_ref(ref, in, G, reps, C);
    float *din = dputf(in, nin), *dout = dnanf((int64_t)G * C);
    be_sum_groups(be, dout, din, G, reps, C);
    check_dev("sum_groups 5x37", "out", dout, ref, NULL, (int64_t)G * C, 0.0);
    be_free(be, din), be_free(be, dout);
    free(in), free(ref);
  }
  {  // copy2d between strided rows: the gaps of dst stay NaN; and the contiguous case
    const int rows = 53, cols = 70, lds = 83, ldd = 91;
    float *src = hrand((int64_t)rows * lds, -1, 1), *ref = hnan((int64_t)rows * ldd);
    copy2d_ref(ref, ldd, src, lds, rows, cols);
    float *dsrc = dputf(src, (int64_t)rows * lds), *ddst = dnanf((int64_t)rows * ldd);
    be_copy2d(be, ddst, ldd, dsrc, lds, rows, cols);
    check_dev("copy2d strided", "dst", ddst, ref, NULL, (int64_t)rows * ldd, 0.0);
    float *ref2 = hnan((int64_t)rows * cols);
    copy2d_ref(ref2, cols, src, cols, rows, cols);
    be_fill_f32(be, ddst, NAN, (int64_t)rows * cols);
    be_copy2d(be, ddst, cols, dsrc, cols, rows, cols);
    check_dev("copy2d contiguous", "dst", ddst, ref2, NULL, (int64_t)rows * cols, 0.0);
    be_free(be, dsrc), be_free(be, ddst);
    free(src), free(ref), free(ref2);
  }
  be_free(be, dx), be_free(be, dy);
  free(x), free(y);
}

// ---------------------------------------------------------------- timings (no assertions)
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
// Best of 5 after one warm-up; fn queues the work, we sync around it.
#define TIME_BEST(ms_out, ...)                       \
  do {                                               \
    __VA_ARGS__;                                     \
    be_sync(be);                                     \
    double best_ = 1e30;                             \
    for (int r_ = 0; r_ < 5; r_++) {                 \
      double t0_ = now_s();                          \
      __VA_ARGS__;                                   \
      be_sync(be);                                   \
      double dt_ = now_s() - t0_;                    \
      if (dt_ < best_) best_ = dt_;                  \
    }                                                \
    (ms_out) = best_ * 1e3;                          \
  } while (0)

static void bench(void) {
  printf("-- timings on %s (best of 5; informational)\n", gcx->name);
  {  // the xl MLP fc1 shape: M = 8192 tokens, 1152 -> 4608
    const int M = 8192, I = 1152, O = 4608;
    bf16_t *a = be_alloc(be, (size_t)M * I * 2), *w = be_alloc(be, (size_t)O * I * 2), *o = be_alloc(be, (size_t)M * O * 2);
    bf16_t *pre = be_alloc(be, (size_t)M * O * 2), *bb = be_alloc(be, (size_t)O * 2);
    float *tmp = be_alloc(be, (size_t)M * O * 4);
    be_fill_f32(be, tmp, 0.01f, (int64_t)M * O);
    gpu_f32_to_bf16(gcx, a, tmp, (int64_t)M * I);
    gpu_f32_to_bf16(gcx, w, tmp, (int64_t)O * I);
    gpu_f32_to_bf16(gcx, bb, tmp, O);
    double ms;
    const double fl = 2.0 * M * I * O;
    TIME_BEST(ms, gpu_gemm_bf16(gcx, 0, 1, M, O, I, 1.0f, a, I, w, I, 0.0f, o, 1, O));
    printf("time gemm_bf16 %dx%dx%d: %.3f ms, %.1f TFLOP/s\n", M, O, I, ms, fl / ms / 1e9);
    TIME_BEST(ms, gpu_linear_forward_bf16(gcx, o, pre, a, w, bb, 1, M, I, O));
    printf("time linear_bf16+bias+gelu(aux) %dx%dx%d: %.3f ms, %.1f TFLOP/s\n", M, O, I, ms, fl / ms / 1e9);
    float *fa = be_alloc(be, (size_t)M * I * 4), *fw = be_alloc(be, (size_t)O * I * 4);
    be_fill_f32(be, fa, 0.01f, (int64_t)M * I);
    be_fill_f32(be, fw, 0.01f, (int64_t)O * I);
    TIME_BEST(ms, gpu_gemm_f32(gcx, 0, 1, M, O, I, 1.0f, fa, I, fw, I, 0.0f, tmp, O));
    printf("time gemm fp32 (no TF32) %dx%dx%d: %.3f ms, %.1f TFLOP/s\n", M, O, I, ms, fl / ms / 1e9);
    TIME_BEST(ms, gpu_gemm(gcx, 0, 1, M, O, I, 1.0f, fa, I, fw, I, 0.0f, tmp, O));
    printf("time gemm f32 data, bf16 operands (gpu_gemm) %dx%dx%d: %.3f ms, %.1f TFLOP/s\n", M, O, I, ms,
           fl / ms / 1e9);
    be_free(be, a), be_free(be, w), be_free(be, o), be_free(be, pre), be_free(be, bb), be_free(be, tmp), be_free(be, fa), be_free(be, fw);
  }
  const int attn_shapes[2][4] = {{2, 4096, 16, 72}, {4, 4096, 12, 64}};  // xl B 2, b B 4 (B, N, H, C)
  for (int sh = 0; sh < 2; sh++) {  // self-attention: flash (fp32) and through the GEMMs (bf16 mode)
    const int B = attn_shapes[sh][0], N = attn_shapes[sh][1], H = attn_shapes[sh][2], C = attn_shapes[sh][3];
    const int ld = 3 * H * C;
    float *qkv = be_alloc(be, (size_t)B * N * ld * 4), *o = be_alloc(be, (size_t)B * N * H * C * 4),
          *l = be_alloc(be, (size_t)B * H * N * 4), *dqkv = be_alloc(be, (size_t)B * N * ld * 4);
    {  // random q, k, v: a constant would make every softmax uniform
      float *h = hrand((int64_t)B * N * ld, -1.0f, 1.0f);
      be_upload(be, qkv, h, (size_t)B * N * ld * 4);
      free(h);
    }
    be_fill_f32(be, dqkv, 0.0f, (int64_t)B * N * ld);
    double ms;
    const double fl = 4.0 * B * H * (double)N * N * C;
    TIME_BEST(ms, gpu_attention_forward(gcx, o, H * C, l, qkv, ld, qkv + H * C, ld, qkv + 2 * H * C, ld, NULL, B, N,
                                        N, H, C));
    printf("time attention fwd (flash fp32) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s\n", B, N, H, C, ms, fl / ms / 1e9);
    TIME_BEST(ms, gpu_attention_forward_gemm(gcx, o, H * C, l, qkv, ld, qkv + H * C, ld, qkv + 2 * H * C, ld, NULL,
                                             B, N, N, H, C));
    printf("time attention fwd (gemm bf16) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s\n", B, N, H, C, ms, fl / ms / 1e9);
    TIME_BEST(ms, gpu_attention_forward_mma(gcx, o, H * C, l, qkv, ld, qkv + H * C, ld, qkv + 2 * H * C, ld, NULL,
                                            B, N, N, H, C));
    printf("time attention fwd (mma bf16) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s\n", B, N, H, C, ms, fl / ms / 1e9);
    TIME_BEST(ms, gpu_attention_backward_gemm(gcx, dqkv, dqkv + H * C, dqkv + 2 * H * C, o, o, H * C, l, qkv, ld,
                                              qkv + H * C, ld, qkv + 2 * H * C, ld, NULL, B, N, N, H, C));
    printf("time attention bwd (gemm bf16) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s (2.5x fwd flops)\n", B, N, H, C,
           ms, 2.5 * fl / ms / 1e9);
    TIME_BEST(ms, gpu_attention_backward_mma(gcx, dqkv, dqkv + H * C, dqkv + 2 * H * C, o, o, H * C, l, qkv, ld,
                                             qkv + H * C, ld, qkv + 2 * H * C, ld, NULL, B, N, N, H, C));
    printf("time attention bwd (mma bf16) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s (2.5x fwd flops)\n", B, N, H, C,
           ms, 2.5 * fl / ms / 1e9);
    TIME_BEST(ms, gpu_attention_backward(gcx, dqkv, dqkv + H * C, dqkv + 2 * H * C, o, o, H * C, l, qkv, ld,
                                         qkv + H * C, ld, qkv + 2 * H * C, ld, NULL, B, N, N, H, C));
    printf("time attention bwd (flash fp32) B%d N%d H%d C%d: %.3f ms, %.1f TFLOP/s (2.5x fwd flops)\n", B, N, H, C,
           ms, 2.5 * fl / ms / 1e9);
    be_free(be, qkv), be_free(be, o), be_free(be, l), be_free(be, dqkv);
  }
  {  // LayerNorm+modulate at xl width
    const int B = 2, N = 4096, D = 1152;
    const int64_t n = (int64_t)B * N * D;
    float *x = be_alloc(be, n * 4), *y = be_alloc(be, n * 4), *dx = be_alloc(be, n * 4), *mod = be_alloc(be, (size_t)B * 2 * 6 * D * 4),
          *mu = be_alloc(be, (size_t)B * N * 4), *rs = be_alloc(be, (size_t)B * N * 4);
    be_fill_f32(be, x, 0.5f, n);
    be_fill_f32(be, mod, 0.1f, (int64_t)B * 2 * 6 * D);
    double ms;
    TIME_BEST(ms, gpu_ln_modulate_forward(gcx, y, mu, rs, x, mod, mod + D, NULL, 6 * D, B, N, D));
    printf("time ln_modulate fwd %dx%d: %.3f ms, %.0f GB/s\n", B * N, D, ms, 2.0 * n * 4 / ms / 1e6);
    TIME_BEST(ms, gpu_ln_modulate_backward(gcx, dx, mod, mod + D, y, x, mod + D, mu, rs, NULL, 6 * D, B, N, D));
    printf("time ln_modulate bwd %dx%d: %.3f ms, %.0f GB/s (3 reads + 1 rmw)\n", B * N, D, ms, 5.0 * n * 4 / ms / 1e6);
    be_free(be, x), be_free(be, y), be_free(be, dx), be_free(be, mod), be_free(be, mu), be_free(be, rs);
  }
}

// Every check on the backend `b`; the CUDA-only functions too when `with_extras`.
// ---------------------------------------------------------------- video autoencoder
// conv3d (causal, strided with asymmetric padding, 1x1x1), frame-wise
// GroupNorm, causal upsampling, the Gaussian latent: forward, and backward
// onto a random R (the increments compared), against the CPU references.
static void test_conv3d_case(const char *name, Conv3dGeom g) {
  const int64_t nin = (int64_t)g.n * g.c * g.d * g.h * g.w, nw = (int64_t)g.o * g.c * g.kd * g.kh * g.kw,
                nout = (int64_t)g.n * g.o * conv3d_od(&g) * conv3d_oh(&g) * conv3d_ow(&g);
  float *x = hrand(nin, -1, 1), *w = hrand(nw, -0.3f, 0.3f), *b = hrand(g.o, -1, 1), *out = hnan(nout);
  conv3d_forward_ref(out, x, w, b, &g);
  float *dx = dputf(x, nin), *dw = dputf(w, nw), *db = dputf(b, g.o), *dout = dnanf(nout);
  be_conv3d_forward(be, dout, dx, dw, db, &g);
  check_dev(name, "out", dout, out, NULL, nout, TOL_F32);
  float *gr = hrand(nout, -1, 1), *Rx = hrand(nin, -1, 1), *Rw = hrand(nw, -1, 1), *Rb = hrand(g.o, -1, 1);
  float *rx = hcopy(Rx, nin), *rw = hcopy(Rw, nw), *rb = hcopy(Rb, g.o);
  conv3d_backward_data_ref(rx, gr, w, &g);
  conv3d_backward_weights_ref(rw, rb, gr, x, &g);
  float *dg = dputf(gr, nout), *ddx = dputf(Rx, nin), *ddw = dputf(Rw, nw), *ddb = dputf(Rb, g.o);
  be_conv3d_backward_data(be, ddx, dg, dw, &g);
  be_conv3d_backward_weights(be, ddw, ddb, dg, dx, &g);
  check_dev(name, "din", ddx, rx, Rx, nin, TOL_F32);
  check_dev(name, "dw", ddw, rw, Rw, nw, TOL_F32);
  check_dev(name, "db", ddb, rb, Rb, g.o, TOL_F32);
  be_free(be, dx), be_free(be, dw), be_free(be, db), be_free(be, dout), be_free(be, dg), be_free(be, ddx),
      be_free(be, ddw), be_free(be, ddb);
  free(x), free(w), free(b), free(out), free(gr), free(Rx), free(Rw), free(Rb), free(rx), free(rw), free(rb);
}

static void test_groupnorm_case(int N, int C, int T, int S, int G) {
  const int64_t n = (int64_t)N * C * T * S, ns = (int64_t)N * G * T;
  float *x = hrand(n, -2, 3), *w = hrand(C, 0.5f, 1.5f), *b = hrand(C, -1, 1);
  float *out = hnan(n), *mean = hnan(ns), *rstd = hnan(ns);
  groupnorm_forward_ref(out, mean, rstd, x, w, b, N, C, T, S, G);
  float *dx = dputf(x, n), *dw = dputf(w, C), *db = dputf(b, C), *dout = dnanf(n), *dmean = dnanf(ns),
        *drstd = dnanf(ns);
  be_groupnorm_forward(be, dout, dmean, drstd, dx, dw, db, N, C, T, S, G);
  char name[64];
  snprintf(name, sizeof name, "groupnorm %dx%dx%dx%d G%d", N, C, T, S, G);
  check_dev(name, "out", dout, out, NULL, n, TOL_F32);
  check_dev(name, "mean", dmean, mean, NULL, ns, TOL_F32);
  check_dev(name, "rstd", drstd, rstd, NULL, ns, TOL_F32);
  float *g = hrand(n, -1, 1), *Rx = hrand(n, -1, 1), *Rw = hrand(C, -1, 1), *Rb = hrand(C, -1, 1);
  float *rx = hcopy(Rx, n), *rw = hcopy(Rw, C), *rb = hcopy(Rb, C);
  groupnorm_backward_ref(rx, rw, rb, g, x, w, mean, rstd, N, C, T, S, G);
  float *dg = dputf(g, n), *ddx = dputf(Rx, n), *ddw = dputf(Rw, C), *ddb = dputf(Rb, C);
  be_groupnorm_backward(be, ddx, ddw, ddb, dg, dx, dw, dmean, drstd, N, C, T, S, G);
  check_dev(name, "din", ddx, rx, Rx, n, TOL_F32);
  check_dev(name, "dw", ddw, rw, Rw, C, TOL_F32);
  check_dev(name, "db", ddb, rb, Rb, C, TOL_F32);
  be_free(be, dx), be_free(be, dw), be_free(be, db), be_free(be, dout), be_free(be, dmean), be_free(be, drstd),
      be_free(be, dg), be_free(be, ddx), be_free(be, ddw), be_free(be, ddb);
  free(x), free(w), free(b), free(out), free(mean), free(rstd), free(g), free(Rx), free(Rw), free(Rb), free(rx),
      free(rw), free(rb);
}

static void test_vae_ops(void) {
  test_conv3d_case("conv3d causal 3x3x3", (Conv3dGeom){2, 3, 5, 6, 7, 5, 3, 3, 3, 1, 1, 1, {2, 0}, {1, 1}, {1, 1}});
  test_conv3d_case("conv3d stride 2 pad 0/1", (Conv3dGeom){2, 4, 5, 8, 6, 3, 3, 3, 3, 2, 2, 2, {2, 0}, {0, 1}, {0, 1}});
  test_conv3d_case("conv3d 1x1x1", (Conv3dGeom){1, 8, 3, 5, 4, 6, 1, 1, 1, 1, 1, 1, {0, 0}, {0, 0}, {0, 0}});
  test_groupnorm_case(2, 12, 5, 6, 4);
  test_groupnorm_case(2, 64, 3, 1024, 32);
  // causal nearest upsampling
  const int NC = 6, D = 3, H = 4, W = 5, sd = 2, sh = 2, sw = 2, OD = 1 + (D - 1) * sd;
  const int64_t ni = (int64_t)NC * D * H * W, no = (int64_t)NC * OD * H * sh * W * sw;
  float *x = hrand(ni, -1, 1), *out = hnan(no), *gr = hrand(no, -1, 1), *R = hrand(ni, -1, 1), *r = hcopy(R, ni);
  upsample3d_forward_ref(out, x, NC, D, H, W, sd, sh, sw);
  upsample3d_backward_ref(r, gr, NC, D, H, W, sd, sh, sw);
  float *dx = dputf(x, ni), *dout = dnanf(no), *dg = dputf(gr, no), *dR = dputf(R, ni);
  be_upsample3d_forward(be, dout, dx, NC, D, H, W, sd, sh, sw);
  be_upsample3d_backward(be, dR, dg, NC, D, H, W, sd, sh, sw);
  check_dev("upsample3d 2x2x2 causal", "out", dout, out, NULL, no, 0.0);
  check_dev("upsample3d 2x2x2 causal", "din", dR, r, R, ni, TOL_F32);
  be_free(be, dx), be_free(be, dout), be_free(be, dg), be_free(be, dR);
  free(x), free(out), free(gr), free(R), free(r);
  // the Gaussian latent (moments [N, 2Z, S])
  const int N = 2, Z = 4, S = 300;
  const int64_t nz = (int64_t)N * Z * S;
  float *mom = hrand(2 * nz, -2, 2), *eps = hrand(nz, -2, 2), *z = hnan(nz), *dz = hrand(nz, -1, 1);
  float *Rm = hrand(2 * nz, -1, 1), *rm = hcopy(Rm, 2 * nz), kl = NAN;
  mom[5] = 25.0f, mom[nz + 7] = -40.0f;  // logvar entries outside the clamp
  gauss_sample_forward(z, &kl, mom, eps, N, Z, S);
  gauss_sample_backward(rm, dz, 3.0f, mom, eps, N, Z, S);
  float *dmom = dputf(mom, 2 * nz), *deps = dputf(eps, nz), *dzz = dnanf(nz), *dkl = dnanf(1), *ddz = dputf(dz, nz),
        *dRm = dputf(Rm, 2 * nz);
  be_gauss_sample_forward(be, dzz, dkl, dmom, deps, N, Z, S);
  be_gauss_sample_backward(be, dRm, ddz, 3.0f, dmom, deps, N, Z, S);
  check_dev("gauss_sample", "z", dzz, z, NULL, nz, TOL_F32);
  check_dev("gauss_sample", "kl", dkl, &kl, NULL, 1, TOL_F32);
  check_dev("gauss_sample", "dmoments", dRm, rm, Rm, 2 * nz, TOL_F32);
  be_free(be, dmom), be_free(be, deps), be_free(be, dzz), be_free(be, dkl), be_free(be, ddz), be_free(be, dRm);
  free(mom), free(eps), free(z), free(dz), free(Rm), free(rm);
}

static int run_suite(const Backend *b, const char *name, int with_extras) {
  be = b, label = name, extras = with_extras;
  gcx = strcmp(b->name, "cuda") == 0 ? b->ctx : NULL;
  tol_mm = b->bf16 ? TOL_BF16 : TOL_F32;
  // bf16 mode: attention through bf16 GEMMs (q, k, v, dout, P and dS
  // rounded): the gradients against the fp32 reference
  tol_attn_grad = b->bf16 ? 3 * TOL_BF16 : TOL_F32;
  if (gcx) gcx->debug_sync = 1;  // checks: a faulting kernel is named where it ran
  char desc[512];
  b->describe(b, desc, sizeof desc);
  printf("-- backend %s: %s\n", name, desc);
  const int checks0 = n_checks, failed0 = n_failed;
  // The CUDA backend's own kernels first, cuBLAS / cuBLASLt last: a library
  // refusal aborts (CUBLAS_CHECK), and everything checked before it is printed.
  if (extras) test_convert();
  test_glue();
  test_layernorm();
  test_modulate();
  test_rmsnorm();
  test_activations();
  test_rope();
  test_embeddings();
  test_attention();
  test_attention_merge();
  test_patches();
  test_loss();
  test_adamw();
  test_vae_ops();
  test_gemm();
  test_linear();
  if (extras) test_linear_bf16(), test_linear_backward_bf16();
  if (gcx) gcx->debug_sync = 0;
  printf("-- backend %s: %d checks, %d failed\n", name, n_checks - checks0, n_failed - failed0);
  return n_failed - failed0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);  // each line out before a possible abort (piped through tee)
  int probe = 0, require = 0, timings = 1, timings_only = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--probe")) probe = 1;
    else if (!strcmp(argv[i], "--require-gpu")) require = 1;
    else if (!strcmp(argv[i], "--no-timings")) timings = 0;
    else if (!strcmp(argv[i], "--timings-only")) timings_only = 1;  // for a profiler (ncu): the timed kernels alone
    else {
      fprintf(stderr, "usage: %s [--probe | --require-gpu] [--no-timings | --timings-only]\n", argv[0]);
      return 2;
    }
  }
  char why[256];
  Backend *cuda = backend_cuda_open(0, 0, why, sizeof why);
  if (probe) {
    if (!cuda) printf("SKIPPED: %s\n", why);
    else {
      char desc[512];
      cuda->describe(cuda, desc, sizeof desc);
      printf("GPU: %s\n", desc);
    }
    backend_close(cuda);
    return cuda ? 0 : 3;
  }
  if (timings_only) {
    if (!cuda) return 1;
    be = cuda, gcx = cuda->ctx;
    bench();
    backend_close(cuda);
    return 0;
  }
  run_suite(backend_cpu(), "cpu", 0);
  char desc[512] = "no CUDA backend";
  if (cuda) {
    cuda->describe(cuda, desc, sizeof desc);
    run_suite(cuda, "cuda fp32", 1);
    if (timings) {
      gcx = cuda->ctx;
      bench();
    }
    backend_close(cuda);
    Backend *cuda16 = backend_cuda_open(0, 1, why, sizeof why);
    run_suite(cuda16, "cuda bf16", 0);
    backend_close(cuda16);
  } else {
    printf("SKIPPED (cuda): %s\n", why);
  }
  printf("test_cuda_ops: %d checks, %d failed (backends: cpu%s; %s)\n", n_checks, n_failed,
         cuda ? ", cuda fp32, cuda bf16" : "", desc);
  if (!cuda && require) return 1;
  return n_failed ? 1 : 0;
}
