// model_build: declares the parameter table (docs/model.md order and names)
// and records each parameter's offset.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "model/model_internal.h"

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

void model_build(Model *m, const ModelConfig *cfg, ModelLayout layout) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  m->layout = layout;
  // The layout is carried from the start; sharded execution arrives with the
  // model-parallel work, so refuse it here rather than compute something else.
  if (layout.tp != 1 || layout.sp != 1)
    tsr_user_error("parallel.tp=%d parallel.sp=%d: this build runs tp=1 sp=1 only", layout.tp, layout.sp);
  const int D = cfg->dim, Dm = cfg->mlp_ratio * cfg->dim, hd = cfg->head_dim;
  ParamTable *t = &m->params;
  ModelOffsets *o = tsr_calloc(1, sizeof *o);
  m->off = o;
  o->text = tsr_calloc((size_t)cfg->text_layers, sizeof *o->text);
  o->blocks = tsr_calloc((size_t)cfg->depth, sizeof *o->blocks);
  char p[PARAM_NAME_MAX];

  o->tok_emb = add(t, INIT_NORMAL, 2, cfg->vocab, D, "text.tok_emb.weight");
  o->pos_emb = add(t, INIT_NORMAL, 2, cfg->text_length, D, "text.pos_emb");
  for (int i = 0; i < cfg->text_layers; i++) {
    TextLayerOff *l = &o->text[i];
    snprintf(p, sizeof p, "text.layers.%d.norm1", i); l->norm1 = add_norm(t, p, D);
    snprintf(p, sizeof p, "text.layers.%d.attn.qkv", i); l->qkv = add_linear(t, p, D, 3 * D, 0);
    snprintf(p, sizeof p, "text.layers.%d.attn.proj", i); l->proj = add_linear(t, p, D, D, 0);
    snprintf(p, sizeof p, "text.layers.%d.norm2", i); l->norm2 = add_norm(t, p, D);
    snprintf(p, sizeof p, "text.layers.%d.mlp.fc1", i); l->fc1 = add_linear(t, p, D, Dm, 0);
    snprintf(p, sizeof p, "text.layers.%d.mlp.fc2", i); l->fc2 = add_linear(t, p, Dm, D, 0);
  }
  o->text_norm = add_norm(t, "text.norm", D);
  o->x_embed = add_linear(t, "x_embed", cfg->patch_dim, D, 0);
  o->t_fc1 = add_linear(t, "t_embed.fc1", cfg->freq_dim, D, 0);
  o->t_fc2 = add_linear(t, "t_embed.fc2", D, D, 0);
  o->y_embed = add_linear(t, "y_embed", D, D, 0);
  for (int i = 0; i < cfg->depth; i++) {
    BlockOff *b = &o->blocks[i];
    snprintf(p, sizeof p, "blocks.%d.adaLN", i); b->adaln = add_linear(t, p, D, 6 * D, 1);
    snprintf(p, sizeof p, "blocks.%d.attn.qkv", i); b->qkv = add_linear(t, p, D, 3 * D, 0);
    b->q_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.attn.q_norm.weight", i);
    b->k_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.attn.k_norm.weight", i);
    snprintf(p, sizeof p, "blocks.%d.attn.proj", i); b->proj = add_linear(t, p, D, D, 0);
    snprintf(p, sizeof p, "blocks.%d.norm2", i); b->norm2 = add_norm(t, p, D);
    snprintf(p, sizeof p, "blocks.%d.cross.q", i); b->cq = add_linear(t, p, D, D, 0);
    snprintf(p, sizeof p, "blocks.%d.cross.kv", i); b->ckv = add_linear(t, p, D, 2 * D, 0);
    b->cq_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.cross.q_norm.weight", i);
    b->ck_norm = add(t, INIT_ONE, 1, hd, 0, "blocks.%d.cross.k_norm.weight", i);
    snprintf(p, sizeof p, "blocks.%d.cross.proj", i); b->cproj = add_linear(t, p, D, D, 0);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc1", i); b->fc1 = add_linear(t, p, D, Dm, 0);
    snprintf(p, sizeof p, "blocks.%d.mlp.fc2", i); b->fc2 = add_linear(t, p, Dm, D, 0);
  }
  o->final_adaln = add_linear(t, "final.adaLN", D, 2 * D, 1);
  o->final_linear = add_linear(t, "final.linear", D, cfg->patch_dim, 1);
  params_alloc(t);
}

Dims model_dims(const Model *m, int B) {
  const ModelConfig *c = &m->cfg;
  Dims d = {0};
  d.B = B;
  d.N = c->tokens / m->layout.sp;
  d.P = c->patch_dim;
  d.D = c->dim;
  d.H = c->heads;
  d.hd = c->head_dim;
  d.L = c->text_length;
  d.F = c->freq_dim;
  d.Dm = c->mlp_ratio * c->dim;
  d.gt = c->grid_t;
  d.gh = c->grid_h;
  d.gw = c->grid_w;
  d.n0 = m->layout.sp_rank * d.N;
  return d;
}

void model_free(Model *m) {
  if (m->off) {
    tsr_free(m->off->text);
    tsr_free(m->off->blocks);
    tsr_free(m->off);
  }
  if (m->acts) {
    tsr_free(m->acts->text);
    tsr_free(m->acts->blocks);
    tsr_free(m->acts);
  }
  arena_free(&m->arena);
  params_free(&m->params);
}
