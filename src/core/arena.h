// Activation arena: one block sized before the step loop; bump allocation.
// An arena with no memory (arena_measure) only counts, so the same code
// that lays out activations also sizes them: call the layout once on a
// measuring arena, arena_init with its peak, then lay out for real.
#pragma once
#include <stddef.h>

typedef struct {
  char *base;   // NULL while measuring
  size_t size;  // capacity in bytes
  size_t used;  // bytes handed out since the last reset
  size_t peak;  // largest `used` seen
} Arena;

void arena_measure(Arena *a);             // counting-only arena
void arena_init(Arena *a, size_t bytes);  // real memory, 64-byte aligned
void arena_free(Arena *a);
// Returns 64-byte aligned, zero-filled floats (NULL from a measuring arena).
float *arena_floats(Arena *a, size_t n);
void *arena_bytes(Arena *a, size_t n);
void arena_reset(Arena *a);  // forget every allocation (memory stays)
