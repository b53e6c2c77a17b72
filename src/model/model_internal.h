// Model internals shared by the model's .c files: parameter offsets and the
// activation layout. Nothing outside src/model includes this.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

// Offsets (in floats) of a Linear's weight [out,in] and bias [out] in the
// parameter table; the same offsets index the gradient buffer.
typedef struct { size_t w, b; } LinearOff;
typedef struct { size_t w, b; } NormOff;  // LayerNorm affine

typedef struct {
  NormOff norm1, norm2;
  LinearOff qkv, proj, fc1, fc2;
} TextLayerOff;

typedef struct {
  LinearOff adaln;               // D -> 6D (shift1 scale1 gate1 shift2 scale2 gate2)
  LinearOff qkv, proj;           // self-attention
  size_t q_norm, k_norm;         // [hd]
  NormOff norm2;                 // cross-attention pre-norm (affine)
  LinearOff cq, ckv, cproj;      // cross-attention
  size_t cq_norm, ck_norm;       // [hd]
  LinearOff fc1, fc2;            // MLP
} BlockOff;

struct ModelOffsets {
  size_t tok_emb, pos_emb;
  TextLayerOff *text;  // [text_layers]
  NormOff text_norm;
  LinearOff text_proj;  // minilm: the encoder's states [text_width] -> D
  LinearOff x_embed, t_fc1, t_fc2, y_embed;
  BlockOff *blocks;    // [depth]
  LinearOff final_adaln, final_linear;
};

// Sizes this rank works with under its layout. The residual stream, the
// text encoder and the conditioning are whole on every rank (D, H, Dm); tp
// shards the heads and the MLP hidden of the video blocks (Ht, Dt, Dmt) and
// sp the tokens (N of Nf); Ulysses attention runs Ha = H/(tp*sp) heads over
// all Nf tokens. tp = sp = 1: Ht = Ha = H, Dt = D, Dmt = Dm, N = Nf.
// Under Ulysses x ring (U x R = sp) the all-to-all gives each rank the Nu =
// N*U tokens of its ring position (Nf/R) for Ha = Ht/U heads, and ring
// attention runs over the R such chunks.
typedef struct {
  int B, N, P, D, H, hd, L, F, Dm;  // N: this rank's tokens per sample
  int Nf;                           // tokens per sample over the sp group
  int Ht, Dt, Dmt, Ha;              // per-rank heads, q/k/v width, MLP hidden; attention heads
  int tp, sp;
  int U, R, Nu;                     // Ulysses degree, ring degree, tokens of one ring chunk
  int gt, gh, gw, n0;               // grid; n0 = first local token's global index
} Dims;

// One block's saved activations; M = B*N local tokens. Widths Dt, Dmt are
// this tp rank's shard. Under Ulysses (U > 1) the attention runs head-parallel:
// q, k, vh, atth are then [B,Nu,Ha*hd] (after the all-to-all), lse [B,Ha,Nu].
typedef struct {
  float *xin, *ln1n, *ln1_mean, *ln1_rstd, *h1;  // [M,D] ..., [M]
  float *qkv;                                     // [M,3Dt] = [q | k | v] of this rank's heads
  float *q, *k, *q_rstd, *k_rstd;                 // [M,Dt] normed + RoPE (or head-parallel), [M*Ht]
  float *vh, *atth;                               // sp > 1: head-parallel v and attention output
  float *att, *lse;                               // [M,Dt], [B,Ht,N] (sp > 1: [B,Ha,Nf])
  float *pa, *x1;                                 // proj out [M,D], stream after self-attn
  float *ln2, *ln2_mean, *ln2_rstd;
  float *cq, *cqn, *cq_rstd;                      // [M,Dt], [M*Ht]
  float *ckv, *ckn, *ck_rstd;                     // [B*L,2Dt], [B*L,Dt], [B*L*Ht]
  float *catt, *clse;                             // [M,Dt], [B,Ht,N]
  float *x2;                                      // stream after cross-attn
  float *ln3n, *ln3_mean, *ln3_rstd, *h3;
  float *f1, *g, *f2;                             // [M,Dmt], [M,Dmt], [M,D]
  float *mod;                                     // [B,2,6D]
} BlockActs;

typedef struct {
  float *xin, *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *lse;
  float *xmid, *ln2, *ln2_mean, *ln2_rstd, *f1, *g;
} TextActs;

// Gradient scratch for backward: reused block after block.
typedef struct {
  float *dx, *dh, *dh2, *dm1, *dm2;      // [M,D] x3, [M,Dmt] x2
  float *dqkv, *dq, *dk, *datt;          // [M,3Dt], [M,Dt] x3
  float *dckv, *dckn, *dctx;             // [B*L,2Dt], [B*L,Dt], [B*L,D]
  float *dmod, *dcsilu, *dc;             // [B,2,6D], [B,2,D], [B,2,D]
  float *dtemb_h, *dtemb_h2, *dyemb, *dybar;  // [B,2,D] x2, [B,D] x2
  float *dtx, *dth, *dtqkv, *dtm1, *dtm2;     // text: [B*L,D] x2, [B*L,3D], [B*L,Dm] x2
  float *dout;                                // [M,P]
  // Model-parallel scratch (NULL when unused):
  float *dnorm;            // tp > 1: [depth,4,hd] this backward's per-head norm weight grads, summed over tp
  // Sequence-parallel scratch (X = M*Dt floats = one of q, k, v), op-local,
  // so it shares memory (model_layout_acts): in training, the pool holding
  // dh, dh2, dm1, dm2 (all free while a self-attention runs); datth is datt.
  float *datth, *dqkvh;    // U > 1: [B,Nf,Ha*hd], [3,B,Nf,Ha*hd] head-parallel gradients
  float *sp_send, *sp_recv;  // U > 1: [M*Dt] all-to-all buffers (forward too)
  // Ring attention (R > 1), at the all-to-all buffers' place: K/V blocks in
  // flight [2][2X]; the forward's block output [X] and lse [M*Ht], the
  // backward's dK/dV partial sums [2][2X] and the one arriving [2X].
  float *ring_kv[2], *ring_o, *ring_lse, *ring_dkv[2], *ring_dkv_in;
} GradScratch;

// Host copies of what the forward works out from the batch on the host
// (allocated with the activations, for max_batch), uploaded each forward.
typedef struct {
  uint8_t *sel;  // [B*N]
  float *lossw;  // [B*N]
  int *ntok;     // [B]
  float *tvec;   // [B,2] timestep of each modulation variant (t, 0)
} HostBatch;

// Every pointer below is in the backend's memory (the arena), except host.
struct ModelActs {
  Dims d;
  int forward_only;  // model_alloc_acts_forward: no backward possible
  HostBatch host;
  // the batch, uploaded (upload_batch in forward.c)
  float *x, *target;  // [M,P] noisy patches, velocity target
  int32_t *tokens;    // [B,L]
  float *tvec;        // [B,2]
  float *loss;        // [1] the loss kernel's result
  uint8_t *sel;      // [B*N] modulation variant per token
  float *lossw;      // [B*N] 1 = token in the loss
  int *ntok;         // [B] as int for the kernels
  float *rope_cos, *rope_sin;  // [N, hd/2]
  // text encoder
  float *text_states;  // minilm: [B,L,text_width] the frozen encoder's states, uploaded
  float *temb_in;    // [B,L,D] embedding output
  TextActs *text;    // [text_layers]
  float *tx_final, *ctx, *ctx_mean, *ctx_rstd;  // [B,L,D] stream, ctx, [B*L]
  // conditioning
  float *ybar, *yemb;                 // [B,D]
  float *tsin, *th, *ths, *temb;      // [B,2,F], [B,2,D] x3
  float *c, *csilu;                   // [B,2,D]
  // video trunk
  float *xemb;                        // [M,D] = x_embed(x), block 0's input
  BlockActs *blocks;                  // [depth]
  float *xf, *lnfn, *lnf_mean, *lnf_rstd, *hf, *fmod;  // final layer; fmod [B,2,2D]
  float *out;                         // [M,P]
  GradScratch gs;
};

static inline float *PW(Model *m, size_t off) { return m->params.data + off; }
static inline float *PG(Model *m, size_t off) { return m->params.grad + off; }

// Dims of a batch of B clips of grid gt x gh x gw (0,0,0: the config's).
Dims model_dims(const Model *m, int B, int gt, int gh, int gw);
// forward.c, also called by the backward's recomputation (train.recompute):
// one DiT block, blocks[i].xin -> out; its self-attention part alone.
void block_forward(Model *m, int i, float *out);
void self_attention_forward(Model *m, BlockActs *k, const BlockOff *w, float *stage);
// d: B = max_batch, N = the most tokens of one sample (this rank's); M: the
// most tokens of a batch (this rank's, <= B*N).
void model_layout_acts(ModelActs *a, Arena *arena, const ModelConfig *c, Dims d, size_t M, int forward_only,
                       ModelRecompute recompute);
