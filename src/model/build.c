// model_build: declares the parameter table (docs/model.md order and names)
// and records each parameter's offset.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"
#include "model/window.h"

// Declares one parameter of 1 or 2 dims whose name is printf-formatted.
static size_t add(ParamTable *t, enum ParamInit init, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static size_t add(ParamTable *t, enum ParamInit init, int ndim, int64_t d0, int64_t d1, const char *fmt, ...) {
  char name[PARAM_NAME_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  int64_t shape[2] = {d0, d1};
  return params_add(t, name, ndim, shape, init);
}

// Linear in -> out under `prefix`: weight [out,in], bias [out].
static LinearOff add_linear(ParamTable *t, const char *prefix, int in, int out, int zero) {
  LinearOff o;
  o.w = add(t, zero ? INIT_ZERO : INIT_XAVIER, 2, out, in, "%s.weight", prefix);
  o.b = add(t, INIT_ZERO, 1, out, 0, "%s.bias", prefix);
  return o;
}

static NormOff add_norm(ParamTable *t, const char *prefix, int D) {
  NormOff o;
  o.w = add(t, INIT_ONE, 1, D, 0, "%s.weight", prefix);
  o.b = add(t, INIT_ZERO, 1, D, 0, "%s.bias", prefix);
  return o;
}

// Megatron sharding of a Linear over tp ranks (docs/model_parallel.md).
// COLUMN: weight and bias split by output rows ([q;k;v] stacks: `parts`
// equal parts, each cut tp ways, so a rank holds whole heads of each part).
// ROW: weight split by input columns; the bias is whole on every rank and
// added once after the all-reduce. tp = 1: a plain Linear.
enum Split { COLUMN, ROW };
static LinearOff add_linear_tp(ParamTable *t, const char *prefix, int in, int out, enum Split split, int parts,
                               ModelLayout lay) {
  if (lay.tp == 1) return add_linear(t, prefix, in, out, 0);
  char name[PARAM_NAME_MAX];
  int64_t wfull[2] = {out, in}, bfull[1] = {out};
  LinearOff o;
  snprintf(name, sizeof name, "%s.weight", prefix);
  o.w = params_add_sharded(t, name, 2, wfull, INIT_XAVIER, split == COLUMN ? 0 : 1, parts, lay.tp, lay.tp_rank);
  snprintf(name, sizeof name, "%s.bias", prefix);
  if (split == COLUMN)
    o.b = params_add_sharded(t, name, 1, bfull, INIT_ZERO, 0, parts, lay.tp, lay.tp_rank);
  else
    o.b = params_add(t, name, 1, bfull, INIT_ZERO);
  return o;
}

int model_layout_check(const ModelConfig *cfg, int tp, int sp, int ring_in, TsrErr *err) {
  const int ring = ring_in > 1 ? ring_in : 1;
  if (ring_in < 0 || sp % ring)
    return tsr_err(err, "parallel.ring=%d: expected a divisor of parallel.sp=%d (sp = Ulysses degree x ring degree)",
                   ring_in, sp);
  const int U = sp / ring;
  if (cfg->heads % (tp * U) && ring == 1)
    return tsr_err(err, "model.heads=%d: parallel.tp=%d x parallel.sp=%d needs the heads to divide by tp*sp=%d "
                   "(each rank attends with heads/(tp*sp) heads; ring attention, parallel.ring > 1, splits none)",
                   cfg->heads, tp, sp, tp * sp);
  if (cfg->heads % (tp * U))
    return tsr_err(err, "model.heads=%d: parallel.tp=%d x Ulysses degree %d (parallel.sp=%d / parallel.ring=%d) needs "
                   "the heads to divide by %d (each rank attends with heads/(tp*sp/ring) heads)",
                   cfg->heads, tp, U, sp, ring, tp * U);
  if (cfg->tokens % sp)
    return tsr_err(err, "parallel.sp=%d does not divide the %d tokens of a clip (%d latent frames of %dx%d patches)", sp,
                   cfg->tokens, cfg->grid_t, cfg->grid_h, cfg->grid_w);
  return 0;
}

// A layout model_layout_check refuses, or groups that do not match it, are
// the caller's mistake here: user input is checked before model_build.
static void check_layout(const ModelConfig *cfg, ModelLayout lay) {
  TSR_ASSERT(lay.tp >= 1 && lay.sp >= 1 && lay.tp_rank >= 0 && lay.tp_rank < lay.tp && lay.sp_rank >= 0 &&
                 lay.sp_rank < lay.sp,
             "layout tp %d (rank %d) sp %d (rank %d)", lay.tp, lay.tp_rank, lay.sp, lay.sp_rank);
  TsrErr err;
  if (model_layout_check(cfg, lay.tp, lay.sp, lay.ring, &err))
    tsr_fatal(__FILE__, __LINE__, "model", "%s (model_layout_check first)", err.msg);
  TSR_ASSERT(lay.tp == 1 || (lay.tp_group && lay.tp_group->size == lay.tp && lay.tp_group->rank == lay.tp_rank),
             "layout tp=%d needs its tp group", lay.tp);
  TSR_ASSERT(lay.sp == 1 || (lay.sp_group && lay.sp_group->size == lay.sp && lay.sp_group->rank == lay.sp_rank),
             "layout sp=%d needs its sp group", lay.sp);
}

// The sp group's Ulysses and ring dimensions (sp_rank = ring_rank*U + ulysses_rank).
static void split_sp(Model *m) {
  const ModelLayout *l = &m->layout;
  const int R = l->ring, U = l->sp / R;
  if (U > 1 && R > 1) {
    comm_group_split(l->sp_group, l->sp_rank / U, l->sp_rank % U, "ulysses", &m->own_groups[0]);
    comm_group_split(l->sp_group, l->sp_rank % U, l->sp_rank / U, "ring", &m->own_groups[1]);
    m->ulysses_group = &m->own_groups[0], m->ring_group = &m->own_groups[1];
  } else {
    m->ulysses_group = U > 1 ? l->sp_group : NULL;
    m->ring_group = R > 1 ? l->sp_group : NULL;
  }
}

void model_build(Model *m, const ModelConfig *cfg, ModelLayout layout, const Backend *be) {
  memset(m, 0, sizeof *m);
  m->be = be;
  check_layout(cfg, layout);
  if (layout.tp == 1) layout.tp_group = NULL;
  if (layout.sp == 1) layout.sp_group = NULL;
  if (layout.ring < 1) layout.ring = 1;
  m->cfg = *cfg;
  m->max_cfg = *cfg;
  m->layout = layout;
  split_sp(m);
  const int D = cfg->dim, Dm = cfg->mlp_ratio * cfg->dim, hd = cfg->head_dim;
  ParamTable *t = &m->params;
  ModelOffsets *o = tsr_calloc(1, sizeof *o);
  m->off = o;
  o->text = tsr_calloc((size_t)cfg->text_layers, sizeof *o->text);
  o->blocks = tsr_calloc((size_t)cfg->depth, sizeof *o->blocks);
  char p[PARAM_NAME_MAX];

  if (cfg->text_minilm) {  // a frozen pretrained encoder outside the model: only its projection learns
    o->text_proj = add_linear(t, "text_proj", cfg->text_width, D, 0);
  } else {
    o->tok_emb = add(t, INIT_NORMAL, 2, cfg->vocab, D, "text.tok_emb.weight");
    o->pos_emb = add(t, INIT_NORMAL, 2, cfg->text_length, D, "text.pos_emb");
  }
  for (int i = 0; i < cfg->text_layers; i++) {
    TextLayerOff *l = &o->text[i];
    snprintf(p, sizeof p, "text.layers.%d.norm1", i); l->norm1 = add_norm(t, p, D);
    snprintf(p, sizeof p, "text.layers.%d.attn.qkv", i); l->qkv = add_linear(t, p, D, 3 * D, 0);
    snprintf(p, sizeof p, "text.layers.%d.attn.proj", i); l->proj = add_linear(t, p, D, D, 0);
    snprintf(p, sizeof p, "text.layers.%d.norm2", i); l->norm2 = add_norm(t, p, D);
    snprintf(p, sizeof p, "text.layers.%d.mlp.fc1", i); l->fc1 = add_linear(t, p, D, Dm, 0);
    snprintf(p, sizeof p, "text.layers.%d.mlp.fc2", i); l->fc2 = add_linear(t, p, Dm, D, 0);
  }
  if (!cfg->text_minilm) o->text_norm = add_norm(t, "text.norm", D);
  o->x_embed = add_linear(t, "x_embed", cfg->patch_dim, D, 0);
  o->t_fc1 = add_linear(t, "t_embed.fc1", cfg->freq_dim, D, 0);
  o->t_fc2 = add_linear(t, "t_embed.fc2", D, D, 0);
  o->y_embed = add_linear(t, "y_embed", D, D, 0);
  for (int i = 0; i < cfg->depth; i++) {
    BlockOff *b = &o->blocks[i];
    snprintf(p, sizeof p, "blocks.%d.adaLN", i); b->adaln = add_linear(t, p, D, 6 * D, 1);
    snprintf(p, sizeof p, "blocks.%d.attn.qkv", i); b->qkv = add_linear_tp(t, p, D, 3 * D, COLUMN, 3, layout);
    // per-head norms: one [hd] weight shared by every head, so whole on each rank
    b->q_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.attn.q_norm.weight", i);
    b->k_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.attn.k_norm.weight", i);
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i); b->proj = add_linear_tp(t, p, D, D, ROW, 1, layout);
    snprintf(p, sizeof p, "blocks.%d.norm2", i); b->norm2 = add_norm(t, p, D);
    snprintf(p, sizeof p, "blocks.%d.cross.q", i); b->cq = add_linear_tp(t, p, D, D, COLUMN, 1, layout);
    snprintf(p, sizeof p, "blocks.%d.cross.kv", i); b->ckv = add_linear_tp(t, p, D, 2 * D, COLUMN, 2, layout);
    b->cq_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.cross.q_norm.weight", i);
    b->ck_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.cross.k_norm.weight", i);
    snprintf(p, sizeof p, "blocks.%d.cross.proj", i); b->cproj = add_linear_tp(t, p, D, D, ROW, 1, layout);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc1", i); b->fc1 = add_linear_tp(t, p, D, Dm, COLUMN, 1, layout);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc2", i); b->fc2 = add_linear_tp(t, p, Dm, D, ROW, 1, layout);
  }
  o->final_adaln = add_linear(t, "final.adaLN", D, 2 * D, 1);
  o->final_linear = add_linear(t, "final.linear", D, cfg->patch_dim, 1);
  t->mem = &be->mem;
  params_alloc(t);
}

int model_grid_t(const ModelConfig *m, int T) { return T == 1 ? 1 : T / m->pt; }

int model_window_check(const ModelConfig *m, int T, int H, int W, int sp, TsrErr *err) {
  if (T < 1 || H < 1 || W < 1)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): expected positive sizes", T, H, W);
  if ((T % m->pt && T != 1) || H % m->ph || W % m->pw)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): not divisible by the model's patch %dx%dx%d", T, H,
                   W, m->pt, m->ph, m->pw);
  if (T > m->frames || H > m->height || W > m->width)
    return tsr_err(err, "shape %dx%dx%d (frames x height x width): larger than the model's maximum %dx%dx%d", T, H, W,
                   m->frames, m->height, m->width);
  const long long n = (long long)model_grid_t(m, T) * (H / m->ph) * (W / m->pw);
  if (sp > 1 && n % sp)
    return tsr_err(err, "shape %dx%dx%d: its %lld tokens do not divide over sequence parallel size %d", T, H, W, n, sp);
  return 0;
}

int model_config_at(const ModelConfig *max, int T, int H, int W, ModelConfig *out, TsrErr *err) {
  if (model_window_check(max, T, H, W, 1, err)) return -1;
  ModelConfig c = *max;
  c.frames = T == 1 ? c.pt : T, c.height = H, c.width = W;  // an image: one still temporal patch (window.h)
  c.grid_t = model_grid_t(max, T), c.grid_h = H / c.ph, c.grid_w = W / c.pw;
  c.tokens = c.grid_t * c.grid_h * c.grid_w;
  *out = c;
  return 0;
}

int model_set_window(Model *m, int T, int H, int W, TsrErr *err) {
  ModelConfig at;
  if (model_window_check(&m->max_cfg, T, H, W, m->layout.sp, err) || model_config_at(&m->max_cfg, T, H, W, &at, err))
    return -1;
  m->cfg = at;
  return 0;
}

int model_grid_check(const Model *m, int gt, int gh, int gw, TsrErr *err) {
  const ModelConfig *c = &m->max_cfg;
  if (gt < 1 || gh < 1 || gw < 1 || gt > c->grid_t || gh > c->grid_h || gw > c->grid_w)
    return tsr_err(err, "token grid %dx%dx%d: expected 1..%d x 1..%d x 1..%d (the model's maximum %dx%dx%d)", gt, gh, gw,
                   c->grid_t, c->grid_h, c->grid_w, c->frames, c->height, c->width);
  const int n = gt * gh * gw;
  if (n % m->layout.sp)
    return tsr_err(err, "token grid %dx%dx%d: its %d tokens do not divide over sequence parallel size %d", gt, gh, gw, n,
                   m->layout.sp);
  return 0;
}

Dims model_dims(const Model *m, int B, int gt, int gh, int gw) {
  const ModelConfig *c = &m->cfg;
  Dims d = {0};
  if (gt == 0 && gh == 0 && gw == 0) gt = c->grid_t, gh = c->grid_h, gw = c->grid_w;
  TsrErr err;
  if (model_grid_check(m, gt, gh, gw, &err)) tsr_fatal(__FILE__, __LINE__, "model", "%s", err.msg);
  d.B = B;
  d.tp = m->layout.tp;
  d.sp = m->layout.sp;
  d.Nf = gt * gh * gw;
  d.N = d.Nf / d.sp;
  d.P = c->patch_dim;
  d.D = c->dim;
  d.H = c->heads;
  d.hd = c->head_dim;
  d.L = c->text_length;
  d.F = c->freq_dim;
  d.Dm = c->mlp_ratio * c->dim;
  d.Ht = d.H / d.tp;
  d.Dt = d.Ht * d.hd;
  d.Dmt = d.Dm / d.tp;
  d.R = m->layout.ring > 1 ? m->layout.ring : 1;
  d.U = d.sp / d.R;
  d.Nu = d.N * d.U;
  d.Ha = d.Ht / d.U;
  d.gt = gt;
  d.gh = gh;
  d.gw = gw;
  d.n0 = m->layout.sp_rank * d.N;
  return d;
}

void model_freeze_text(Model *m) {
  if (m->cfg.text_minilm) return;  // the pretrained encoder is frozen by construction; text_proj learns
  for (int i = 0; i < m->params.count; i++)
    if (!strncmp(m->params.items[i].name, "text.", 5)) m->params.items[i].frozen = 1;
  m->text_frozen = 1;
}

void model_set_recompute(Model *m, ModelRecompute r) {
  TSR_ASSERT(!m->acts, "model_set_recompute after the activations were allocated");
  m->recompute = r;
}

void model_free(Model *m) {
  for (int i = 0; i < 2; i++)
    if (m->ulysses_group == &m->own_groups[i] || m->ring_group == &m->own_groups[i]) comm_group_free(&m->own_groups[i]);
  if (m->off) {
    tsr_free(m->off->text);
    tsr_free(m->off->blocks);
    tsr_free(m->off);
  }
  if (m->acts) {
    HostBatch *h = &m->acts->host;
    tsr_free(h->sel), tsr_free(h->lossw), tsr_free(h->ntok), tsr_free(h->tvec);
    tsr_free(m->acts->text);
    tsr_free(m->acts->blocks);
    tsr_free(m->acts);
  }
  arena_free(&m->arena);
  params_free(&m->params);
}
