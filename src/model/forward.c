// Forward pass of the video diffusion transformer (docs/model.md), through
// the model's backend (every tensor in the backend's memory; the batch is
// uploaded here, the loss downloaded).
// Shapes: M = B*N video tokens (this rank's), BL = B*L text tokens,
// modulation vectors in two variants per sample ([B,2,*]: 0 = timestep t,
// 1 = clean t=0). Under tp / sp the video blocks run sharded
// (docs/model_parallel.md); at tp = sp = 1 every call is the plain one.
#include "core/error.h"
#include "kernels/backend.h"
#include "model/model_internal.h"
#include "model/parallel.h"

// Per-token modulation variant and loss weight from the per-frame mask,
// worked out on the host (host mirrors in a->host) and uploaded with the
// batch's patches, timesteps, tokens and target.
static void upload_batch(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  HostBatch *h = &a->host;
  const Dims d = a->d;
  const int frame_tokens = d.gh * d.gw, M = d.B * d.N;
  for (int s = 0; s < d.B; s++) {
    h->ntok[s] = b->ntokens[s];
    h->tvec[2 * s] = b->t[s];  // modulation variant 0: the sample's t; 1: clean
    h->tvec[2 * s + 1] = 0.0f;
    for (int n = 0; n < d.N; n++) {
      int frame = (d.n0 + n) / frame_tokens;
      uint8_t cond = b->cond ? b->cond[s * d.gt + frame] : 0;
      h->sel[s * d.N + n] = cond ? 1 : 0;
      h->lossw[s * d.N + n] = cond ? 0.0f : 1.0f;
    }
  }
  const Backend *be = m->be;
  be_upload(be, a->sel, h->sel, (size_t)M);
  be_upload(be, a->lossw, h->lossw, (size_t)M * sizeof(float));
  be_upload(be, a->ntok, h->ntok, (size_t)d.B * sizeof(int));
  be_upload(be, a->tvec, h->tvec, (size_t)2 * d.B * sizeof(float));
  be_upload(be, a->tokens, b->tokens, (size_t)d.B * d.L * sizeof(int32_t));
  be_upload(be, a->x, b->x, (size_t)M * d.P * sizeof(float));
  if (b->target) be_upload(be, a->target, b->target, (size_t)M * d.P * sizeof(float));
  if (m->cfg.text_minilm) {
    TSR_ASSERT(b->text_states, "model.text.encoder minilm: the batch has no text states");
    be_upload(be, a->text_states, b->text_states, (size_t)d.B * d.L * m->cfg.text_width * sizeof(float));
  }
}

static void text_encoder_forward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  const Dims d = a->d;
  const int BL = d.B * d.L, D = d.D;
  if (m->cfg.text_minilm) {  // ctx = text_proj(the frozen encoder's states)
    be_linear_forward(m->be, a->ctx, a->text_states, PW(m, o->text_proj.w), PW(m, o->text_proj.b), BL,
                      m->cfg.text_width, D);
    return;
  }
  be_embedding_forward(m->be, a->temb_in, a->tokens, PW(m, o->tok_emb), PW(m, o->pos_emb), d.B, d.L, D);
  const float *x = a->temb_in;
  for (int i = 0; i < m->cfg.text_layers; i++) {
    TextActs *t = &a->text[i];
    const TextLayerOff *l = &o->text[i];
    if (x != t->xin) be_copy(m->be, t->xin, x, (size_t)BL * D * sizeof(float));
    be_layernorm_forward(m->be, t->ln1, t->ln1_mean, t->ln1_rstd, t->xin, PW(m, l->norm1.w), PW(m, l->norm1.b), BL, D);
    be_linear_forward(m->be, t->qkv, t->ln1, PW(m, l->qkv.w), PW(m, l->qkv.b), BL, D, 3 * D);
    be_attention_forward(m->be, t->att, D, t->lse, t->qkv, 3 * D, t->qkv + D, 3 * D, t->qkv + 2 * D, 3 * D, a->ntok,
                      d.B, d.L, d.L, d.H, d.hd);
    be_linear_forward(m->be, t->xmid, t->att, PW(m, l->proj.w), PW(m, l->proj.b), BL, D, D);
    be_axpy(m->be, t->xmid, 1.0f, t->xin, (int64_t)BL * D);
    be_layernorm_forward(m->be, t->ln2, t->ln2_mean, t->ln2_rstd, t->xmid, PW(m, l->norm2.w), PW(m, l->norm2.b), BL, D);
    be_linear_forward(m->be, t->f1, t->ln2, PW(m, l->fc1.w), PW(m, l->fc1.b), BL, D, d.Dm);
    be_gelu_forward(m->be, t->g, t->f1, (int64_t)BL * d.Dm);
    float *next = i + 1 < m->cfg.text_layers ? a->text[i + 1].xin : a->tx_final;
    be_linear_forward(m->be, next, t->g, PW(m, l->fc2.w), PW(m, l->fc2.b), BL, d.Dm, D);
    be_axpy(m->be, next, 1.0f, t->xmid, (int64_t)BL * D);
    x = next;
  }
  if (x != a->tx_final) be_copy(m->be, a->tx_final, x, (size_t)BL * D * sizeof(float));
  be_layernorm_forward(m->be, a->ctx, a->ctx_mean, a->ctx_rstd, a->tx_final, PW(m, o->text_norm.w),
                    PW(m, o->text_norm.b), BL, D);
}

// c[b,v] = t_embed(t_v) + y_embed(masked mean of ctx); csilu = SiLU(c).
static void conditioning_forward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  const Dims d = a->d;
  const int D = d.D;
  be_timestep_embedding(m->be, a->tsin, a->tvec, 2 * d.B, d.F);
  be_linear_forward(m->be, a->th, a->tsin, PW(m, o->t_fc1.w), PW(m, o->t_fc1.b), 2 * d.B, d.F, D);
  be_silu_forward(m->be, a->ths, a->th, (int64_t)2 * d.B * D);
  be_linear_forward(m->be, a->temb, a->ths, PW(m, o->t_fc2.w), PW(m, o->t_fc2.b), 2 * d.B, D, D);
  be_masked_mean_forward(m->be, a->ybar, a->ctx, a->ntok, d.B, d.L, D);
  be_linear_forward(m->be, a->yemb, a->ybar, PW(m, o->y_embed.w), PW(m, o->y_embed.b), d.B, D, D);
  be_add_broadcast(m->be, a->c, a->temb, a->yemb, 2 * d.B, 2, D);  // both variants of sample s get yemb[s]
  be_silu_forward(m->be, a->csilu, a->c, (int64_t)2 * d.B * D);
}

// Self-attention over every token of the clip: qkv (this rank's heads, [M,3Dt])
// -> att [M,Dt]. QK-norm and RoPE (global token coordinates) per token; under
// Ulysses the all-to-all gives each rank the Nu tokens of its ring position
// for Ha heads (v's in flight during q/k's norm and RoPE unless
// layout.comm_blocking), and back; under ring the keys of the other ring positions
// come round the ring (ring.c). `stage`: [M,Dt] free until the cross-attention
// (this block's catt in the forward; the backward's recomputation passes
// gradient scratch, since catt is then kept).
void self_attention_forward(Model *m, BlockActs *k, const BlockOff *w, float *stage) {
  ModelActs *a = m->acts;
  const Dims d = a->d;
  const int M = d.B * d.N, Dt = d.Dt;
  if (d.U == 1) {
    be_rmsnorm_forward(m->be, k->q, Dt, k->q_rstd, k->qkv, 3 * Dt, PW(m, w->q_norm), M, d.Ht, d.hd);
    be_rmsnorm_forward(m->be, k->k, Dt, k->k_rstd, k->qkv + Dt, 3 * Dt, PW(m, w->k_norm), M, d.Ht, d.hd);
    be_rope3d_forward(m->be, k->q, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    be_rope3d_forward(m->be, k->k, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    ring_attention_forward(m, k->att, Dt, k->lse, k->q, Dt, k->k, Dt, k->qkv + 2 * Dt, 3 * Dt, d.B, d.N, d.Ht, d.hd);
    return;
  }
  // q, k token-parallel, staged in this block's att and `stage`
  float *tq = k->att, *tk = stage;
  const int W = d.Ha * d.hd;
  if (m->layout.comm_blocking) {
    be_rmsnorm_forward(m->be, tq, Dt, k->q_rstd, k->qkv, 3 * Dt, PW(m, w->q_norm), M, d.Ht, d.hd);
    be_rmsnorm_forward(m->be, tk, Dt, k->k_rstd, k->qkv + Dt, 3 * Dt, PW(m, w->k_norm), M, d.Ht, d.hd);
    be_rope3d_forward(m->be, tq, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    be_rope3d_forward(m->be, tk, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    sp_tokens_to_heads(m, d.B, 3, (const float *const[]){tq, tk, k->qkv + 2 * Dt}, (const int[]){Dt, Dt, 3 * Dt},
                       (float *const[]){k->q, k->k, k->vh});
  } else {
    // Overlapped: v needs neither norm nor RoPE, so its all-to-all travels
    // while q and k are normed and rotated (comm_test lets Open MPI move it);
    // then q's and k's (blocking: nothing independent is left). The same
    // kernels on the same inputs and data movement only: the blocking path's
    // bits; the same three all-to-alls of the same size (v's first).
    CommRequest rq;
    sp_tokens_to_heads_start(m, d.B, k->qkv + 2 * Dt, 3 * Dt, &rq);
    be_rmsnorm_forward(m->be, tq, Dt, k->q_rstd, k->qkv, 3 * Dt, PW(m, w->q_norm), M, d.Ht, d.hd);
    comm_test(&rq);
    be_rmsnorm_forward(m->be, tk, Dt, k->k_rstd, k->qkv + Dt, 3 * Dt, PW(m, w->k_norm), M, d.Ht, d.hd);
    comm_test(&rq);
    be_rope3d_forward(m->be, tq, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    comm_test(&rq);
    be_rope3d_forward(m->be, tk, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
    sp_tokens_to_heads_finish(m, d.B, k->vh, &rq);
    sp_tokens_to_heads(m, d.B, 2, (const float *const[]){tq, tk}, (const int[]){Dt, Dt},
                       (float *const[]){k->q, k->k});
  }
  ring_attention_forward(m, k->atth, W, k->lse, k->q, W, k->k, W, k->vh, W, d.B, d.Nu, d.Ha, d.hd);
  sp_heads_to_tokens(m, d.B, 1, (const float *const[]){k->atth}, (float *const[]){k->att}, (const int[]){Dt});
}

// One DiT block: x (block input, a->blocks[i].xin) -> out. Column-parallel
// qkv, cross.q, cross.kv, fc1 produce this rank's heads / hidden units;
// row-parallel proj, cross.proj, fc2 all-reduce over tp.
void block_forward(Model *m, int i, float *out) {
  ModelActs *a = m->acts;
  BlockActs *k = &a->blocks[i];
  const BlockOff *w = &m->off->blocks[i];
  const Dims d = a->d;
  const int M = d.B * d.N, BL = d.B * d.L, D = d.D, Dt = d.Dt, S = 6 * D;  // S: modulation stride
  const uint8_t *sel = a->sel;

  be_linear_forward(m->be, k->mod, a->csilu, PW(m, w->adaln.w), PW(m, w->adaln.b), 2 * d.B, D, 6 * D);
  const float *shift1 = k->mod, *scale1 = k->mod + D, *gate1 = k->mod + 2 * D;
  const float *shift2 = k->mod + 3 * D, *scale2 = k->mod + 4 * D, *gate2 = k->mod + 5 * D;

  // 1. self-attention over all video tokens, QK-norm and 3D RoPE
  be_layernorm_forward(m->be, k->ln1n, k->ln1_mean, k->ln1_rstd, k->xin, NULL, NULL, M, D);
  be_modulate_forward(m->be, k->h1, k->ln1n, shift1, scale1, sel, S, d.B, d.N, D);
  be_linear_forward(m->be, k->qkv, k->h1, PW(m, w->qkv.w), PW(m, w->qkv.b), M, D, 3 * Dt);
  self_attention_forward(m, k, w, k->catt);
  row_linear_forward(m, k->pa, k->att, PW(m, w->proj.w), PW(m, w->proj.b), M, Dt, D);
  be_copy(m->be, k->x1, k->xin, (size_t)M * D * sizeof(float));
  be_gate_residual_forward(m->be, k->x1, k->pa, gate1, sel, S, d.B, d.N, D);

  // 2. cross-attention to the caption (padding masked); per token, no exchange
  be_layernorm_forward(m->be, k->ln2, k->ln2_mean, k->ln2_rstd, k->x1, PW(m, w->norm2.w), PW(m, w->norm2.b), M, D);
  be_linear_forward(m->be, k->cq, k->ln2, PW(m, w->cq.w), PW(m, w->cq.b), M, D, Dt);
  be_rmsnorm_forward(m->be, k->cqn, Dt, k->cq_rstd, k->cq, Dt, PW(m, w->cq_norm), M, d.Ht, d.hd);
  be_linear_forward(m->be, k->ckv, a->ctx, PW(m, w->ckv.w), PW(m, w->ckv.b), BL, D, 2 * Dt);
  be_rmsnorm_forward(m->be, k->ckn, Dt, k->ck_rstd, k->ckv, 2 * Dt, PW(m, w->ck_norm), BL, d.Ht, d.hd);
  be_attention_forward(m->be, k->catt, Dt, k->clse, k->cqn, Dt, k->ckn, Dt, k->ckv + Dt, 2 * Dt, a->ntok, d.B, d.N, d.L, d.Ht,
                    d.hd);
  row_linear_forward(m, k->x2, k->catt, PW(m, w->cproj.w), PW(m, w->cproj.b), M, Dt, D);
  be_axpy(m->be, k->x2, 1.0f, k->x1, (int64_t)M * D);

  // 3. MLP
  be_layernorm_forward(m->be, k->ln3n, k->ln3_mean, k->ln3_rstd, k->x2, NULL, NULL, M, D);
  be_modulate_forward(m->be, k->h3, k->ln3n, shift2, scale2, sel, S, d.B, d.N, D);
  be_linear_forward(m->be, k->f1, k->h3, PW(m, w->fc1.w), PW(m, w->fc1.b), M, D, d.Dmt);
  be_gelu_forward(m->be, k->g, k->f1, (int64_t)M * d.Dmt);
  row_linear_forward(m, k->f2, k->g, PW(m, w->fc2.w), PW(m, w->fc2.b), M, d.Dmt, D);
  be_copy(m->be, out, k->x2, (size_t)M * D * sizeof(float));
  be_gate_residual_forward(m->be, out, k->f2, gate2, sel, S, d.B, d.N, D);
}

// The rectified-flow loss of this rank's tokens, with the denominator of
// model.h: b->loss_tokens, or the count over the sp group. The kernel
// normalises by the local count; rescale loss and dout to the global one.
static float loss_forward(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  const Dims d = a->d;
  const int M = d.B * d.N;
  float loss;
  be_mse_loss(m->be, a->loss, a->gs.dout, a->out, a->target, a->lossw, M, d.P);
  be_download(m->be, &loss, a->loss, sizeof loss);
  double local = 0.0;
  for (int r = 0; r < M; r++) local += a->host.lossw[r];
  double global = local;
  if (b->loss_tokens > 0.0) {
    global = b->loss_tokens;
  } else if (d.sp > 1) {
    comm_allreduce(m->layout.sp_group, &global, 1, COMM_F64, COMM_SUM);
  }
  if (global == local || local == 0.0) return loss;  // local == 0: loss and dout are 0 already
  be_scale_f32(m->be, a->gs.dout, (float)(local / global), (int64_t)M * d.P);
  return (float)((double)loss * local / global);
}

float model_forward(Model *m, const Batch *b) {
  TSR_ASSERT(m->acts, "model_forward before model_alloc_acts");
  TSR_ASSERT(b->B >= 1 && b->B <= m->max_batch, "batch %d outside 1..%d", b->B, m->max_batch);
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  a->d = model_dims(m, b->B, b->gt, b->gh, b->gw);
  const Dims d = a->d;
  TSR_ASSERT((int64_t)d.B * d.Nf <= m->max_tokens, "batch of %d x %d tokens over the %lld the activations hold", d.B,
             d.Nf, (long long)m->max_tokens);
  const int M = d.B * d.N, D = d.D;
  for (int s = 0; s < d.B; s++)
    TSR_ASSERT(b->ntokens[s] >= 1 && b->ntokens[s] <= d.L, "sample %d: ntokens %d outside 1..%d", s,
               b->ntokens[s], d.L);
  upload_batch(m, b);
  be_rope3d_table(m->be, a->rope_cos, a->rope_sin, d.n0, d.N, d.gh, d.gw, m->cfg.rope);

  text_encoder_forward(m);
  conditioning_forward(m);
  be_linear_forward(m->be, a->xemb, a->x, PW(m, o->x_embed.w), PW(m, o->x_embed.b), M, d.P, D);
  for (int i = 0; i < m->cfg.depth; i++)
    block_forward(m, i, i + 1 < m->cfg.depth ? a->blocks[i + 1].xin : a->xf);
  if (m->cfg.depth == 0) be_copy(m->be, a->xf, a->xemb, (size_t)M * D * sizeof(float));

  be_linear_forward(m->be, a->fmod, a->csilu, PW(m, o->final_adaln.w), PW(m, o->final_adaln.b), 2 * d.B, D, 2 * D);
  be_layernorm_forward(m->be, a->lnfn, a->lnf_mean, a->lnf_rstd, a->xf, NULL, NULL, M, D);
  be_modulate_forward(m->be, a->hf, a->lnfn, a->fmod, a->fmod + D, a->sel, 2 * D, d.B, d.N, D);
  be_linear_forward(m->be, a->out, a->hf, PW(m, o->final_linear.w), PW(m, o->final_linear.b), M, D, d.P);
  m->out = a->out;
  m->loss = b->target ? loss_forward(m, b) : 0.0f;
  return m->loss;
}

static double text_encoder_flops(const ModelConfig *c, int B) {
  const double D = c->dim, Dm = (double)c->mlp_ratio * c->dim, L = c->text_length, BL = B * L;
  if (c->text_minilm) return 2 * BL * c->text_width * D;  // the projection; the encoder runs once per caption
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

void model_read_output(const Model *m, float *dst, int B) {
  const Dims d = m->acts->d;
  TSR_ASSERT(B == d.B, "model_read_output: batch %d, the last forward's was %d", B, d.B);
  be_download(m->be, dst, m->out, (size_t)B * d.N * d.P * sizeof(float));
}
