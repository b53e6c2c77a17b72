// The CPU backend: host memory and the fast ops of kernels/ops.h, each
// entry a direct call (generated from kernels/oplist.h).
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/ops.h"

static void *host_alloc(const MemSpace *s, size_t bytes) {
  (void)s;
  return tsr_calloc(1, bytes ? bytes : 1);
}
static void host_free(const MemSpace *s, void *p) {
  (void)s;
  tsr_free(p);
}
static void host_move(const MemSpace *s, void *dst, const void *src, size_t bytes) {
  (void)s;
  if (dst != src && bytes) memcpy(dst, src, bytes);
}
static void host_zero(const MemSpace *s, void *p, size_t bytes) {
  (void)s;
  if (bytes) memset(p, 0, bytes);
}
static void cpu_copy(const Backend *be, void *dst, const void *src, size_t bytes) { host_move(&be->mem, dst, src, bytes); }
static void cpu_sync(const Backend *be) { (void)be; }
static void cpu_describe(const Backend *be, char *buf, size_t size) {
  (void)be;
  snprintf(buf, size, "cpu (GEMM: %s)", gemm_library());
}
static void cpu_shutdown(Backend *be) { (void)be; }

#define CPU_ENTRY(kind, name, params, args) \
  static void cpu_##name TSR_BE_PARAMS params { (void)be; name args; }
TSR_OPS(CPU_ENTRY)

#define CPU_FIELD(kind, name, params, args) .name = cpu_##name,
static const Backend cpu_backend = {
    .mem = {.name = "host", .host = 1, .alloc = host_alloc, .free = host_free, .upload = host_move,
            .download = host_move, .zero = host_zero},
    .name = "cpu",
    .copy = cpu_copy,
    .sync = cpu_sync,
    .describe = cpu_describe,
    .shutdown = cpu_shutdown,
    TSR_OPS(CPU_FIELD)};

const Backend *backend_cpu(void) { return &cpu_backend; }

// The bf16 mode (run.precision: bf16 on the CPU): gemm and the linears with
// bf16 operands and fp32 accumulation (kernels/cpu/gemm_bf16.c), attention
// with bf16 tile products (kernels/cpu/attention_bf16.c: softmax statistics
// and accumulators fp32); every other op, the parameters, gradients and
// AdamW state stay fp32.
static void cpu_gemm_bf16(const Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  (void)be;
  gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void cpu_linear_forward_bf16(const Backend *be, float *out, const float *in, const float *w, const float *b,
                                    int M, int I, int O) {
  (void)be;
  linear_forward_bf16(out, in, w, b, M, I, O);
}
static void cpu_linear_backward_bf16(const Backend *be, float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, int M, int I, int O) {
  (void)be;
  linear_backward_bf16(din, dw, db, dout, in, w, M, I, O);
}
static void cpu_attention_forward_bf16(const Backend *be, float *out, int ldo, float *lse, const float *q, int ldq,
                                       const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                       int Nq, int Nk, int H, int C) {
  (void)be;
  attention_forward_bf16(out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
static void cpu_attention_backward_bf16(const Backend *be, float *dq, float *dk, float *dv, const float *dout,
                                        const float *out, int ldo, const float *lse, const float *q, int ldq,
                                        const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                        int Nq, int Nk, int H, int C) {
  (void)be;
  attention_backward_bf16(dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
static void cpu_describe_bf16(const Backend *be, char *buf, size_t size) {
  (void)be;
  snprintf(buf, size, "cpu (GEMM: %s, bf16 operands with fp32 accumulation, attention tiles too; fp32 master weights)",
           gemm_library());
}
static Backend cpu_bf16_backend;

const Backend *backend_cpu_bf16(char *why, size_t why_size) {
  if (!gemm_bf16_available(why, why_size)) return NULL;
  if (!cpu_bf16_backend.gemm) {
    cpu_bf16_backend = cpu_backend;
    cpu_bf16_backend.bf16 = 1;
    cpu_bf16_backend.describe = cpu_describe_bf16;
    cpu_bf16_backend.gemm = cpu_gemm_bf16;
    cpu_bf16_backend.linear_forward = cpu_linear_forward_bf16;
    cpu_bf16_backend.linear_backward = cpu_linear_backward_bf16;
    cpu_bf16_backend.attention_forward = cpu_attention_forward_bf16;
    cpu_bf16_backend.attention_backward = cpu_attention_backward_bf16;
  }
  return &cpu_bf16_backend;
}

void backend_close(const Backend *be) {
  // a device backend was allocated by its open; the CPU ones are static
  if (be && be != &cpu_backend && be != &cpu_bf16_backend) be->shutdown((Backend *)be);
}

const Backend *backend_open(const char *device, const char *precision, int gpu, char *why, size_t why_size) {
  const int bf16 = !strcmp(precision, "bf16"), automatic = !strcmp(precision, "auto");
  if (!bf16 && !automatic && strcmp(precision, "fp32") != 0) {
    snprintf(why, why_size, "precision '%s': expected fp32, bf16 or auto", precision);
    return NULL;
  }
  if (!strcmp(device, "cpu")) {
    if (!bf16 && !automatic) return &cpu_backend;
    char reason[200];
    const Backend *be = backend_cpu_bf16(reason, sizeof reason);
    if (!be && automatic) return &cpu_backend;  // auto: fp32 where the CPU has no native bf16 products
    if (!be) snprintf(why, why_size, "precision bf16 on the CPU: %s; use run.precision: fp32", reason);
    return be;
  }
  // auto on a GPU: bf16 (tensor cores; every CUDA build targets sm_80 or newer)
  if (!strcmp(device, "cuda")) return backend_cuda_open(gpu, bf16 || automatic, why, why_size);
  snprintf(why, why_size, "device '%s': expected cpu or cuda", device);
  return NULL;
}
