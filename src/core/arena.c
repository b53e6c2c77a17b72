#include "core/arena.h"

#include <string.h>

#include "core/error.h"

void arena_measure(Arena *a) { *a = (Arena){0}; }

void arena_init(Arena *a, const MemSpace *mem, size_t bytes) {
  *a = (Arena){.mem = mem};
  a->base = mem_alloc(mem, bytes);
  a->size = bytes;
}

void arena_free(Arena *a) {
  mem_free(a->mem, a->base);
  *a = (Arena){0};
}

void *arena_bytes(Arena *a, size_t n) {
  size_t start = (a->used + 63) / 64 * 64;
  size_t end = start + n;
  if (end > a->peak) a->peak = end;
  a->used = end;
  if (!a->base) return NULL;  // measuring
  TSR_ASSERT(end <= a->size, "arena overflow: need %zu bytes, have %zu", end, a->size);
  mem_zero(a->mem, a->base + start, n);
  return a->base + start;
}

float *arena_floats(Arena *a, size_t n) { return arena_bytes(a, n * sizeof(float)); }

void arena_reset(Arena *a) { a->used = 0; }
