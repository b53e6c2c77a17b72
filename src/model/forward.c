// Forward pass of the video diffusion transformer (docs/model.md), CPU backend.
// Shapes: M = B*N video tokens (this rank's), BL = B*L text tokens,
// modulation vectors in two variants per sample ([B,2,*]: 0 = timestep t,
// 1 = clean t=0). Under tp / sp the video blocks run sharded
// (docs/model_parallel.md); at tp = sp = 1 every call is the plain one.
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/model_internal.h"
#include "model/parallel.h"

static void add_inplace(float *x, const float *y, size_t n) {
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) x[i] += y[i];
}

// Per-token modulation variant and loss weight from the per-frame mask.
static void prepare_masks(ModelActs *a, const Batch *b) {
  const Dims d = a->d;
  const int frame_tokens = d.gh * d.gw;
  for (int s = 0; s < d.B; s++) {
    a->ntok[s] = b->ntokens[s];
    for (int n = 0; n < d.N; n++) {
      int frame = (d.n0 + n) / frame_tokens;
      uint8_t cond = b->cond ? b->cond[s * d.gt + frame] : 0;
      a->sel[s * d.N + n] = cond ? 1 : 0;
      a->lossw[s * d.N + n] = cond ? 0.0f : 1.0f;
    }
  }
}

static void text_encoder_forward(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  const Dims d = a->d;
  const int BL = d.B * d.L, D = d.D;
  embedding_forward(a->temb_in, b->tokens, PW(m, o->tok_emb), PW(m, o->pos_emb), d.B, d.L, D);
  const float *x = a->temb_in;
  for (int i = 0; i < m->cfg.text_layers; i++) {
    TextActs *t = &a->text[i];
    const TextLayerOff *l = &o->text[i];
    if (x != t->xin) memcpy(t->xin, x, (size_t)BL * D * sizeof(float));
    layernorm_forward(t->ln1, t->ln1_mean, t->ln1_rstd, t->xin, PW(m, l->norm1.w), PW(m, l->norm1.b), BL, D);
    linear_forward(t->qkv, t->ln1, PW(m, l->qkv.w), PW(m, l->qkv.b), BL, D, 3 * D);
    attention_forward(t->att, D, t->lse, t->qkv, 3 * D, t->qkv + D, 3 * D, t->qkv + 2 * D, 3 * D, a->ntok,
                      d.B, d.L, d.L, d.H, d.hd);
    linear_forward(t->xmid, t->att, PW(m, l->proj.w), PW(m, l->proj.b), BL, D, D);
    add_inplace(t->xmid, t->xin, (size_t)BL * D);
    layernorm_forward(t->ln2, t->ln2_mean, t->ln2_rstd, t->xmid, PW(m, l->norm2.w), PW(m, l->norm2.b), BL, D);
    linear_forward(t->f1, t->ln2, PW(m, l->fc1.w), PW(m, l->fc1.b), BL, D, d.Dm);
    gelu_forward(t->g, t->f1, (int64_t)BL * d.Dm);
    float *next = i + 1 < m->cfg.text_layers ? a->text[i + 1].xin : a->tx_final;
    linear_forward(next, t->g, PW(m, l->fc2.w), PW(m, l->fc2.b), BL, d.Dm, D);
    add_inplace(next, t->xmid, (size_t)BL * D);
    x = next;
  }
  if (x != a->tx_final) memcpy(a->tx_final, x, (size_t)BL * D * sizeof(float));
  layernorm_forward(a->ctx, a->ctx_mean, a->ctx_rstd, a->tx_final, PW(m, o->text_norm.w),
                    PW(m, o->text_norm.b), BL, D);
}

// c[b,v] = t_embed(t_v) + y_embed(masked mean of ctx); csilu = SiLU(c).
static void conditioning_forward(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  const Dims d = a->d;
  const int D = d.D;
  float tv[2 * d.B];
  for (int s = 0; s < d.B; s++) {
    tv[2 * s] = b->t[s];
    tv[2 * s + 1] = 0.0f;
  }
  timestep_embedding(a->tsin, tv, 2 * d.B, d.F);
  linear_forward(a->th, a->tsin, PW(m, o->t_fc1.w), PW(m, o->t_fc1.b), 2 * d.B, d.F, D);
  silu_forward(a->ths, a->th, (int64_t)2 * d.B * D);
  linear_forward(a->temb, a->ths, PW(m, o->t_fc2.w), PW(m, o->t_fc2.b), 2 * d.B, D, D);
  masked_mean_forward(a->ybar, a->ctx, a->ntok, d.B, d.L, D);
  linear_forward(a->yemb, a->ybar, PW(m, o->y_embed.w), PW(m, o->y_embed.b), d.B, D, D);
  for (int s = 0; s < d.B; s++)
    for (int v = 0; v < 2; v++)
      for (int i = 0; i < D; i++) a->c[(2 * s + v) * D + i] = a->temb[(2 * s + v) * D + i] + a->yemb[s * D + i];
  silu_forward(a->csilu, a->c, (int64_t)2 * d.B * D);
}

// Self-attention over every token of the clip: qkv (this rank's heads, [M,3Dt])
// -> att [M,Dt]. QK-norm and RoPE (global token coordinates) per token; under
// sp the all-to-all gives each rank all Nf tokens of Ha heads, and back.
static void self_attention_forward(Model *m, BlockActs *k, const BlockOff *w) {
  ModelActs *a = m->acts;
  const Dims d = a->d;
  const int M = d.B * d.N, Dt = d.Dt;
  if (d.sp == 1) {
    rmsnorm_forward(k->q, Dt, k->q_rstd, k->qkv, 3 * Dt, PW(m, w->q_norm), M, d.Ht, d.hd);
    rmsnorm_forward(k->k, Dt, k->k_rstd, k->qkv + Dt, 3 * Dt, PW(m, w->k_norm), M, d.Ht, d.hd);
    rope3d_forward(k->q, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    rope3d_forward(k->k, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    attention_forward(k->att, Dt, k->lse, k->q, Dt, k->k, Dt, k->qkv + 2 * Dt, 3 * Dt, NULL, d.B, d.N, d.N, d.Ht,
                      d.hd);
    return;
  }
  // q, k token-parallel, staged in this block's att and catt (written later)
  float *tq = k->att, *tk = k->catt;
  rmsnorm_forward(tq, Dt, k->q_rstd, k->qkv, 3 * Dt, PW(m, w->q_norm), M, d.Ht, d.hd);
  rmsnorm_forward(tk, Dt, k->k_rstd, k->qkv + Dt, 3 * Dt, PW(m, w->k_norm), M, d.Ht, d.hd);
  rope3d_forward(tq, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
  rope3d_forward(tk, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
  const int W = d.Ha * d.hd;
  sp_tokens_to_heads(m, d.B, 3, (const float *const[]){tq, tk, k->qkv + 2 * Dt}, (const int[]){Dt, Dt, 3 * Dt},
                     (float *const[]){k->q, k->k, k->vh});
  attention_forward(k->atth, W, k->lse, k->q, W, k->k, W, k->vh, W, NULL, d.B, d.Nf, d.Nf, d.Ha, d.hd);
  sp_heads_to_tokens(m, d.B, 1, (const float *const[]){k->atth}, (float *const[]){k->att}, (const int[]){Dt});
}

// One DiT block: x (block input, a->blocks[i].xin) -> out. Column-parallel
// qkv, cross.q, cross.kv, fc1 produce this rank's heads / hidden units;
// row-parallel proj, cross.proj, fc2 all-reduce over tp.
static void block_forward(Model *m, int i, float *out) {
  ModelActs *a = m->acts;
  BlockActs *k = &a->blocks[i];
  const BlockOff *w = &m->off->blocks[i];
  const Dims d = a->d;
  const int M = d.B * d.N, BL = d.B * d.L, D = d.D, Dt = d.Dt, S = 6 * D;  // S: modulation stride
  const uint8_t *sel = a->sel;

  linear_forward(k->mod, a->csilu, PW(m, w->adaln.w), PW(m, w->adaln.b), 2 * d.B, D, 6 * D);
  const float *shift1 = k->mod, *scale1 = k->mod + D, *gate1 = k->mod + 2 * D;
  const float *shift2 = k->mod + 3 * D, *scale2 = k->mod + 4 * D, *gate2 = k->mod + 5 * D;

  // 1. self-attention over all video tokens, QK-norm and 3D RoPE
  layernorm_forward(k->ln1n, k->ln1_mean, k->ln1_rstd, k->xin, NULL, NULL, M, D);
  modulate_forward(k->h1, k->ln1n, shift1, scale1, sel, S, d.B, d.N, D);
  linear_forward(k->qkv, k->h1, PW(m, w->qkv.w), PW(m, w->qkv.b), M, D, 3 * Dt);
  self_attention_forward(m, k, w);
  row_linear_forward(m, k->pa, k->att, PW(m, w->proj.w), PW(m, w->proj.b), M, Dt, D);
  memcpy(k->x1, k->xin, (size_t)M * D * sizeof(float));
  gate_residual_forward(k->x1, k->pa, gate1, sel, S, d.B, d.N, D);

  // 2. cross-attention to the caption (padding masked); per token, no exchange
  layernorm_forward(k->ln2, k->ln2_mean, k->ln2_rstd, k->x1, PW(m, w->norm2.w), PW(m, w->norm2.b), M, D);
  linear_forward(k->cq, k->ln2, PW(m, w->cq.w), PW(m, w->cq.b), M, D, Dt);
  rmsnorm_forward(k->cqn, Dt, k->cq_rstd, k->cq, Dt, PW(m, w->cq_norm), M, d.Ht, d.hd);
  linear_forward(k->ckv, a->ctx, PW(m, w->ckv.w), PW(m, w->ckv.b), BL, D, 2 * Dt);
  rmsnorm_forward(k->ckn, Dt, k->ck_rstd, k->ckv, 2 * Dt, PW(m, w->ck_norm), BL, d.Ht, d.hd);
  attention_forward(k->catt, Dt, k->clse, k->cqn, Dt, k->ckn, Dt, k->ckv + Dt, 2 * Dt, a->ntok, d.B, d.N, d.L, d.Ht,
                    d.hd);
  row_linear_forward(m, k->x2, k->catt, PW(m, w->cproj.w), PW(m, w->cproj.b), M, Dt, D);
  add_inplace(k->x2, k->x1, (size_t)M * D);

  // 3. MLP
  layernorm_forward(k->ln3n, k->ln3_mean, k->ln3_rstd, k->x2, NULL, NULL, M, D);
  modulate_forward(k->h3, k->ln3n, shift2, scale2, sel, S, d.B, d.N, D);
  linear_forward(k->f1, k->h3, PW(m, w->fc1.w), PW(m, w->fc1.b), M, D, d.Dmt);
  gelu_forward(k->g, k->f1, (int64_t)M * d.Dmt);
  row_linear_forward(m, k->f2, k->g, PW(m, w->fc2.w), PW(m, w->fc2.b), M, d.Dmt, D);
  memcpy(out, k->x2, (size_t)M * D * sizeof(float));
  gate_residual_forward(out, k->f2, gate2, sel, S, d.B, d.N, D);
}

// The rectified-flow loss of this rank's tokens, with the denominator of
// model.h: b->loss_tokens, or the count over the sp group. The kernel
// normalises by the local count; rescale loss and dout to the global one.
static float loss_forward(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  const Dims d = a->d;
  const int M = d.B * d.N;
  float loss = mse_loss(a->gs.dout, a->out, b->target, a->lossw, M, d.P);
  double local = 0.0;
  for (int r = 0; r < M; r++) local += a->lossw[r];
  double global = local;
  if (b->loss_tokens > 0.0) {
    global = b->loss_tokens;
  } else if (d.sp > 1) {
    comm_allreduce(m->layout.sp_group, &global, 1, COMM_F64, COMM_SUM);
  }
  if (global == local || local == 0.0) return loss;  // local == 0: loss and dout are 0 already
  const float s = (float)(local / global);
  float *dout = a->gs.dout;
  const size_t n = (size_t)M * d.P;
#pragma omp parallel for simd schedule(static)
  for (size_t e = 0; e < n; e++) dout[e] *= s;
  return (float)((double)loss * local / global);
}

float model_forward(Model *m, const Batch *b) {
  TSR_ASSERT(m->acts, "model_forward before model_alloc_acts");
  TSR_ASSERT(b->B >= 1 && b->B <= m->max_batch, "batch %d outside 1..%d", b->B, m->max_batch);
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  a->d = model_dims(m, b->B);
  const Dims d = a->d;
  const int M = d.B * d.N, D = d.D;
  for (int s = 0; s < d.B; s++)
    TSR_ASSERT(b->ntokens[s] >= 1 && b->ntokens[s] <= d.L, "sample %d: ntokens %d outside 1..%d", s,
               b->ntokens[s], d.L);
  prepare_masks(a, b);
  rope3d_table(a->rope_cos, a->rope_sin, d.n0, d.N, d.gh, d.gw, m->cfg.rope);

  text_encoder_forward(m, b);
  conditioning_forward(m, b);
  linear_forward(a->xemb, b->x, PW(m, o->x_embed.w), PW(m, o->x_embed.b), M, d.P, D);
  for (int i = 0; i < m->cfg.depth; i++)
    block_forward(m, i, i + 1 < m->cfg.depth ? a->blocks[i + 1].xin : a->xf);
  if (m->cfg.depth == 0) memcpy(a->xf, a->xemb, (size_t)M * D * sizeof(float));

  linear_forward(a->fmod, a->csilu, PW(m, o->final_adaln.w), PW(m, o->final_adaln.b), 2 * d.B, D, 2 * D);
  layernorm_forward(a->lnfn, a->lnf_mean, a->lnf_rstd, a->xf, NULL, NULL, M, D);
  modulate_forward(a->hf, a->lnfn, a->fmod, a->fmod + D, a->sel, 2 * D, d.B, d.N, D);
  linear_forward(a->out, a->hf, PW(m, o->final_linear.w), PW(m, o->final_linear.b), M, D, d.P);
  m->out = a->out;
  m->loss = b->target ? loss_forward(m, b) : 0.0f;
  return m->loss;
}

static double text_encoder_flops(const ModelConfig *c, int B) {
  const double D = c->dim, Dm = (double)c->mlp_ratio * c->dim, L = c->text_length, BL = B * L;
  return c->text_layers * (2 * BL * D * (3 * D + D + 2 * Dm) + 4 * B * L * L * D);
}

double model_train_flops(const ModelConfig *c, int B, int text_frozen) {
  const double f = model_forward_flops(c, B);
  if (!text_frozen) return 3 * f;
  // no backward through the text encoder, nor the cross-attention kv GEMM's input gradient
  const double BL = (double)B * c->text_length, D = c->dim;
  return 3 * f - 2 * text_encoder_flops(c, B) - c->depth * 2 * BL * D * 2 * D;
}

double model_forward_flops(const ModelConfig *c, int B) {
  const double N = c->tokens, D = c->dim, Dm = (double)c->mlp_ratio * c->dim, L = c->text_length;
  const double P = c->patch_dim, M = B * N, BL = B * L;
  double text = text_encoder_flops(c, B);
  double block = 2 * M * D * (3 * D + D + D + D + 2 * Dm) + 2 * BL * D * 2 * D + 4 * B * N * N * D + 4 * B * N * L * D;
  return text + c->depth * block + 2 * M * P * D + 2 * M * D * P;
}
