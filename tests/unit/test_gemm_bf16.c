// The CPU backend's bf16 mode (kernels/cpu/gemm_bf16.c): gemm_bf16 against
// gemm_ref fed the same bf16-rounded operands (fp32 accumulation of exact
// products: 1e-5) and against fp32 gemm on the unrounded ones (bf16's
// rounding: between 1e-5 and 1e-2, so it really rounds); every layout,
// alpha and beta, ldc > N (the padding untouched), beta = 0 not reading C, a
// shape again with new data (the cached primitive). The bf16 linears against
// the fp32 ones; backend_open("cpu", "bf16") gives a backend whose ops are
// these. On a CPU without AVX512-BF16: backend_open refuses with the reason;
// "auto" gives bf16 exactly where it is native.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/backend.h"
#include "kernels/ops.h"
#include "op_test.h"

static float round_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;
  memcpy(&f, &u, 4);
  return f;
}
static float *rounded(const float *x, int64_t n) {
  float *y = fzeros(n);
  for (int64_t i = 0; i < n; i++) y[i] = round_bf16(x[i]);
  return y;
}

static void test_gemm_bf16(void) {
  static const int shapes[][3] = {{37, 29, 53}, {256, 192, 300}, {1, 17, 9}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
    for (int ta = 0; ta <= 1; ta++)
      for (int tb = 0; tb <= 1; tb++)
        for (int pass = 0; pass < 2; pass++) {  // pass 1: the same shape, new data (cached primitive)
          const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
          const int64_t na = (int64_t)(ta ? K : M) * lda, nb = (int64_t)(tb ? N : K) * ldb, nc = (int64_t)M * ldc;
          float *A = frand(na, 1.0f), *B = frand(nb, 1.0f), *C0 = frand(nc, 1.0f);
          float *Ar = rounded(A, na), *Br = rounded(B, nb);
          float *C = fcopy(C0, nc), *Cr = fcopy(C0, nc), *Cf = fcopy(C0, nc);
          gemm_bf16(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, C, ldc);
          gemm_ref(ta, tb, M, N, K, 0.7f, Ar, lda, Br, ldb, 0.3f, Cr, ldc);
          gemm(ta, tb, M, N, K, 0.7f, A, lda, B, ldb, 0.3f, Cf, ldc);
          int64_t pad_changed = 0;
          for (int64_t i = 0; i < nc; i++) pad_changed += i % ldc >= N && C[i] != C0[i];
          EXPECT(pad_changed == 0, "gemm_bf16 %dx%dx%d ta=%d tb=%d: %lld padding values written", M, N, K, ta, tb,
                 (long long)pad_changed);
          char what[112];
          snprintf(what, sizeof what, "gemm_bf16 %dx%dx%d ta=%d tb=%d a=.7 b=.3 vs ref on rounded operands", M, N,
                   K, ta, tb);
          EXPECT_CLOSE(C, Cr, nc, 1e-5, what);
          const double e = tl_rel_err(C, Cf, nc);
          EXPECT(e > 1e-5 && e < 1e-2, "gemm_bf16 %dx%dx%d ta=%d tb=%d vs fp32 gemm: rel err %.2e (want bf16's, "
                 "1e-5..1e-2)", M, N, K, ta, tb, e);
          // beta = 0: C not read (NaN must not reach the product)
          for (int64_t i = 0; i < nc; i++) C[i] = Cr[i] = i % ldc < N ? NAN : 0.0f;
          gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
          gemm_ref(ta, tb, M, N, K, 1.0f, Ar, lda, Br, ldb, 0.0f, Cr, ldc);
          snprintf(what, sizeof what, "gemm_bf16 %dx%dx%d ta=%d tb=%d beta=0 (C not read)", M, N, K, ta, tb);
          EXPECT_CLOSE(C, Cr, nc, 1e-5, what);
          free(A), free(B), free(C0), free(Ar), free(Br), free(C), free(Cr), free(Cf);
        }
  }
}

static void test_linear_bf16(void) {
  const int M = 96, I = 80, O = 72;
  float *in = frand((int64_t)M * I, 1.0f), *w = frand((int64_t)O * I, 0.2f), *b = frand(O, 0.5f);
  float *out = fzeros((int64_t)M * O), *out32 = fzeros((int64_t)M * O);
  linear_forward_bf16(out, in, w, b, M, I, O);
  linear_forward(out32, in, w, b, M, I, O);
  double e = tl_rel_err(out, out32, (int64_t)M * O);
  EXPECT(e > 1e-5 && e < 1e-2, "linear_forward_bf16 vs fp32: rel err %.2e (want 1e-5..1e-2)", e);
  float *dout = frand((int64_t)M * O, 1.0f);
  float *din = frand((int64_t)M * I, 1.0f), *dw = frand((int64_t)O * I, 1.0f), *db = frand(O, 1.0f);
  float *din32 = fcopy(din, (int64_t)M * I), *dw32 = fcopy(dw, (int64_t)O * I), *db32 = fcopy(db, O);
  linear_backward_bf16(din, dw, db, dout, in, w, M, I, O);
  linear_backward(din32, dw32, db32, dout, in, w, M, I, O);
  EXPECT_CLOSE(din, din32, (int64_t)M * I, 1e-2, "linear_backward_bf16 din (accumulated) vs fp32");
  EXPECT_CLOSE(dw, dw32, (int64_t)O * I, 1e-2, "linear_backward_bf16 dw (accumulated) vs fp32");
  EXPECT_CLOSE(db, db32, O, 0.0, "linear_backward_bf16 db (fp32, the same reduction) vs fp32");
  // one gradient at a time (the other NULL): the same bits as both at once
  float *din1 = fcopy(din32, (int64_t)M * I), *dw1 = fcopy(dw32, (int64_t)O * I);
  float *din2 = fcopy(din32, (int64_t)M * I), *dw2 = fcopy(dw32, (int64_t)O * I);
  linear_backward_bf16(din1, dw1, NULL, dout, in, w, M, I, O);
  linear_backward_bf16(din2, NULL, NULL, dout, in, w, M, I, O);
  linear_backward_bf16(NULL, dw2, NULL, dout, in, w, M, I, O);
  EXPECT_CLOSE(din2, din1, (int64_t)M * I, 0.0, "linear_backward_bf16 din alone = din with dw");
  EXPECT_CLOSE(dw2, dw1, (int64_t)O * I, 0.0, "linear_backward_bf16 dw alone = dw with din");
  free(din1), free(dw1), free(din2), free(dw2);
  free(in), free(w), free(b), free(out), free(out32), free(dout), free(din), free(dw), free(db), free(din32),
      free(dw32), free(db32);
}

// backend_open("cpu", "bf16"): these ops, or a refusal that names the reason
static int test_backend(void) {
  char why[256] = "";
  const Backend *be = backend_open("cpu", "bf16", 0, why, sizeof why);
  char avail_why[200] = "";
  const int avail = gemm_bf16_available(avail_why, sizeof avail_why);
  // auto: the bf16 backend exactly where it is native, fp32 elsewhere; never refused
  char auto_why[256] = "";
  const Backend *automatic = backend_open("cpu", "auto", 0, auto_why, sizeof auto_why);
  EXPECT(automatic && automatic->bf16 == avail && automatic->mem.host,
         "backend_open(cpu, auto): bf16 = %d where AVX512-BF16 is %s (%s)", automatic ? automatic->bf16 : -1,
         avail ? "present" : "absent", auto_why);
  EXPECT(!backend_open("cpu", "fp16", 0, auto_why, sizeof auto_why) && strstr(auto_why, "fp32, bf16 or auto"),
         "backend_open(cpu, fp16): refused, naming the choices (got '%s')", auto_why);
  if (!avail) {
    EXPECT(be == NULL && strstr(why, "bf16") && strstr(why, avail_why),
           "backend_open(cpu, bf16) without AVX512-BF16: refused with the reason (got '%s')", why);
    printf("SKIPPED the bf16 products: %s\n", avail_why);
    return 0;
  }
  EXPECT(be && be->bf16, "backend_open(cpu, bf16): a bf16 backend (%s)", why);
  if (!be) return 1;
  const int M = 33, N = 21, K = 40;
  float *A = frand((int64_t)M * K, 1.0f), *B = frand((int64_t)N * K, 1.0f);
  float *C1 = fzeros((int64_t)M * N), *C2 = fzeros((int64_t)M * N);
  be_gemm(be, 0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
  gemm_bf16(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
  EXPECT_CLOSE(C1, C2, (int64_t)M * N, 0.0, "the bf16 backend's gemm is gemm_bf16");
  char desc[256];
  be->describe(be, desc, sizeof desc);
  printf("bf16 backend: %s\n", desc);
  free(A), free(B), free(C1), free(C2);
  return 1;
}

int main(void) {
  if (test_backend()) {
    test_gemm_bf16();
    test_linear_bf16();
  }
  return tl_finish("test_gemm_bf16");
}
