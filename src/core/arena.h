// Activation arena: one block sized before the step loop; bump allocation.
// An arena with no memory (arena_measure) only counts, so the same code
// that lays out activations also sizes them: call the layout once on a
// measuring arena, arena_init with its peak, then lay out for real.
#pragma once
#include <stddef.h>

#include "core/mem.h"

typedef struct {
  const MemSpace *mem;  // where base lives (NULL: host)
  char *base;   // NULL while measuring
  size_t size;  // capacity in bytes
  size_t used;  // bytes handed out since the last reset
  size_t peak;  // largest `used` seen
} Arena;

void arena_measure(Arena *a);             // counting-only arena
void arena_init(Arena *a, const MemSpace *mem, size_t bytes);  // real memory in mem (NULL: host), 64-byte aligned
void arena_free(Arena *a);
// Returns 64-byte aligned, zero-filled floats (NULL from a measuring arena).
float *arena_floats(Arena *a, size_t n);
void *arena_bytes(Arena *a, size_t n);
void arena_reset(Arena *a);  // forget every allocation (memory stays)
