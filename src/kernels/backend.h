// The backend table: one device's memory and every op of kernels/oplist.h.
// The model, the text encoder and the VAE compute only through it:
//   be_linear_forward(be, out, in, w, b, M, I, O);
// where every tensor pointer is a pointer of the backend's memory space
// (be->mem): host memory for the CPU backend, device memory for CUDA.
// Bytes cross between host and device only through be_upload / be_download.
// How to add an op or a backend: docs/kernels.md.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"
#include "kernels/oplist.h"

typedef struct Backend Backend;

#define TSR_BE_PARAMS(...) (const Backend *be, __VA_ARGS__)
#define TSR_BE_ARGS(...) (be, __VA_ARGS__)
#define TSR_BE_FIELD(kind, name, params, args) void(*name) TSR_BE_PARAMS params;

struct Backend {
  MemSpace mem;      // first: a Backend * is a MemSpace * (params, arena)
  const char *name;  // "cpu", "cuda"
  void *ctx;         // the backend's own state (GpuCtx for CUDA)
  int bf16;          // 1: GEMMs on bf16 operands, fp32 accumulation (run.precision: bf16)
  void *stream;      // the queue its ops run on (cudaStream_t; NULL on the CPU): NCCL joins it
  int nccl;          // 1: collectives on its buffers go through NCCL (a real GPU; not the CPU
                     // stand-in of the CUDA ops, whose "device" memory MPI can read)
  void (*copy)(const Backend *be, void *dst, const void *src, size_t bytes);  // within the device
  void (*sync)(const Backend *be);  // wait for every queued op
  void (*describe)(const Backend *be, char *buf, size_t size);
  void (*shutdown)(Backend *be);  // frees the backend itself
  TSR_OPS(TSR_BE_FIELD)
};

// be_<op>(be, ...): the op on this backend.
#define TSR_BE_CALL(kind, name, params, args) \
  static inline void be_##name TSR_BE_PARAMS params { be->name TSR_BE_ARGS args; }
TSR_OPS(TSR_BE_CALL)

static inline void *be_alloc(const Backend *be, size_t bytes) { return mem_alloc(&be->mem, bytes); }
static inline float *be_floats(const Backend *be, size_t n) { return be_alloc(be, n * sizeof(float)); }
static inline void be_free(const Backend *be, void *p) { mem_free(&be->mem, p); }
static inline void be_upload(const Backend *be, void *dst, const void *src_host, size_t bytes) {
  mem_upload(&be->mem, dst, src_host, bytes);
}
static inline void be_download(const Backend *be, void *dst_host, const void *src, size_t bytes) {
  mem_download(&be->mem, dst_host, src, bytes);
}
static inline void be_copy(const Backend *be, void *dst, const void *src, size_t bytes) {
  if (bytes && dst != src) be->copy(be, dst, src, bytes);
}
static inline void be_zero(const Backend *be, float *x, size_t n) { be_fill_f32(be, x, 0.0f, (int64_t)n); }
static inline void be_sync(const Backend *be) { be->sync(be); }

// The CPU backend: the fast ops of kernels/ops.h on host memory. One static
// instance; results are those of calling the ops directly, bit for bit.
const Backend *backend_cpu(void);
// The CPU backend in bf16 mode (gemm and the linears with bf16 operands, fp32
// accumulation); NULL and the reason where the CPU or the build cannot.
const Backend *backend_cpu_bf16(char *why, size_t why_size);

// The CUDA backend on `device` (kernels/backend_cuda.c): NULL, with the
// reason in `why`, when this binary has no CUDA objects or the machine no
// usable GPU. bf16: the GEMMs on bf16 operands (fp32 master weights stay).
Backend *backend_cuda_open(int device, int bf16, char *why, size_t why_size);
void backend_close(const Backend *be);  // NULL and the CPU backend are fine

// The backend a run asks for (run.device, run.precision): "cpu" or "cuda" on
// GPU number `gpu` (the node-local rank); "fp32", "bf16" (refused on a CPU
// without AVX512-BF16), or "auto": bf16 on a GPU and on a CPU with
// AVX512-BF16, fp32 on other CPUs. Backend.bf16 says what was chosen.
// NULL, with a one-line reason in `why`, when this build or machine cannot.
const Backend *backend_open(const char *device, const char *precision, int gpu, char *why, size_t why_size);
