// gemm with bf16 operands and fp32 accumulation on CPUs with AVX512-BF16 or
// AMX (the CPU backend's bf16 mode, run.precision: bf16): A and B are rounded
// to bf16 (nearest even) into grow-only packed copies, then oneDNN's matmul
// primitive multiplies them into fp32 C (alpha as its output scale, beta as a
// sum post-op). Primitives are cached by shape. Measured with
// bench/gemm_bf16_bench.c on a 2-core AMD EPYC Zen 4 (AVX512-BF16), rounding
// included: 1.75-2.5x dnnl_sgemm on the tiny and demo models' linear shapes.
// Not thread-safe: called from the thread that runs the model (oneDNN
// parallelises inside), as every op of the CPU backend.
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

#ifdef TSR_HAVE_DNNL
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>

#define DNNL_OK(call)                                                                                   \
  do {                                                                                                  \
    dnnl_status_t s_ = (call);                                                                          \
    if (s_ != dnnl_success) tsr_fatal(__FILE__, __LINE__, "oneDNN", "%s failed: status %d", #call, (int)s_); \
  } while (0)

static uint16_t round_bf16(float f) {  // nearest even; NaN stays NaN
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

// one row, 16 at a time by vcvtneps2bf16 (nearest even; it reads denormal
// inputs as zero, as the FTZ/DAZ compute threads do anyway), the tail scalar
__attribute__((target("avx512f,avx512bf16"))) static void round_row(uint16_t *out, const float *in, int n) {
  int c = 0;
  for (; c + 16 <= n; c += 16) {
    const __m256bh v = _mm512_cvtneps_pbh(_mm512_loadu_ps(in + c));
    _mm256_storeu_si256((__m256i *)(out + c), (__m256i)v);
  }
  for (; c < n; c++) out[c] = round_bf16(in[c]);
}

// out[rows][cols] (packed) = round(in[r*ld + c])
static void round_rows(uint16_t *out, const float *in, int rows, int cols, int ld) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols > 16384)
  for (int r = 0; r < rows; r++) round_row(out + (size_t)r * cols, in + (size_t)r * ld, cols);
}

static struct {
  int ready, ok;
  char why[160];
  dnnl_engine_t eng;
  dnnl_stream_t st;
  uint16_t *buf[3];  // packed bf16 copies: A, B, and linear_grads_bf16's in
  size_t cap[3];     // elements
} g;

typedef struct {
  int used, ta, tb, M, N, K, ldc;
  float alpha, beta;
  dnnl_primitive_t prim;
  dnnl_memory_t a, b, c;
} Entry;
enum { CACHE = 256 };  // a model's training and sampling shapes (both batch sizes) fit: no re-creation per step
static Entry cache[CACHE];
static int next_victim;

static void init(void) {
  if (g.ready) return;
  g.ready = 1;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) {  // AMX machines have AVX512-BF16 too
    snprintf(g.why, sizeof g.why, "this CPU has no AVX512-BF16 (bf16 products would be emulated, slower than fp32)");
    return;
  }
  DNNL_OK(dnnl_engine_create(&g.eng, dnnl_cpu, 0));
  DNNL_OK(dnnl_stream_create(&g.st, g.eng, dnnl_stream_default_flags));
  g.ok = 1;
}

int gemm_bf16_available(char *why, size_t why_size) {
  init();
  if (!g.ok && why && why_size) snprintf(why, why_size, "%s", g.why);
  return g.ok;
}

static uint16_t *scratch(int i, size_t n) {
  if (n > g.cap[i]) {
    tsr_free(g.buf[i]);
    g.cap[i] = n + n / 4;
    g.buf[i] = tsr_calloc(g.cap[i], sizeof(uint16_t));
  }
  return g.buf[i];
}

// The primitive for this shape: A packed [M,K] (ta 0) or [K,M] (ta 1), B packed
// [K,N] or [N,K], C [M,N] at ldc; created once per shape.
static Entry *entry_for(int ta, int tb, int M, int N, int K, float alpha, float beta, int ldc) {
  for (int i = 0; i < CACHE; i++) {
    Entry *e = &cache[i];
    if (e->used && e->ta == ta && e->tb == tb && e->M == M && e->N == N && e->K == K && e->ldc == ldc &&
        e->alpha == alpha && e->beta == beta)
      return e;
  }
  Entry *e = &cache[next_victim];
  next_victim = (next_victim + 1) % CACHE;
  if (e->used) {
    dnnl_primitive_destroy(e->prim);
    dnnl_memory_destroy(e->a), dnnl_memory_destroy(e->b), dnnl_memory_destroy(e->c);
  }
  *e = (Entry){.used = 1, .ta = ta, .tb = tb, .M = M, .N = N, .K = K, .ldc = ldc, .alpha = alpha, .beta = beta};
  const dnnl_dims_t ad = {M, K}, bd = {K, N}, cd = {M, N};
  const dnnl_dims_t as = {ta ? 1 : K, ta ? M : 1}, bs = {tb ? 1 : N, tb ? K : 1}, cs = {ldc, 1};
  dnnl_memory_desc_t amd, bmd, cmd;
  DNNL_OK(dnnl_memory_desc_init_by_strides(&amd, 2, ad, dnnl_bf16, as));
  DNNL_OK(dnnl_memory_desc_init_by_strides(&bmd, 2, bd, dnnl_bf16, bs));
  DNNL_OK(dnnl_memory_desc_init_by_strides(&cmd, 2, cd, dnnl_f32, cs));
  dnnl_matmul_desc_t md;
  DNNL_OK(dnnl_matmul_desc_init(&md, &amd, &bmd, NULL, &cmd));
  dnnl_primitive_attr_t attr;
  DNNL_OK(dnnl_primitive_attr_create(&attr));
  if (alpha != 1.0f) DNNL_OK(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha));
  if (beta != 0.0f) {  // C = alpha A B + beta C
    dnnl_post_ops_t po;
    DNNL_OK(dnnl_post_ops_create(&po));
    DNNL_OK(dnnl_post_ops_append_sum(po, beta));
    DNNL_OK(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_post_ops_destroy(po);
  }
  dnnl_primitive_desc_t pd;
  DNNL_OK(dnnl_primitive_desc_create(&pd, &md, attr, g.eng, NULL));
  DNNL_OK(dnnl_primitive_create(&e->prim, pd));
  DNNL_OK(dnnl_memory_create(&e->a, &amd, g.eng, DNNL_MEMORY_NONE));
  DNNL_OK(dnnl_memory_create(&e->b, &bmd, g.eng, DNNL_MEMORY_NONE));
  DNNL_OK(dnnl_memory_create(&e->c, &cmd, g.eng, DNNL_MEMORY_NONE));
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
  return e;
}

// C = alpha op(A16) op(B16) + beta C on packed bf16 operands (A16 [M,K] or
// [K,M], B16 [K,N] or [N,K], rows contiguous)
static void matmul_packed(int ta, int tb, int M, int N, int K, float alpha, const uint16_t *a16, const uint16_t *b16,
                          float beta, float *C, int ldc) {
  Entry *e = entry_for(ta, tb, M, N, K, alpha, beta, ldc);
  DNNL_OK(dnnl_memory_set_data_handle(e->a, (void *)a16));
  DNNL_OK(dnnl_memory_set_data_handle(e->b, (void *)b16));
  DNNL_OK(dnnl_memory_set_data_handle(e->c, C));
  const dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  DNNL_OK(dnnl_primitive_execute(e->prim, g.st, 3, args));
  DNNL_OK(dnnl_stream_wait(g.st));
}

// scratch slot `slot` = round(x[rows][cols] at stride ld)
static const uint16_t *packed(int slot, const float *x, int rows, int cols, int ld) {
  uint16_t *p = scratch(slot, (size_t)rows * cols);
  round_rows(p, x, rows, cols, ld);
  return p;
}

void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  init();
  TSR_ASSERT(g.ok, "gemm_bf16: %s", g.why);
  if (K <= 0 || alpha == 0.0f) {  // C = beta C, as gemm
    gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const uint16_t *a16 = packed(0, A, ta ? K : M, ta ? M : K, lda), *b16 = packed(1, B, tb ? N : K, tb ? K : N, ldb);
  matmul_packed(ta, tb, M, N, K, alpha, a16, b16, beta, C, ldc);
}

void linear_grads_bf16(float *din, float *dw, const float *dout, const float *in, const float *w, int M, int I,
                       int O) {
  if ((!din && !dw) || M <= 0 || I <= 0 || O <= 0) return;
  init();
  TSR_ASSERT(g.ok, "linear_grads_bf16: %s", g.why);
  const uint16_t *g16 = packed(0, dout, M, O, O);  // once for both products
  if (din) matmul_packed(0, 0, M, I, O, 1.0f, g16, packed(1, w, O, I, I), 1.0f, din, I);  // din += dout w
  if (dw) matmul_packed(1, 0, O, I, M, 1.0f, g16, packed(2, in, M, I, I), 1.0f, dw, I);   // dw += dout^T in
}

#else  // built without oneDNN

int gemm_bf16_available(char *why, size_t why_size) {
  if (why && why_size) snprintf(why, why_size, "this tessera was built without oneDNN (bf16 GEMMs need it)");
  return 0;
}
void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc) {
  (void)ta, (void)tb, (void)M, (void)N, (void)K, (void)alpha, (void)A, (void)lda, (void)B, (void)ldb, (void)beta,
      (void)C, (void)ldc;
  TSR_ASSERT(0, "gemm_bf16: this tessera was built without oneDNN");
}
void linear_grads_bf16(float *din, float *dw, const float *dout, const float *in, const float *w, int M, int I,
                       int O) {
  (void)din, (void)dw, (void)dout, (void)in, (void)w, (void)M, (void)I, (void)O;
  TSR_ASSERT(0, "linear_grads_bf16: this tessera was built without oneDNN");
}
#endif
