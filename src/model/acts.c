// Activation layout: every buffer the forward keeps for backward, plus the
// backward's gradient scratch, carved from one arena. Called twice: once on a
// measuring arena (to size it) and once on the real one. Forward-only
// (sampling): the blocks share one block's buffers, the stream ping-pongs
// between two, and there is no gradient scratch. train.recompute: block —
// the blocks share block 0's buffers as in forward-only, each keeping only its
// input; attention — they share only the self-attention's q, k, output, lse
// (and Ulysses' head-parallel copies), recomputed in the backward.
// Sequence parallel adds no scratch of its own where it fits: the all-to-all
// and ring buffers live only inside one self-attention, and in training sit
// in the pool of dh, dh2, dm1, dm2 (free then); the head-layout gradients in
// datt and dqkv. Only the head-layout v and attention output (vh, atth) are
// kept per block, for the attention backward.
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

static size_t align16(size_t n) { return (n + 15) / 16 * 16; }  // 64-byte offsets inside one region

// The sequence-parallel scratch, X = M*Dt floats a tensor (one of q, k, v of
// this rank's heads, token or head layout; one ring K or V block): Ulysses'
// all-to-all send and receive buffers [2X] at sp; the ring's K/V blocks in
// flight [2][2X] at ring, then the forward's block output [X] and lse
// [M*Ht], or the backward's dK/dV partial sums [2][2X] and the one arriving
// [2X]. The all-to-alls and the ring never run at once.
static size_t ring_floats(Dims d, size_t M, int backward) {
  const size_t X = align16(M * (size_t)d.Dt), lse = align16(M * (size_t)d.Ht);
  return d.R == 1 ? 0 : backward ? 10 * X : 5 * X + lse;
}

static void layout_sp_scratch(GradScratch *g, float *sp, float *ring, Dims d, size_t M, int backward) {
  const size_t X = align16(M * (size_t)d.Dt);
  if (d.U > 1 && sp) {
    g->sp_send = sp;
    g->sp_recv = sp + X;
  }
  if (d.R > 1 && ring) {
    g->ring_kv[0] = ring;
    g->ring_kv[1] = ring + 2 * X;
    g->ring_o = ring + 4 * X;  // forward
    g->ring_lse = ring + 5 * X;
    if (backward) {
      g->ring_dkv[0] = ring + 4 * X;
      g->ring_dkv[1] = ring + 6 * X;
      g->ring_dkv_in = ring + 8 * X;
    }
  }
}

void model_layout_acts(ModelActs *a, Arena *ar, const ModelConfig *c, Dims d, size_t M, int forward_only,
                       ModelRecompute recompute) {
  const size_t B = (size_t)d.B, N = (size_t)d.N, D = (size_t)d.D, Dm = (size_t)d.Dm;
  const size_t L = (size_t)d.L, BL = B * L, H = (size_t)d.H, P = (size_t)d.P, F = (size_t)d.F;
  // this rank's shard of the video blocks: heads and MLP hidden (tp), tokens (sp)
  const size_t Ht = (size_t)d.Ht, Dt = (size_t)d.Dt, Dmt = (size_t)d.Dmt;
  const int ulysses = d.U > 1, ring = d.R > 1;
  const int share_block = forward_only || recompute == MODEL_RECOMPUTE_BLOCK;
  const int share_attn = !share_block && recompute == MODEL_RECOMPUTE_ATTENTION;
  TextActs *text = a->text;
  BlockActs *blocks = a->blocks;
  HostBatch host = a->host;
  memset(a, 0, sizeof *a);
  a->text = text;
  a->blocks = blocks;
  a->host = host;
  a->d = d;
  a->forward_only = forward_only;
  a->x = arena_floats(ar, M * P);
  a->target = forward_only ? NULL : arena_floats(ar, M * P);
  a->tokens = arena_bytes(ar, BL * sizeof(int32_t));
  a->text_states = c->text_minilm ? arena_floats(ar, BL * (size_t)c->text_width) : NULL;
  a->tvec = arena_floats(ar, 2 * B);
  a->loss = arena_floats(ar, 1);
  a->sel = arena_bytes(ar, M);
  a->lossw = arena_floats(ar, M);
  a->ntok = arena_bytes(ar, B * sizeof(int));
  a->rope_cos = arena_floats(ar, N * (size_t)d.hd / 2);
  a->rope_sin = arena_floats(ar, N * (size_t)d.hd / 2);

  a->temb_in = arena_floats(ar, BL * D);
  for (int i = 0; i < c->text_layers; i++) {
    TextActs *t = &text[i];
    t->xin = arena_floats(ar, BL * D);
    t->ln1 = arena_floats(ar, BL * D);
    t->ln1_mean = arena_floats(ar, BL);
    t->ln1_rstd = arena_floats(ar, BL);
    t->qkv = arena_floats(ar, BL * 3 * D);
    t->att = arena_floats(ar, BL * D);
    t->lse = arena_floats(ar, B * H * L);
    t->xmid = arena_floats(ar, BL * D);
    t->ln2 = arena_floats(ar, BL * D);
    t->ln2_mean = arena_floats(ar, BL);
    t->ln2_rstd = arena_floats(ar, BL);
    t->f1 = arena_floats(ar, BL * Dm);
    t->g = arena_floats(ar, BL * Dm);
  }
  a->tx_final = arena_floats(ar, BL * D);
  a->ctx = arena_floats(ar, BL * D);
  a->ctx_mean = arena_floats(ar, BL);
  a->ctx_rstd = arena_floats(ar, BL);

  a->ybar = arena_floats(ar, B * D);
  a->yemb = arena_floats(ar, B * D);
  a->tsin = arena_floats(ar, 2 * B * F);
  a->th = arena_floats(ar, 2 * B * D);
  a->ths = arena_floats(ar, 2 * B * D);
  a->temb = arena_floats(ar, 2 * B * D);
  a->c = arena_floats(ar, 2 * B * D);
  a->csilu = arena_floats(ar, 2 * B * D);

  a->xemb = arena_floats(ar, M * D);
  for (int i = 0; i < c->depth; i++) {
    BlockActs *k = &blocks[i];
    if (share_block && i > 0) {  // nothing is kept for a backward: reuse block 0's buffers
      *k = blocks[0];
      continue;
    }
    const BlockActs *b0 = &blocks[0];
    const int own_attn = !(share_attn && i > 0);  // attention recompute: block 0's attention buffers
    k->ln1n = arena_floats(ar, M * D);
    k->ln1_mean = arena_floats(ar, M);
    k->ln1_rstd = arena_floats(ar, M);
    k->h1 = arena_floats(ar, M * D);
    k->qkv = arena_floats(ar, M * 3 * Dt);
    // q, k: [M,Dt] token-parallel, or head-parallel [B,Nu,Ha*hd] under Ulysses (same size)
    k->q = own_attn ? arena_floats(ar, M * Dt) : b0->q;
    k->k = own_attn ? arena_floats(ar, M * Dt) : b0->k;
    k->q_rstd = own_attn ? arena_floats(ar, M * Ht) : b0->q_rstd;
    k->k_rstd = own_attn ? arena_floats(ar, M * Ht) : b0->k_rstd;
    if (ulysses) {
      k->vh = own_attn ? arena_floats(ar, M * Dt) : b0->vh;
      k->atth = own_attn ? arena_floats(ar, M * Dt) : b0->atth;
    }
    k->att = own_attn ? arena_floats(ar, M * Dt) : b0->att;
    k->lse = own_attn ? arena_floats(ar, M * Ht) : b0->lse;  // B*Ht*N == B*Ha*Nu
    k->pa = arena_floats(ar, M * D);
    k->x1 = arena_floats(ar, M * D);
    k->ln2 = arena_floats(ar, M * D);
    k->ln2_mean = arena_floats(ar, M);
    k->ln2_rstd = arena_floats(ar, M);
    k->cq = arena_floats(ar, M * Dt);
    k->cqn = arena_floats(ar, M * Dt);
    k->cq_rstd = arena_floats(ar, M * Ht);
    k->ckv = arena_floats(ar, BL * 2 * Dt);
    k->ckn = arena_floats(ar, BL * Dt);
    k->ck_rstd = arena_floats(ar, BL * Ht);
    k->catt = arena_floats(ar, M * Dt);
    k->clse = arena_floats(ar, M * Ht);
    k->x2 = arena_floats(ar, M * D);
    k->ln3n = arena_floats(ar, M * D);
    k->ln3_mean = arena_floats(ar, M);
    k->ln3_rstd = arena_floats(ar, M);
    k->h3 = arena_floats(ar, M * D);
    k->f1 = arena_floats(ar, M * Dmt);
    k->g = arena_floats(ar, M * Dmt);
    k->f2 = arena_floats(ar, M * D);
    k->mod = arena_floats(ar, 2 * B * 6 * D);
  }
  // Each block's input is a stream buffer of its own (the previous block's
  // output after the MLP residual), so backward can still read it.
  // Forward-only: two buffers, block i reading one and writing the other.
  float *alt = forward_only && c->depth > 1 ? arena_floats(ar, M * D) : NULL;
  for (int i = 0; i < c->depth; i++)
    blocks[i].xin = i == 0 ? a->xemb : forward_only ? (i % 2 ? alt : a->xemb) : arena_floats(ar, M * D);
  a->xf = arena_floats(ar, M * D);
  a->lnfn = arena_floats(ar, M * D);
  a->lnf_mean = arena_floats(ar, M);
  a->lnf_rstd = arena_floats(ar, M);
  a->hf = arena_floats(ar, M * D);
  a->fmod = arena_floats(ar, 2 * B * 2 * D);
  a->out = arena_floats(ar, M * P);

  GradScratch *g = &a->gs;
  g->dout = arena_floats(ar, M * P);  // the loss writes d loss / d out in the forward
  const size_t X = align16(M * Dt);
  if (forward_only) {  // the all-to-all and ring buffers, never live at once: one region
    const size_t ring_n = ring_floats(d, M, 0);
    float *r = ulysses || ring ? arena_floats(ar, ring_n > 2 * X ? ring_n : 2 * X) : NULL;
    layout_sp_scratch(g, r, r, d, M, 0);
    return;
  }
  g->dx = arena_floats(ar, M * D);
  // dh, dh2, dm1, dm2 in one pool, which also holds the sequence-parallel
  // scratch: that lives only inside one self-attention (forward, its
  // recomputation, or backward), while these are free. The all-to-all buffers
  // start past dh (the backward's proj weight gradient reads dh while datt's
  // all-to-all is in flight); the ring starts at 0 (it runs once dh is spent).
  const size_t mlp = align16(M * Dmt), res = align16(M * D);
  size_t pool_n = 2 * res + 2 * mlp;
  if (ulysses && res + 2 * X > pool_n) pool_n = res + 2 * X;
  if (ring_floats(d, M, 1) > pool_n) pool_n = ring_floats(d, M, 1);
  float *pool = arena_floats(ar, pool_n);
  g->dh = pool;
  g->dh2 = pool ? pool + res : NULL;
  g->dm1 = pool ? pool + 2 * res : NULL;
  g->dm2 = pool ? pool + 2 * res + mlp : NULL;
  layout_sp_scratch(g, pool ? pool + res : NULL, pool, d, M, 1);
  g->dqkv = arena_floats(ar, M * 3 * Dt);
  g->dq = arena_floats(ar, M * Dt);
  g->dk = arena_floats(ar, M * Dt);
  g->datt = arena_floats(ar, M * Dt);
  g->dckv = arena_floats(ar, BL * 2 * Dt);
  g->dckn = arena_floats(ar, BL * Dt);
  g->dctx = arena_floats(ar, BL * D);
  g->dmod = arena_floats(ar, 2 * B * 6 * D);
  g->dcsilu = arena_floats(ar, 2 * B * D);
  g->dc = arena_floats(ar, 2 * B * D);
  g->dtemb_h = arena_floats(ar, 2 * B * D);
  g->dtemb_h2 = arena_floats(ar, 2 * B * D);
  g->dyemb = arena_floats(ar, B * D);
  g->dybar = arena_floats(ar, B * D);
  g->dtx = arena_floats(ar, BL * D);
  g->dth = arena_floats(ar, BL * D);
  g->dtqkv = arena_floats(ar, BL * 3 * D);
  g->dtm1 = arena_floats(ar, BL * Dm);
  g->dtm2 = arena_floats(ar, BL * Dm);
  if (d.tp > 1) g->dnorm = arena_floats(ar, (size_t)c->depth * 4 * (size_t)d.hd);
  // Ulysses: datt (token layout) is dead once its all-to-all has packed it,
  // the head layout arrives in the same buffer; dqkv is not written before
  // the head-layout gradients have gone back to the token layout, so holds
  // them until then (self_attention_backward in backward.c)
  if (ulysses) {
    g->datth = g->datt;
    g->dqkvh = g->dqkv;
  }
}

void model_alloc_acts_tokens(Model *m, int max_batch, int64_t max_tokens, int forward_only) {
  TSR_ASSERT(max_batch >= 1, "max_batch %d", max_batch);
  const ModelConfig *mx = &m->max_cfg;  // capacity for the largest clip the model can run
  Dims d = model_dims(m, max_batch, mx->grid_t, mx->grid_h, mx->grid_w);
  const int64_t full = (int64_t)max_batch * d.Nf;
  TSR_ASSERT(max_tokens >= d.sp && max_tokens <= full && max_tokens % d.sp == 0,
             "max_tokens %lld: expected a multiple of sp %d in [sp, %lld]", (long long)max_tokens, d.sp, (long long)full);
  m->max_batch = max_batch;
  m->max_tokens = max_tokens;
  ModelActs *a = tsr_calloc(1, sizeof *a);
  a->text = tsr_calloc((size_t)m->cfg.text_layers, sizeof *a->text);
  a->blocks = tsr_calloc((size_t)m->cfg.depth, sizeof *a->blocks);
  const size_t M = (size_t)(max_tokens / d.sp);
  a->host = (HostBatch){.sel = tsr_calloc(M, 1), .lossw = tsr_calloc(M, sizeof(float)),
                        .ntok = tsr_calloc((size_t)d.B, sizeof(int)), .tvec = tsr_calloc(2 * (size_t)d.B, sizeof(float))};
  Arena measure;
  arena_measure(&measure);
  model_layout_acts(a, &measure, &m->cfg, d, M, forward_only, m->recompute);
  arena_init(&m->arena, &m->be->mem, measure.peak);
  model_layout_acts(a, &m->arena, &m->cfg, d, M, forward_only, m->recompute);
  m->acts = a;
}

void model_alloc_acts(Model *m, int max_batch) {
  model_alloc_acts_tokens(m, max_batch, (int64_t)max_batch * m->max_cfg.tokens, 0);
}
void model_alloc_acts_forward(Model *m, int max_batch) {
  model_alloc_acts_tokens(m, max_batch, (int64_t)max_batch * m->max_cfg.tokens, 1);
}
