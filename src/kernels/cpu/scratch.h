// Grow-only per-thread scratch for the CPU kernels: one buffer per slot and
// thread, reallocated only when a call needs more than the thread holds, so
// nothing is allocated after the first step. A pthread key destructor frees
// a thread's buffers when it exits (OpenMP shrinking its pool).
#pragma once
#include <stddef.h>

typedef enum {
  SCRATCH_ATTN_WORK,    // attention: a thread's tiles (attention.c)
  SCRATCH_ATTN_SHARED,  // attention backward: split-K partial dq (attention.c)
  SCRATCH_LINEAR_PAD,   // linear backward: the padded copy of dW's input (linear.c)
  SCRATCH_NSLOTS
} ScratchSlot;

// The calling thread's buffer of slot, at least n floats (zeroed when it grows;
// its contents otherwise whatever the last user left).
float *cpu_scratch(ScratchSlot slot, size_t n);
