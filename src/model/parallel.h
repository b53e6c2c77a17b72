// Model-parallel pieces of the forward and backward (docs/model_parallel.md):
// Megatron's tp all-reduce and row-parallel Linear, and the Ulysses
// all-to-alls between token-parallel and head-parallel layouts. Every
// function is a plain copy-free no-op path at tp = 1 / sp = 1.
#pragma once
#include <stddef.h>

#include "model/model_internal.h"

// x[n] <- sum over the tp group (tp = 1: nothing).
void tp_allreduce(const Model *m, float *x, size_t n);

// Row-parallel Linear: out[M,O] = sum_tp(in[M,I] w[O,I]^T) + b, with in and w
// this rank's input slice; b (whole) added once, after the all-reduce.
// tp = 1: exactly linear_forward.
void row_linear_forward(const Model *m, float *out, const float *in, const float *w, const float *b, int M, int I,
                        int O);

// Ulysses all-to-all over the sp group for nt tensors, one call each (B samples).
// Token-parallel tensor k: [B,N,Dt] rows at stride ld[k] (this rank's N
// tokens, the Ht heads of its tp rank); head-parallel: [B,Nf,W] contiguous,
// W = Ha*hd: all Nf tokens of the heads slice sp_rank of those Ht heads.
void sp_tokens_to_heads(const Model *m, int B, int nt, const float *const tok[], const int ld[], float *const head[]);
// The inverse: head-parallel [B,Nf,W] -> token-parallel rows at stride ld (written, not added).
void sp_heads_to_tokens(const Model *m, int B, int nt, const float *const head[], float *const tok[], const int ld[]);

