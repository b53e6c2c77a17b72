// Backward pass of the model: gradients of the last forward's loss,
// accumulated into m->params.grad. Mirrors forward.c step by step, in reverse.
// Gradient scratch (a->gs) is zeroed before each use because every backward
// op accumulates. Under tp the input gradient of each column-parallel Linear
// is all-reduced over tp (Megatron's f; col_linear_backward overlaps it with
// the weight gradient), so the residual stream's gradient
// and every replicated parameter's gradient are whole on every tp rank;
// under sp the attention gradients go through the inverse all-to-alls and
// parameter gradients stay per-rank shares (the trainer sums them).
#include "core/error.h"
#include "kernels/backend.h"
#include "model/model_internal.h"
#include "model/parallel.h"

static void zero(const Model *m, float *x, size_t n) { be_zero(m->be, x, n); }

// Gradient of a per-head norm weight (one [hd] vector shared by every head).
// At tp > 1 each rank sees only its heads: collect this backward's share in
// scratch, summed over tp at the end (model_backward), so the gradient buffer
// (which may hold earlier micro-batches) is not summed twice.
enum { NORM_Q, NORM_K, NORM_CQ, NORM_CK };
static float *norm_grad(Model *m, int block, int which, size_t off) {
  if (m->layout.tp == 1) return PG(m, off);
  return m->acts->gs.dnorm + ((size_t)block * 4 + which) * m->cfg.head_dim;
}

// Self-attention backward: datt [M,Dt] (token-parallel) -> dq, dk [M,Dt],
// before RoPE / QK-norm backward, and dv: at U = 1 into dqkv (zeroed by the
// caller); under Ulysses it is left in the all-to-all's receive buffer, for
// the caller to unpack into dqkv (sp_heads_to_tokens_finish) once it has
// zeroed dqkv, which holds the head-layout gradients dqkvh until then.
// overlap (Ulysses, not layout.comm_blocking): datt is already in g->datth
// (block_backward moved it while the proj weight gradient was computed), and
// dv's all-to-all is left in flight in *dv_req (the caller finishes it after
// the q/k RoPE and norm backward, which do not touch dv); blocking, it has
// arrived on return.
static void self_attention_backward(Model *m, BlockActs *k, int overlap, CommRequest *dv_req) {
  ModelActs *a = m->acts;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const int Dt = d.Dt;
  if (d.U == 1) {
    ring_attention_backward(m, g->dq, g->dk, g->dqkv + 2 * Dt, g->datt, k->att, Dt, k->lse, k->q, Dt, k->k, Dt,
                            k->qkv + 2 * Dt, 3 * Dt, d.B, d.N, d.Ht, d.hd);
    return;
  }
  const int W = d.Ha * d.hd;
  const size_t nh = (size_t)d.B * d.Nu * W;  // one head-parallel tensor
  float *dqh = g->dqkvh, *dkh = dqh + nh, *dvh = dkh + nh;
  if (!overlap)
    sp_tokens_to_heads(m, d.B, 1, (const float *const[]){g->datt}, (const int[]){Dt}, (float *const[]){g->datth});
  zero(m, g->dqkvh, 3 * nh);
  ring_attention_backward(m, dqh, dkh, dvh, g->datth, k->atth, W, k->lse, k->q, W, k->k, W, k->vh, W, d.B, d.Nu, d.Ha,
                          d.hd);
  sp_heads_to_tokens(m, d.B, 2, (const float *const[]){dqh, dkh}, (float *const[]){g->dq, g->dk}, (const int[]){Dt, Dt});
  sp_heads_to_tokens_start(m, d.B, dvh, overlap ? dv_req : NULL);
}

// dx holds d loss / d (block output) on entry and d loss / d (block input) on exit.
static void block_backward(Model *m, int i) {
  ModelActs *a = m->acts;
  BlockActs *k = &a->blocks[i];
  const BlockOff *w = &m->off->blocks[i];
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N, BL = (size_t)d.B * d.L, D = (size_t)d.D, Dt = (size_t)d.Dt;
  const size_t Dmt = (size_t)d.Dmt;
  const int S = 6 * d.D;
  const uint8_t *sel = a->sel;
  const float *scale1 = k->mod + D, *gate1 = k->mod + 2 * D, *scale2 = k->mod + 4 * D, *gate2 = k->mod + 5 * D;
  float *dmod = g->dmod;
  // train.recompute: the block's forward (all of it, or its self-attention)
  // again, into the buffers it shares with the other blocks; the same inputs
  // and kernels give the same bits, so the gradients are those of no recompute
  if (m->recompute == MODEL_RECOMPUTE_BLOCK) block_forward(m, i, g->dh);  // output unused: the next xin is kept
  if (m->recompute == MODEL_RECOMPUTE_ATTENTION) self_attention_forward(m, k, w, g->datt);
  zero(m, dmod, 2 * (size_t)d.B * S);

  // 3. MLP: out = x2 + gate2 * fc2(gelu(fc1(modulate(LN(x2)))))
  zero(m, g->dh, M * D);
  be_gate_residual_backward(m->be, g->dh, dmod + 5 * D, g->dx, k->f2, gate2, sel, S, d.B, d.N, d.D);
  zero(m, g->dm1, M * Dmt);
  be_linear_backward(m->be, g->dm1, PG(m, w->fc2.w), PG(m, w->fc2.b), g->dh, k->g, PW(m, w->fc2.w), M, Dmt, D);
  zero(m, g->dm2, M * Dmt);
  be_gelu_backward(m->be, g->dm2, g->dm1, k->f1, (int64_t)(M * Dmt));
  zero(m, g->dh, M * D);
  col_linear_backward(m, g->dh, PG(m, w->fc1.w), PG(m, w->fc1.b), g->dm2, k->h3, PW(m, w->fc1.w), M, D, Dmt);
  zero(m, g->dh2, M * D);
  be_modulate_backward(m->be, g->dh2, dmod + 3 * D, dmod + 4 * D, g->dh, k->ln3n, scale2, sel, S, d.B, d.N, d.D);
  be_layernorm_backward(m->be, g->dx, NULL, NULL, g->dh2, k->x2, NULL, k->ln3_mean, k->ln3_rstd, M, D);

  // 2. cross-attention: x2 = x1 + cproj(attn(cq_norm(cq(LN(x1))), ck_norm(ckv(ctx))))
  zero(m, g->datt, M * Dt);
  be_linear_backward(m->be, g->datt, PG(m, w->cproj.w), PG(m, w->cproj.b), g->dx, k->catt, PW(m, w->cproj.w), M, Dt, D);
  zero(m, g->dq, M * Dt);
  zero(m, g->dckn, BL * Dt);
  zero(m, g->dckv, BL * 2 * Dt);
  be_attention_backward(m->be, g->dq, g->dckn, g->dckv + Dt, g->datt, k->catt, Dt, k->clse, k->cqn, Dt, k->ckn, Dt,
                     k->ckv + Dt, 2 * Dt, a->ntok, d.B, d.N, d.L, d.Ht, d.hd);
  be_rmsnorm_backward(m->be, g->dckv, 2 * Dt, norm_grad(m, i, NORM_CK, w->ck_norm), g->dckn, Dt, k->ckv, 2 * Dt,
                   PW(m, w->ck_norm), k->ck_rstd, BL, d.Ht, d.hd);
  // dctx: this rank's heads only; summed over tp once for all blocks (model_backward)
  be_linear_backward(m->be, m->text_frozen ? NULL : g->dctx, PG(m, w->ckv.w), PG(m, w->ckv.b), g->dckv, a->ctx,
                  PW(m, w->ckv.w), BL, D, 2 * Dt);
  zero(m, g->dh, M * Dt);
  be_rmsnorm_backward(m->be, g->dh, Dt, norm_grad(m, i, NORM_CQ, w->cq_norm), g->dq, Dt, k->cq, Dt, PW(m, w->cq_norm),
                   k->cq_rstd, M, d.Ht, d.hd);
  zero(m, g->dh2, M * D);
  col_linear_backward(m, g->dh2, PG(m, w->cq.w), PG(m, w->cq.b), g->dh, k->ln2, PW(m, w->cq.w), M, D, Dt);
  be_layernorm_backward(m->be, g->dx, PG(m, w->norm2.w), PG(m, w->norm2.b), g->dh2, k->x1, PW(m, w->norm2.w), k->ln2_mean,
                     k->ln2_rstd, M, D);

  // 1. self-attention: x1 = xin + gate1 * proj(attn(rope(qnorm(q)), rope(knorm(k)), v))
  zero(m, g->dh, M * D);
  be_gate_residual_backward(m->be, g->dh, dmod + 2 * D, g->dx, k->pa, gate1, sel, S, d.B, d.N, d.D);
  zero(m, g->datt, M * Dt);
  // Ulysses, overlapped: datt's all-to-all to the heads layout travels while
  // the proj weight gradient is computed, dv's back to tokens while q and k
  // go through the RoPE and norm backward (the same kernels, the same bits)
  const int sp_overlap = d.U > 1 && !m->layout.comm_blocking;
  CommRequest rq;
  if (sp_overlap) {
    be_linear_backward(m->be, g->datt, NULL, NULL, g->dh, k->att, PW(m, w->proj.w), M, Dt, D);
    sp_tokens_to_heads_start(m, d.B, g->datt, (int)Dt, &rq);
    be_linear_backward(m->be, NULL, PG(m, w->proj.w), PG(m, w->proj.b), g->dh, k->att, PW(m, w->proj.w), M, Dt, D);
    sp_tokens_to_heads_finish(m, d.B, g->datth, &rq);
  } else {
    be_linear_backward(m->be, g->datt, PG(m, w->proj.w), PG(m, w->proj.b), g->dh, k->att, PW(m, w->proj.w), M, Dt, D);
  }
  zero(m, g->dq, M * Dt);
  zero(m, g->dk, M * Dt);
  if (d.U == 1) zero(m, g->dqkv, M * 3 * Dt);
  self_attention_backward(m, k, sp_overlap, &rq);
  if (d.U > 1) zero(m, g->dqkv, M * 3 * Dt);  // it held dqkvh; dv waits in the receive buffer
  be_rope3d_backward(m->be, g->dq, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
  be_rope3d_backward(m->be, g->dk, Dt, a->rope_cos, a->rope_sin, d.B, d.N, d.Ht, d.hd);
  be_rmsnorm_backward(m->be, g->dqkv, 3 * Dt, norm_grad(m, i, NORM_Q, w->q_norm), g->dq, Dt, k->qkv, 3 * Dt, PW(m, w->q_norm),
                   k->q_rstd, M, d.Ht, d.hd);
  be_rmsnorm_backward(m->be, g->dqkv + Dt, 3 * Dt, norm_grad(m, i, NORM_K, w->k_norm), g->dk, Dt, k->qkv + Dt, 3 * Dt,
                   PW(m, w->k_norm), k->k_rstd, M, d.Ht, d.hd);
  if (d.U > 1) sp_heads_to_tokens_finish(m, d.B, g->dqkv + 2 * Dt, 3 * (int)Dt, sp_overlap ? &rq : NULL);
  zero(m, g->dh, M * D);
  col_linear_backward(m, g->dh, PG(m, w->qkv.w), PG(m, w->qkv.b), g->dqkv, k->h1, PW(m, w->qkv.w), M, D, 3 * Dt);
  zero(m, g->dh2, M * D);
  be_modulate_backward(m->be, g->dh2, dmod, dmod + D, g->dh, k->ln1n, scale1, sel, S, d.B, d.N, d.D);
  be_layernorm_backward(m->be, g->dx, NULL, NULL, g->dh2, k->xin, NULL, k->ln1_mean, k->ln1_rstd, M, D);

  // adaLN: mod = adaLN(csilu)
  be_linear_backward(m->be, g->dcsilu, PG(m, w->adaln.w), PG(m, w->adaln.b), dmod, a->csilu, PW(m, w->adaln.w), 2 * d.B, D,
                  6 * D);
}

static void final_backward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N, D = (size_t)d.D;
  float *dfmod = g->dmod;  // [B,2,2D] fits in the block modulation scratch
  zero(m, dfmod, 2 * (size_t)d.B * 2 * D);
  zero(m, g->dh, M * D);
  be_linear_backward(m->be, g->dh, PG(m, o->final_linear.w), PG(m, o->final_linear.b), g->dout, a->hf,
                  PW(m, o->final_linear.w), M, D, d.P);
  zero(m, g->dh2, M * D);
  be_modulate_backward(m->be, g->dh2, dfmod, dfmod + D, g->dh, a->lnfn, a->fmod + D, a->sel, 2 * d.D, d.B, d.N, d.D);
  zero(m, g->dx, M * D);
  be_layernorm_backward(m->be, g->dx, NULL, NULL, g->dh2, a->xf, NULL, a->lnf_mean, a->lnf_rstd, M, D);
  be_linear_backward(m->be, g->dcsilu, PG(m, o->final_adaln.w), PG(m, o->final_adaln.b), dfmod, a->csilu,
                  PW(m, o->final_adaln.w), 2 * d.B, D, 2 * D);
}

// c = t_embed(t_v) + y_embed(ybar); csilu = SiLU(c). Adds into dctx through ybar (unless frozen).
static void conditioning_backward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const int D = d.D, B2 = 2 * d.B;
  zero(m, g->dc, (size_t)B2 * D);
  be_silu_backward(m->be, g->dc, g->dcsilu, a->c, (int64_t)B2 * D);
  zero(m, g->dtemb_h, (size_t)B2 * D);
  be_linear_backward(m->be, g->dtemb_h, PG(m, o->t_fc2.w), PG(m, o->t_fc2.b), g->dc, a->ths, PW(m, o->t_fc2.w), B2, D, D);
  zero(m, g->dtemb_h2, (size_t)B2 * D);
  be_silu_backward(m->be, g->dtemb_h2, g->dtemb_h, a->th, (int64_t)B2 * D);
  be_linear_backward(m->be, NULL, PG(m, o->t_fc1.w), PG(m, o->t_fc1.b), g->dtemb_h2, a->tsin, PW(m, o->t_fc1.w), B2, d.F, D);
  be_sum_groups(m->be, g->dyemb, g->dc, d.B, 2, D);  // y_embed feeds both variants of a sample
  // y_embed learns either way; with a frozen text encoder nothing flows on into ctx
  const int to_ctx = !m->text_frozen;
  if (to_ctx) zero(m, g->dybar, (size_t)d.B * D);
  be_linear_backward(m->be, to_ctx ? g->dybar : NULL, PG(m, o->y_embed.w), PG(m, o->y_embed.b), g->dyemb, a->ybar,
                  PW(m, o->y_embed.w), d.B, D, D);
  if (to_ctx) be_masked_mean_backward(m->be, g->dctx, g->dybar, a->ntok, d.B, d.L, D);
}

static void text_encoder_backward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t BL = (size_t)d.B * d.L, D = (size_t)d.D, Dm = (size_t)d.Dm;
  if (m->cfg.text_minilm) {  // only the projection learns; nothing flows into the frozen encoder
    be_linear_backward(m->be, NULL, PG(m, o->text_proj.w), PG(m, o->text_proj.b), g->dctx, a->text_states,
                       PW(m, o->text_proj.w), (int)BL, m->cfg.text_width, (int)D);
    return;
  }
  zero(m, g->dtx, BL * D);
  be_layernorm_backward(m->be, g->dtx, PG(m, o->text_norm.w), PG(m, o->text_norm.b), g->dctx, a->tx_final,
                     PW(m, o->text_norm.w), a->ctx_mean, a->ctx_rstd, BL, D);
  for (int i = m->cfg.text_layers - 1; i >= 0; i--) {
    TextActs *t = &a->text[i];
    const TextLayerOff *l = &o->text[i];
    zero(m, g->dtm1, BL * Dm);
    be_linear_backward(m->be, g->dtm1, PG(m, l->fc2.w), PG(m, l->fc2.b), g->dtx, t->g, PW(m, l->fc2.w), BL, Dm, D);
    zero(m, g->dtm2, BL * Dm);
    be_gelu_backward(m->be, g->dtm2, g->dtm1, t->f1, (int64_t)(BL * Dm));
    zero(m, g->dth, BL * D);
    be_linear_backward(m->be, g->dth, PG(m, l->fc1.w), PG(m, l->fc1.b), g->dtm2, t->ln2, PW(m, l->fc1.w), BL, D, Dm);
    be_layernorm_backward(m->be, g->dtx, PG(m, l->norm2.w), PG(m, l->norm2.b), g->dth, t->xmid, PW(m, l->norm2.w),
                       t->ln2_mean, t->ln2_rstd, BL, D);
    zero(m, g->dth, BL * D);
    be_linear_backward(m->be, g->dth, PG(m, l->proj.w), PG(m, l->proj.b), g->dtx, t->att, PW(m, l->proj.w), BL, D, D);
    zero(m, g->dtqkv, BL * 3 * D);
    be_attention_backward(m->be, g->dtqkv, g->dtqkv + D, g->dtqkv + 2 * D, g->dth, t->att, D, t->lse, t->qkv, 3 * D,
                       t->qkv + D, 3 * D, t->qkv + 2 * D, 3 * D, a->ntok, d.B, d.L, d.L, d.H, d.hd);
    zero(m, g->dth, BL * D);
    be_linear_backward(m->be, g->dth, PG(m, l->qkv.w), PG(m, l->qkv.b), g->dtqkv, t->ln1, PW(m, l->qkv.w), BL, D, 3 * D);
    be_layernorm_backward(m->be, g->dtx, PG(m, l->norm1.w), PG(m, l->norm1.b), g->dth, t->xin, PW(m, l->norm1.w),
                       t->ln1_mean, t->ln1_rstd, BL, D);
  }
  be_embedding_backward(m->be, PG(m, o->tok_emb), PG(m, o->pos_emb), g->dtx, a->tokens, d.B, d.L, d.D);
}

// The table holds the text encoder, x/t/y embeddings, blocks 0..depth-1, final
// layer in that order, so the backward finishes a suffix of it at a time.
static void grad_ready(Model *m, size_t from) {
  if (m->grad_ready && m->layout.tp == 1) m->grad_ready(m->grad_ready_ctx, from);
}

void model_backward(Model *m, const Batch *b) {
  TSR_ASSERT(b->target, "model_backward needs a forward with a target");
  TSR_ASSERT(!m->acts->forward_only, "model_backward with forward-only activations (model_alloc_acts_forward)");
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N;
  zero(m, g->dcsilu, 2 * (size_t)d.B * d.D);
  zero(m, g->dctx, (size_t)d.B * d.L * d.D);
  // g->dout was written by mse_loss in the forward.
  if (d.tp > 1) zero(m, g->dnorm, (size_t)m->cfg.depth * 4 * d.hd);
  final_backward(m);
  grad_ready(m, o->final_adaln.w);
  for (int i = m->cfg.depth - 1; i >= 0; i--) {
    block_backward(m, i);
    grad_ready(m, o->blocks[i].adaln.w);  // a block's parameters lie from its adaLN to the next block's
  }
  // the sharded cross.kv gave each tp rank its heads' part of dctx, and the
  // per-head norm weights their heads' part of the gradient: sum over tp,
  // overlapped with x_embed's gradient (which reads neither) unless blocking
  const int overlap = d.tp > 1 && !m->layout.comm_blocking;
  CommRequest rq[2];
  if (overlap) {
    if (!m->text_frozen) comm_iallreduce(m->layout.tp_group, g->dctx, (size_t)d.B * d.L * d.D, COMM_F32, COMM_SUM, &rq[0]);
    comm_iallreduce(m->layout.tp_group, g->dnorm, (size_t)m->cfg.depth * 4 * d.hd, COMM_F32, COMM_SUM, &rq[1]);
  }
  be_linear_backward(m->be, NULL, PG(m, o->x_embed.w), PG(m, o->x_embed.b), g->dx, a->x, PW(m, o->x_embed.w), (int)M, d.P,
                  d.D);
  if (overlap) {
    if (!m->text_frozen) comm_wait(&rq[0]);
    comm_wait(&rq[1]);
  }
  if (d.tp > 1) {
    if (!overlap && !m->text_frozen) tp_allreduce(m, g->dctx, (size_t)d.B * d.L * d.D);
    if (!overlap) tp_allreduce(m, g->dnorm, (size_t)m->cfg.depth * 4 * d.hd);
    for (int i = 0; i < m->cfg.depth; i++) {
      const BlockOff *w = &m->off->blocks[i];
      const size_t offs[4] = {w->q_norm, w->k_norm, w->cq_norm, w->ck_norm};
      for (int which = 0; which < 4; which++) {
        be_axpy(m->be, PG(m, offs[which]), 1.0f, g->dnorm + ((size_t)i * 4 + which) * d.hd, d.hd);
      }
    }
  }
  conditioning_backward(m);
  grad_ready(m, o->x_embed.w);  // x_embed, t_embed, y_embed: only the text encoder is left
  if (!m->text_frozen) text_encoder_backward(m);
}
