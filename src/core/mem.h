// Memory spaces: where a buffer lives (host memory, or a device's), and how
// bytes cross into and out of it. Core allocates its big buffers (the
// parameter table, the activation arena) through one, so the layers above
// choose the device without core knowing any: a backend (kernels/backend.h)
// embeds a MemSpace. NULL everywhere means host memory (malloc / memcpy).
#pragma once
#include <stddef.h>

typedef struct MemSpace MemSpace;
struct MemSpace {
  const char *name;  // "host", "cuda:0"
  int host;          // 1: its pointers are host pointers (upload/download are memcpy)
  void *(*alloc)(const MemSpace *s, size_t bytes);  // zero-filled, 64-byte aligned; aborts on failure
  void (*free)(const MemSpace *s, void *p);         // NULL is fine
  void (*upload)(const MemSpace *s, void *dst, const void *src_host, size_t bytes);
  void (*download)(const MemSpace *s, void *dst_host, const void *src, size_t bytes);
  void (*zero)(const MemSpace *s, void *p, size_t bytes);
  void *ctx;  // the space's own state (the CUDA backend's GpuCtx); copied with the struct,
              // so a wrapper's copy of a backend (backend_profiled) reaches the same device
};

// The calls, with NULL = host.
void *mem_alloc(const MemSpace *s, size_t bytes);
void mem_free(const MemSpace *s, void *p);
void mem_upload(const MemSpace *s, void *dst, const void *src_host, size_t bytes);
void mem_download(const MemSpace *s, void *dst_host, const void *src, size_t bytes);
void mem_zero(const MemSpace *s, void *p, size_t bytes);
