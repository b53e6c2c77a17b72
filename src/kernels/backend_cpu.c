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

void backend_close(const Backend *be) {
  if (be && be != &cpu_backend) be->shutdown((Backend *)be);  // a device backend was allocated by its open
}

const Backend *backend_open(const char *device, const char *precision, int gpu, char *why, size_t why_size) {
  const int bf16 = !strcmp(precision, "bf16");
  if (!bf16 && strcmp(precision, "fp32") != 0) {
    snprintf(why, why_size, "precision '%s': expected fp32 or bf16", precision);
    return NULL;
  }
  if (!strcmp(device, "cpu")) {
    if (!bf16) return &cpu_backend;
    snprintf(why, why_size, "precision bf16 needs run.device: cuda (the CPU backend computes in fp32)");
    return NULL;
  }
  if (!strcmp(device, "cuda")) return backend_cuda_open(gpu, bf16, why, why_size);
  snprintf(why, why_size, "device '%s': expected cpu or cuda", device);
  return NULL;
}
