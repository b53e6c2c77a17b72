// The CUDA backend: device memory (cudaMalloc) and the gpu_* ops of
// kernels/cuda_ops.h, one table entry per op of kernels/oplist.h, each a
// call of gpu_<op>(ctx, <the op's arguments>) queued on the backend's stream.
// Precision (Backend.bf16, run.precision):
//   fp32: gemm and the linears in full fp32 (gpu_gemm_f32, gpu_linear_*_f32):
//         results within float reassociation of the CPU backend;
//   bf16: gemm and the linears on the bf16 tensor cores with fp32
//         accumulation (gpu_gemm, gpu_linear_*: cuBLAS rounds the operands);
//         parameters, gradients, optimizer state and activations stay fp32
//         (the master weights). Attention: the forward is the tensor-core
//         flash kernel (gpu_attention_forward_mma) where the head dim allows,
//         else the scores through cuBLAS bf16 GEMMs (gpu_attention_forward_gemm);
//         the backward recomputes P from the same bf16-rounded q, k and the
//         forward's lse: tensor-core flash kernels (gpu_attention_backward_mma)
//         where C <= 80, else through the GEMMs (gpu_attention_backward_gemm).
//         fp32 mode keeps the fp32 flash kernels.
// Plain C: it links against the CUDA objects, or against the CPU stand-in of
// tests/cuda/mock_gpu.c (which is how it is tested without a GPU).
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "kernels/cuda_ops.h"

// Every gpu_<op> has the list's parameters after the context: checked here,
// at compile time, for each of the list's ops.
#define GPU_PARAMS(...) (const GpuCtx *cx, __VA_ARGS__)
#define GPU_ARGS(...) ((const GpuCtx *)be->ctx, __VA_ARGS__)
#define GPU_SIGNATURE(kind, name, params, args)                                            \
  _Static_assert(__builtin_types_compatible_p(__typeof__(gpu_##name), void GPU_PARAMS params), \
                 "gpu_" #name " (kernels/cuda_ops.h) does not take the parameters of kernels/oplist.h");
TSR_OPS(GPU_SIGNATURE)

typedef struct {
  Backend be;  // first: a CudaBackend * is a Backend * is a MemSpace *
  GpuCtx cx;
  char mem_name[32];
} CudaBackend;

static const GpuCtx *ctx_of(const MemSpace *s) { return s->ctx; }

// ---------------------------------------------------------------- memory
static void *dev_alloc(const MemSpace *s, size_t bytes) {
  void *p = gpu_alloc(bytes);  // aborts on failure, 256-byte aligned
  gpu_zero(ctx_of(s), p, bytes);
  gpu_sync(ctx_of(s));  // zero before any other stream (NCCL, a host copy) sees it
  return p;
}
static void dev_free(const MemSpace *s, void *p) {
  if (!p) return;
  gpu_sync(ctx_of(s));  // no queued op may still use it
  gpu_free(p);
}
static void dev_upload(const MemSpace *s, void *dst, const void *src_host, size_t bytes) {
  if (bytes) gpu_upload(ctx_of(s), dst, src_host, bytes);
}
static void dev_download(const MemSpace *s, void *dst_host, const void *src, size_t bytes) {
  if (bytes) gpu_download(ctx_of(s), dst_host, src, bytes);
}
static void dev_zero(const MemSpace *s, void *p, size_t bytes) { gpu_zero(ctx_of(s), p, bytes); }

static void cuda_copy(const Backend *be, void *dst, const void *src, size_t bytes) {
  gpu_copy(ctx_of(&be->mem), dst, src, bytes);
}
static void cuda_sync(const Backend *be) { gpu_sync(ctx_of(&be->mem)); }
static void cuda_describe(const Backend *be, char *buf, size_t size) {
  char dev[384];
  gpu_describe(ctx_of(&be->mem), dev, sizeof dev);
  snprintf(buf, size, "%s %s (%s)", be->mem.name, dev,
           be->bf16 ? "bf16 tensor-core GEMMs, fp32 master weights" : "fp32, no TF32");
}
static void cuda_shutdown(Backend *be) {
  CudaBackend *cb = (CudaBackend *)be;
  gpu_shutdown(&cb->cx);
  free(cb);
}

// ---------------------------------------------------------------- ops
#define CUDA_ENTRY(kind, name, params, args) \
  static void cuda_##name TSR_BE_PARAMS params { gpu_##name GPU_ARGS args; }
TSR_OPS(CUDA_ENTRY)

// The precision variants; their types are those of the table's fields
// (assigned below), so a parameter list that drifts from the list fails to compile.
static void cuda_gemm_f32(const Backend *be, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
  gpu_gemm_f32(be->ctx, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
static void cuda_linear_forward_f32(const Backend *be, float *out, const float *in, const float *w, const float *b,
                                    int M, int I, int O) {
  gpu_linear_forward_f32(be->ctx, out, in, w, b, M, I, O);
}
static void cuda_linear_backward_f32(const Backend *be, float *din, float *dw, float *db, const float *dout,
                                     const float *in, const float *w, int M, int I, int O) {
  gpu_linear_backward_f32(be->ctx, din, dw, db, dout, in, w, M, I, O);
}
static void cuda_attention_forward_bf16(const Backend *be, float *out, int ldo, float *lse, const float *q, int ldq,
                                        const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                        int Nq, int Nk, int H, int C) {
  if (gpu_attention_mma_supports(C) && Nk >= 1 && B * H <= 65535)
    gpu_attention_forward_mma(be->ctx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
  else
    gpu_attention_forward_gemm(be->ctx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
static void cuda_attention_backward_bf16(const Backend *be, float *dq, float *dk, float *dv, const float *dout,
                                         const float *out, int ldo, const float *lse, const float *q, int ldq,
                                         const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                         int Nq, int Nk, int H, int C) {
  if (gpu_attention_mma_bwd_supports(C) && Nk >= 1 && B * H <= 65535)
    gpu_attention_backward_mma(be->ctx, dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk,
                               H, C);
  else
    gpu_attention_backward_gemm(be->ctx, dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk,
                                H, C);
}

#define CUDA_FIELD(kind, name, params, args) .name = cuda_##name,
static const Backend cuda_template = {
    .mem = {.host = 0, .alloc = dev_alloc, .free = dev_free, .upload = dev_upload, .download = dev_download,
            .zero = dev_zero},
    .name = "cuda",
    .copy = cuda_copy,
    .sync = cuda_sync,
    .describe = cuda_describe,
    .shutdown = cuda_shutdown,
    TSR_OPS(CUDA_FIELD)};

Backend *backend_cuda_open(int device, int bf16, char *why, size_t why_size) {
  char buf[256] = "";
  const int n = gpu_device_count(buf, sizeof buf);
  if (n <= 0 || device < 0 || device >= n) {
    if (why && why_size) {
      if (n <= 0)
        snprintf(why, why_size, "%s", buf);
      else
        snprintf(why, why_size, "CUDA device %d requested, %d visible (devices 0..%d)", device, n, n - 1);
    }
    return NULL;
  }
  CudaBackend *cb = tsr_calloc(1, sizeof *cb);
  cb->be = cuda_template;
  snprintf(cb->mem_name, sizeof cb->mem_name, "cuda:%d", device);
  cb->be.mem.name = cb->mem_name;
  cb->be.ctx = &cb->cx;
  cb->be.mem.ctx = &cb->cx;
  cb->be.bf16 = bf16 != 0;
  if (!cb->be.bf16) {
    cb->be.gemm = cuda_gemm_f32;
    cb->be.linear_forward = cuda_linear_forward_f32;
    cb->be.linear_backward = cuda_linear_backward_f32;
  } else {
    cb->be.attention_forward = cuda_attention_forward_bf16;
    cb->be.attention_backward = cuda_attention_backward_bf16;
  }
  gpu_init(&cb->cx, device);  // aborts (naming the CUDA error) if the device cannot be set up
  cb->be.stream = cb->cx.stream;
  // NCCL for collectives on its buffers: a real GPU has a stream; the CPU
  // stand-in of the gpu_* functions (tests/cuda/mock_gpu.c) has none, and its
  // "device" memory is host memory that MPI moves.
  cb->be.nccl = cb->cx.stream != NULL;
  if (why && why_size) snprintf(why, why_size, "%s", buf);
  return &cb->be;
}
