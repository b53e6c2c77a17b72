// Model-parallel pieces of the forward and backward (docs/model_parallel.md):
// Megatron's tp all-reduce and row-parallel Linear, and the Ulysses
// all-to-alls between token-parallel and head-parallel layouts. Every
// function is a plain copy-free no-op path at tp = 1 / sp = 1.
#pragma once
#include <stddef.h>

#include "model/model_internal.h"

// x[n] <- sum over the tp group (tp = 1: nothing).
void tp_allreduce(const Model *m, float *x, size_t n);

// Column-parallel Linear's backward (Megatron's f in the backward):
// din[M,I] += dout w summed over tp, dw[O,I] += dout^T in, db[O] += sum dout
// (this rank's shards). Overlapped (layout.comm_blocking 0, the default): din
// first, its all-reduce started (comm_iallreduce), dw and db computed while
// it travels, then waited; blocking: the fused be_linear_backward, then
// comm_allreduce. The same kernels on the same inputs, the same bytes, and
// the same bits at any tp (both sums are the comm layer's ring, one order per
// element; tests/test_tpsp_overlap.sh at tp 2 and 4). din must be zero or hold only this
// rank's share on entry (it is summed). tp = 1: exactly be_linear_backward.
void col_linear_backward(const Model *m, float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O);

// Row-parallel Linear: out[M,O] = sum_tp(in[M,I] w[O,I]^T) + b, with in and w
// this rank's input slice; b (whole) added once, after the all-reduce.
// tp = 1: exactly linear_forward.
void row_linear_forward(const Model *m, float *out, const float *in, const float *w, const float *b, int M, int I,
                        int O);

// Ulysses all-to-all over the Ulysses group (U ranks) for nt tensors, one call
// each (B samples). Token-parallel tensor k: [B,N,Dt] rows at stride ld[k]
// (this rank's N tokens, the Ht heads of its tp rank); head-parallel:
// [B,Nu,W] contiguous, W = Ha*hd: the Nu = U*N tokens of this ring position
// (all Nf when there is no ring) of the heads slice ulysses_rank of those Ht heads.
void sp_tokens_to_heads(const Model *m, int B, int nt, const float *const tok[], const int ld[], float *const head[]);
// The inverse: head-parallel [B,Nu,W] -> token-parallel rows at stride ld (written, not added).
void sp_heads_to_tokens(const Model *m, int B, int nt, const float *const head[], float *const tok[], const int ld[]);
// The same for one tensor in two halves, so that independent compute hides
// the all-to-all (the backward, unless layout.comm_blocking): _start packs
// into the group's send buffer and starts comm_ialltoall, _finish waits and
// unpacks. One exchange in flight at a time (they share gs.sp_send/sp_recv).
// The same bytes and bits as the blocking calls (data movement only).
// sp_heads_to_tokens with req NULL: _start exchanges blocking, _finish only
// unpacks (the received block waits in gs.sp_recv in between).
void sp_tokens_to_heads_start(const Model *m, int B, const float *tok, int ld, CommRequest *req);
void sp_tokens_to_heads_finish(const Model *m, int B, float *head, CommRequest *req);
void sp_heads_to_tokens_start(const Model *m, int B, const float *head, CommRequest *req);
void sp_heads_to_tokens_finish(const Model *m, int B, float *tok, int ld, CommRequest *req);


// Self-attention of this rank's Nr query tokens over the keys of the whole
// ring (R = 1: plain attention over its own Nr keys). q, k, v, out: [B,Nr,Hh*C]
// rows at their strides; lse [B,Hh,Nr]. Blockwise: the K/V block in hand is
// attended while the next one travels (comm_sendrecv_start), and folded in by
// attention_merge (docs/ring.md).
void ring_attention_forward(const Model *m, float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                            int ldk, const float *v, int ldv, int B, int Nr, int Hh, int C);
// Its backward with the forward's (merged) out and lse: dq accumulates (+=);
// dk and dv must be zero on entry (at R > 1 they are written with the dK/dV
// sums that went once round the ring).
void ring_attention_backward(const Model *m, float *dq, float *dk, float *dv, const float *dout, const float *out,
                             int ldo, const float *lse, const float *q, int ldq, const float *k, int ldk,
                             const float *v, int ldv, int B, int Nr, int Hh, int C);
