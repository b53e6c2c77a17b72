// Backward pass of the model: gradients of the last forward's loss,
// accumulated into m->params.grad. Mirrors forward.c step by step, in reverse.
// Gradient scratch (a->gs) is zeroed before each use because every backward
// op accumulates.
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"
#include "model/model_internal.h"

static void zero(float *x, size_t n) { memset(x, 0, n * sizeof(float)); }

// dx holds d loss / d (block output) on entry and d loss / d (block input) on exit.
static void block_backward(Model *m, int i) {
  ModelActs *a = m->acts;
  BlockActs *k = &a->blocks[i];
  const BlockOff *w = &m->off->blocks[i];
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N, BL = (size_t)d.B * d.L, D = (size_t)d.D, Dm = (size_t)d.Dm;
  const int S = 6 * d.D;
  const uint8_t *sel = a->sel;
  const float *scale1 = k->mod + D, *gate1 = k->mod + 2 * D, *scale2 = k->mod + 4 * D, *gate2 = k->mod + 5 * D;
  float *dmod = g->dmod;
  zero(dmod, 2 * (size_t)d.B * S);

  // 3. MLP: out = x2 + gate2 * fc2(gelu(fc1(modulate(LN(x2)))))
  zero(g->dh, M * D);
  gate_residual_backward(g->dh, dmod + 5 * D, g->dx, k->f2, gate2, sel, S, d.B, d.N, d.D);
  zero(g->dm1, M * Dm);
  linear_backward(g->dm1, PG(m, w->fc2.w), PG(m, w->fc2.b), g->dh, k->g, PW(m, w->fc2.w), M, Dm, D);
  zero(g->dm2, M * Dm);
  gelu_backward(g->dm2, g->dm1, k->f1, (int64_t)(M * Dm));
  zero(g->dh, M * D);
  linear_backward(g->dh, PG(m, w->fc1.w), PG(m, w->fc1.b), g->dm2, k->h3, PW(m, w->fc1.w), M, D, Dm);
  zero(g->dh2, M * D);
  modulate_backward(g->dh2, dmod + 3 * D, dmod + 4 * D, g->dh, k->ln3n, scale2, sel, S, d.B, d.N, d.D);
  layernorm_backward(g->dx, NULL, NULL, g->dh2, k->x2, NULL, k->ln3_mean, k->ln3_rstd, M, D);

  // 2. cross-attention: x2 = x1 + cproj(attn(cq_norm(cq(LN(x1))), ck_norm(ckv(ctx))))
  zero(g->datt, M * D);
  linear_backward(g->datt, PG(m, w->cproj.w), PG(m, w->cproj.b), g->dx, k->catt, PW(m, w->cproj.w), M, D, D);
  zero(g->dq, M * D);
  zero(g->dckn, BL * D);
  zero(g->dckv, BL * 2 * D);
  attention_backward(g->dq, g->dckn, g->dckv + D, g->datt, k->catt, D, k->clse, k->cqn, D, k->ckn, D,
                     k->ckv + D, 2 * D, a->ntok, d.B, d.N, d.L, d.H, d.hd);
  rmsnorm_backward(g->dckv, 2 * D, PG(m, w->ck_norm), g->dckn, D, k->ckv, 2 * D, PW(m, w->ck_norm), k->ck_rstd,
                   BL, d.H, d.hd);
  linear_backward(g->dctx, PG(m, w->ckv.w), PG(m, w->ckv.b), g->dckv, a->ctx, PW(m, w->ckv.w), BL, D, 2 * D);
  zero(g->dh, M * D);
  rmsnorm_backward(g->dh, D, PG(m, w->cq_norm), g->dq, D, k->cq, D, PW(m, w->cq_norm), k->cq_rstd, M, d.H, d.hd);
  zero(g->dh2, M * D);
  linear_backward(g->dh2, PG(m, w->cq.w), PG(m, w->cq.b), g->dh, k->ln2, PW(m, w->cq.w), M, D, D);
  layernorm_backward(g->dx, PG(m, w->norm2.w), PG(m, w->norm2.b), g->dh2, k->x1, PW(m, w->norm2.w), k->ln2_mean,
                     k->ln2_rstd, M, D);

  // 1. self-attention: x1 = xin + gate1 * proj(attn(rope(qnorm(q)), rope(knorm(k)), v))
  zero(g->dh, M * D);
  gate_residual_backward(g->dh, dmod + 2 * D, g->dx, k->pa, gate1, sel, S, d.B, d.N, d.D);
  zero(g->datt, M * D);
  linear_backward(g->datt, PG(m, w->proj.w), PG(m, w->proj.b), g->dh, k->att, PW(m, w->proj.w), M, D, D);
  zero(g->dq, M * D);
  zero(g->dk, M * D);
  zero(g->dqkv, M * 3 * D);
  attention_backward(g->dq, g->dk, g->dqkv + 2 * D, g->datt, k->att, D, k->lse, k->q, D, k->k, D, k->qkv + 2 * D,
                     3 * D, NULL, d.B, d.N, d.N, d.H, d.hd);
  rope3d_backward(g->dq, D, a->rope_cos, a->rope_sin, d.B, d.N, d.H, d.hd);
  rope3d_backward(g->dk, D, a->rope_cos, a->rope_sin, d.B, d.N, d.H, d.hd);
  rmsnorm_backward(g->dqkv, 3 * D, PG(m, w->q_norm), g->dq, D, k->qkv, 3 * D, PW(m, w->q_norm), k->q_rstd, M, d.H,
                   d.hd);
  rmsnorm_backward(g->dqkv + D, 3 * D, PG(m, w->k_norm), g->dk, D, k->qkv + D, 3 * D, PW(m, w->k_norm), k->k_rstd,
                   M, d.H, d.hd);
  zero(g->dh, M * D);
  linear_backward(g->dh, PG(m, w->qkv.w), PG(m, w->qkv.b), g->dqkv, k->h1, PW(m, w->qkv.w), M, D, 3 * D);
  zero(g->dh2, M * D);
  modulate_backward(g->dh2, dmod, dmod + D, g->dh, k->ln1n, scale1, sel, S, d.B, d.N, d.D);
  layernorm_backward(g->dx, NULL, NULL, g->dh2, k->xin, NULL, k->ln1_mean, k->ln1_rstd, M, D);

  // adaLN: mod = adaLN(csilu)
  linear_backward(g->dcsilu, PG(m, w->adaln.w), PG(m, w->adaln.b), dmod, a->csilu, PW(m, w->adaln.w), 2 * d.B, D,
                  6 * D);
}

static void final_backward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N, D = (size_t)d.D;
  float *dfmod = g->dmod;  // [B,2,2D] fits in the block modulation scratch
  zero(dfmod, 2 * (size_t)d.B * 2 * D);
  zero(g->dh, M * D);
  linear_backward(g->dh, PG(m, o->final_linear.w), PG(m, o->final_linear.b), g->dout, a->hf,
                  PW(m, o->final_linear.w), M, D, d.P);
  zero(g->dh2, M * D);
  modulate_backward(g->dh2, dfmod, dfmod + D, g->dh, a->lnfn, a->fmod + D, a->sel, 2 * d.D, d.B, d.N, d.D);
  zero(g->dx, M * D);
  layernorm_backward(g->dx, NULL, NULL, g->dh2, a->xf, NULL, a->lnf_mean, a->lnf_rstd, M, D);
  linear_backward(g->dcsilu, PG(m, o->final_adaln.w), PG(m, o->final_adaln.b), dfmod, a->csilu,
                  PW(m, o->final_adaln.w), 2 * d.B, D, 2 * D);
}

// c = t_embed(t_v) + y_embed(ybar); csilu = SiLU(c). Adds into dctx through ybar.
static void conditioning_backward(Model *m) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const int D = d.D, B2 = 2 * d.B;
  zero(g->dc, (size_t)B2 * D);
  silu_backward(g->dc, g->dcsilu, a->c, (int64_t)B2 * D);
  zero(g->dtemb_h, (size_t)B2 * D);
  linear_backward(g->dtemb_h, PG(m, o->t_fc2.w), PG(m, o->t_fc2.b), g->dc, a->ths, PW(m, o->t_fc2.w), B2, D, D);
  zero(g->dtemb_h2, (size_t)B2 * D);
  silu_backward(g->dtemb_h2, g->dtemb_h, a->th, (int64_t)B2 * D);
  linear_backward(NULL, PG(m, o->t_fc1.w), PG(m, o->t_fc1.b), g->dtemb_h2, a->tsin, PW(m, o->t_fc1.w), B2, d.F, D);
  for (int s = 0; s < d.B; s++)
    for (int i = 0; i < D; i++) g->dyemb[s * D + i] = g->dc[(2 * s) * D + i] + g->dc[(2 * s + 1) * D + i];
  zero(g->dybar, (size_t)d.B * D);
  linear_backward(g->dybar, PG(m, o->y_embed.w), PG(m, o->y_embed.b), g->dyemb, a->ybar, PW(m, o->y_embed.w), d.B,
                  D, D);
  masked_mean_backward(g->dctx, g->dybar, a->ntok, d.B, d.L, D);
}

static void text_encoder_backward(Model *m, const Batch *b) {
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t BL = (size_t)d.B * d.L, D = (size_t)d.D, Dm = (size_t)d.Dm;
  zero(g->dtx, BL * D);
  layernorm_backward(g->dtx, PG(m, o->text_norm.w), PG(m, o->text_norm.b), g->dctx, a->tx_final,
                     PW(m, o->text_norm.w), a->ctx_mean, a->ctx_rstd, BL, D);
  for (int i = m->cfg.text_layers - 1; i >= 0; i--) {
    TextActs *t = &a->text[i];
    const TextLayerOff *l = &o->text[i];
    zero(g->dtm1, BL * Dm);
    linear_backward(g->dtm1, PG(m, l->fc2.w), PG(m, l->fc2.b), g->dtx, t->g, PW(m, l->fc2.w), BL, Dm, D);
    zero(g->dtm2, BL * Dm);
    gelu_backward(g->dtm2, g->dtm1, t->f1, (int64_t)(BL * Dm));
    zero(g->dth, BL * D);
    linear_backward(g->dth, PG(m, l->fc1.w), PG(m, l->fc1.b), g->dtm2, t->ln2, PW(m, l->fc1.w), BL, D, Dm);
    layernorm_backward(g->dtx, PG(m, l->norm2.w), PG(m, l->norm2.b), g->dth, t->xmid, PW(m, l->norm2.w),
                       t->ln2_mean, t->ln2_rstd, BL, D);
    zero(g->dth, BL * D);
    linear_backward(g->dth, PG(m, l->proj.w), PG(m, l->proj.b), g->dtx, t->att, PW(m, l->proj.w), BL, D, D);
    zero(g->dtqkv, BL * 3 * D);
    attention_backward(g->dtqkv, g->dtqkv + D, g->dtqkv + 2 * D, g->dth, t->att, D, t->lse, t->qkv, 3 * D,
                       t->qkv + D, 3 * D, t->qkv + 2 * D, 3 * D, a->ntok, d.B, d.L, d.L, d.H, d.hd);
    zero(g->dth, BL * D);
    linear_backward(g->dth, PG(m, l->qkv.w), PG(m, l->qkv.b), g->dtqkv, t->ln1, PW(m, l->qkv.w), BL, D, 3 * D);
    layernorm_backward(g->dtx, PG(m, l->norm1.w), PG(m, l->norm1.b), g->dth, t->xin, PW(m, l->norm1.w),
                       t->ln1_mean, t->ln1_rstd, BL, D);
  }
  embedding_backward(PG(m, o->tok_emb), PG(m, o->pos_emb), g->dtx, b->tokens, d.B, d.L, d.D);
}

void model_backward(Model *m, const Batch *b) {
  TSR_ASSERT(b->target, "model_backward needs a forward with a target");
  ModelActs *a = m->acts;
  const ModelOffsets *o = m->off;
  GradScratch *g = &a->gs;
  const Dims d = a->d;
  const size_t M = (size_t)d.B * d.N;
  zero(g->dcsilu, 2 * (size_t)d.B * d.D);
  zero(g->dctx, (size_t)d.B * d.L * d.D);
  // g->dout was written by mse_loss in the forward.
  final_backward(m);
  for (int i = m->cfg.depth - 1; i >= 0; i--) block_backward(m, i);
  linear_backward(NULL, PG(m, o->x_embed.w), PG(m, o->x_embed.b), g->dx, b->x, PW(m, o->x_embed.w), (int)M, d.P,
                  d.D);
  conditioning_backward(m);
  text_encoder_backward(m, b);
}
