#include "core/mem.h"

#include <string.h>

#include "core/error.h"

void *mem_alloc(const MemSpace *s, size_t bytes) { return s ? s->alloc(s, bytes) : tsr_calloc(1, bytes ? bytes : 1); }

void mem_free(const MemSpace *s, void *p) {
  if (s)
    s->free(s, p);
  else
    tsr_free(p);
}

void mem_upload(const MemSpace *s, void *dst, const void *src_host, size_t bytes) {
  if (s && !s->host)
    s->upload(s, dst, src_host, bytes);
  else if (dst != src_host && bytes)
    memcpy(dst, src_host, bytes);
}

void mem_download(const MemSpace *s, void *dst_host, const void *src, size_t bytes) {
  if (s && !s->host)
    s->download(s, dst_host, src, bytes);
  else if (dst_host != src && bytes)
    memcpy(dst_host, src, bytes);
}

void mem_zero(const MemSpace *s, void *p, size_t bytes) {
  if (s && !s->host)
    s->zero(s, p, bytes);
  else if (bytes)
    memset(p, 0, bytes);
}
