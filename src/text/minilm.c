#include "text/minilm.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/jsonx.h"
#include "core/sha256.h"
#include "kernels/ops.h"
#include "kernels/ops.h"
#include "text/minilm_weights.h"
#include "text/safetensors.h"

// ------------------------------------------------------------------ config.json
static int config_int(const json_t *root, const char *path, const char *key, int lo, int hi, int *out, TsrErr *err) {
  const json_t *v = json_object_get(root, key);
  long long x = 0;
  if (!v || !json_is_integer(v) || (x = json_integer_value(v)) < lo || x > hi)
    return tsr_err(err, "%s: \"%s\" %s, expected an integer in [%d, %d]", path, key, v ? "out of range or not an integer" : "missing",
                     lo, hi);
  *out = (int)x;
  return 0;
}

// A string key that must hold `want` when present (absent: BERT's default).
static int config_is(const json_t *root, const char *path, const char *key, const char *want, TsrErr *err) {
  const json_t *v = json_object_get(root, key);
  if (!v) return 0;
  const char *text = json_string_value(v);
  if (!text || strcmp(text, want))
    return tsr_err(err, "%s: \"%s\" is %s%s%s, expected \"%s\" (a BERT encoder)", path, key, text ? "\"" : "",
                     text ? text : jx_kind(v), text ? "\"" : "", want);
  return 0;
}

static int read_config(const char *path, BertConfig *c, TsrErr *err) {
  FILE *f = fopen(path, "rb");
  if (!f) return tsr_err(err, "%s: cannot open (%s), expected the encoder's config.json", path, strerror(errno));
  char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  if (n == sizeof buf) return tsr_err(err, "%s: larger than 64 KiB, expected a config.json", path);
  char why[256];
  json_t *root = jx_parse(buf, n, why, sizeof why);
  if (!root) return tsr_err(err, "%s: not valid JSON (%s)", path, why);
  int rc = json_is_object(root) ? 0 : tsr_err(err, "%s: expected a JSON object", path);
  if (!rc) rc = config_is(root, path, "model_type", "bert", err);
  if (!rc) rc = config_is(root, path, "hidden_act", "gelu", err);
  if (!rc) rc = config_is(root, path, "position_embedding_type", "absolute", err);
  if (!rc) rc = config_int(root, path, "vocab_size", 5, 1 << 22, &c->vocab, err);
  if (!rc) rc = config_int(root, path, "hidden_size", 1, 1 << 14, &c->hidden, err);
  if (!rc) rc = config_int(root, path, "num_hidden_layers", 1, 256, &c->layers, err);
  if (!rc) rc = config_int(root, path, "num_attention_heads", 1, 1024, &c->heads, err);
  if (!rc) rc = config_int(root, path, "intermediate_size", 1, 1 << 16, &c->inter, err);
  if (!rc) rc = config_int(root, path, "max_position_embeddings", 2, 1 << 16, &c->max_pos, err);
  if (!rc) rc = config_int(root, path, "type_vocab_size", 1, 1 << 10, &c->type_vocab, err);
  double eps = 1e-12;
  const json_t *e = json_object_get(root, "layer_norm_eps");
  if (!rc && e && (!json_is_number(e) || !((eps = json_number_value(e)) > 0 && eps < 1)))
    rc = tsr_err(err, "%s: \"layer_norm_eps\" must be a number in (0, 1)", path);
  c->ln_eps = (float)eps;
  if (!rc && c->hidden % c->heads)
    rc = tsr_err(err, "%s: hidden_size %d is not a multiple of num_attention_heads %d", path, c->hidden, c->heads);
  json_decref(root);
  return rc;
}

// ------------------------------------------------------------------ weights
typedef struct {
  const SafeTensors *st;
  float *next;  // where the next tensor goes in te->params
  TsrErr *err;
} Loader;

// Reads the 1-D or 2-D tensor `name` (shape [d0] or [d0, d1]) at the loader's cursor.
static float *take(Loader *ld, const char *name, int64_t d0, int64_t d1) {
  const int64_t shape[2] = {d0, d1};
  float *at = ld->next;
  if (st_read_f32(ld->st, name, d1 ? 2 : 1, shape, at, ld->err)) return NULL;
  ld->next += d0 * (d1 ? d1 : 1);
  return at;
}

static size_t param_count(const BertConfig *c) {
  size_t H = (size_t)c->hidden, I = (size_t)c->inter;
  size_t layer = 3 * H * H + 3 * H + H * H + H + 2 * H + I * H + I + H * I + H + 2 * H;
  return (size_t)c->vocab * H + (size_t)c->max_pos * H + (size_t)c->type_vocab * H + 2 * H + (size_t)c->layers * layer;
}

#define TAKE(dst, name, d0, d1) \
  if (!((dst) = take(ld, name, d0, d1))) return -1

static int load_layer(Loader *ld, int l, const BertConfig *c, BertLayer *L) {
  const int64_t H = c->hidden, I = c->inter;
  char n[160];
  const char *qkv[3] = {"query", "key", "value"};
  for (int k = 0; k < 3; k++) {  // q, k, v stacked in one [3H,H] weight, then the three biases
    snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.weight", l, qkv[k]);
    const float *w;
    TAKE(w, n, H, H);
    if (!k) L->qkv_w = w;
  }
  for (int k = 0; k < 3; k++) {
    snprintf(n, sizeof n, "encoder.layer.%d.attention.self.%s.bias", l, qkv[k]);
    const float *b;
    TAKE(b, n, H, 0);
    if (!k) L->qkv_b = b;
  }
  static const struct { const char *name; int rows, cols; size_t field; } rest[] = {
      {"attention.output.dense.weight", 'H', 'H', offsetof(BertLayer, o_w)},
      {"attention.output.dense.bias", 'H', 0, offsetof(BertLayer, o_b)},
      {"attention.output.LayerNorm.weight", 'H', 0, offsetof(BertLayer, ln1_w)},
      {"attention.output.LayerNorm.bias", 'H', 0, offsetof(BertLayer, ln1_b)},
      {"intermediate.dense.weight", 'I', 'H', offsetof(BertLayer, fc1_w)},
      {"intermediate.dense.bias", 'I', 0, offsetof(BertLayer, fc1_b)},
      {"output.dense.weight", 'H', 'I', offsetof(BertLayer, fc2_w)},
      {"output.dense.bias", 'H', 0, offsetof(BertLayer, fc2_b)},
      {"output.LayerNorm.weight", 'H', 0, offsetof(BertLayer, ln2_w)},
      {"output.LayerNorm.bias", 'H', 0, offsetof(BertLayer, ln2_b)}};
  for (size_t k = 0; k < sizeof rest / sizeof *rest; k++) {
    snprintf(n, sizeof n, "encoder.layer.%d.%s", l, rest[k].name);
    int64_t d0 = rest[k].rows == 'H' ? H : I, d1 = rest[k].cols == 'H' ? H : rest[k].cols == 'I' ? I : 0;
    TAKE(*(const float **)((char *)L + rest[k].field), n, d0, d1);
  }
  return 0;
}

static int load_weights(TextEncoder *te, const SafeTensors *st, TsrErr *err) {
  const BertConfig *c = &te->cfg;
  const int64_t H = c->hidden;
  te->nparams = param_count(c);
  te->params = tsr_calloc(te->nparams, sizeof(float));
  te->layer = tsr_calloc((size_t)c->layers, sizeof *te->layer);
  Loader loader = {st, te->params, err}, *ld = &loader;
  float *pos, *type;
  TAKE(te->word_emb, "embeddings.word_embeddings.weight", c->vocab, H);
  TAKE(pos, "embeddings.position_embeddings.weight", c->max_pos, H);
  TAKE(type, "embeddings.token_type_embeddings.weight", c->type_vocab, H);
  TAKE(te->emb_ln_w, "embeddings.LayerNorm.weight", H, 0);
  TAKE(te->emb_ln_b, "embeddings.LayerNorm.bias", H, 0);
  // Every text is one segment (token type 0): fold that row into the positions once.
  for (int64_t l = 0; l < c->max_pos; l++)
    for (int64_t d = 0; d < H; d++) pos[l * H + d] += type[d];
  te->pos_emb = pos;
  for (int l = 0; l < c->layers; l++)
    if (load_layer(ld, l, c, &te->layer[l])) return -1;
  TSR_ASSERT(ld->next == te->params + te->nparams, "text encoder: %td floats read, %zu expected", ld->next - te->params,
             te->nparams);
  return 0;
}

// ------------------------------------------------------------------ load
static int check_hash(const char *path, const char *got, const char *want, TsrErr *err) {
  if (!want || !strcmp(got, want)) return 0;
  return tsr_err(err, "%s: SHA-256 %s, expected %s (the recorded hash; `make deps` installs the file)", path, got, want);
}

static int load(TextEncoder *te, const char *dir, const char *weights_sha256, const char *vocab_sha256, TsrErr *err) {
  char path[640];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (read_config(path, &te->cfg, err)) return -1;
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  SafeTensors st;
  if (st_open(&st, path, err)) return -1;
  sha256_hex_of(st.map, st.size, te->weights_sha256);
  int rc = check_hash(path, te->weights_sha256, weights_sha256, err);
  if (!rc) rc = load_weights(te, &st, err);
  st_close(&st);
  if (rc) return -1;
  snprintf(path, sizeof path, "%s/vocab.txt", dir);
  char vhash[65];
  if (vocab_sha256 && sha256_file(path, vhash, NULL))
    return tsr_err(err, "%s: cannot read (%s), expected the encoder's vocab.txt", path, strerror(errno));
  if (vocab_sha256 && check_hash(path, vhash, vocab_sha256, err)) return -1;
  if (wordpiece_load(&te->wp, path, err)) return -1;
  if (te->wp.size != te->cfg.vocab)
    return tsr_err(err, "%s: %d tokens, expected %d (the rows of embeddings.word_embeddings.weight in %s/model.safetensors)",
                     path, te->wp.size, te->cfg.vocab, dir);
  return 0;
}

int text_encoder_load(TextEncoder *te, const char *dir, const char *weights_sha256, const char *vocab_sha256,
                      TsrErr *err) {
  memset(te, 0, sizeof *te);
  te->be = backend_cpu();
  struct stat sb;
  if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
    return tsr_err(err, "%s: no such folder, expected a model folder with config.json, model.safetensors and vocab.txt "
                     "(`make deps` installs all-MiniLM-L6-v2 in " MINILM_L6_DIR ")", dir);
  snprintf(te->dir, sizeof te->dir, "%s", dir);
  int rc = load(te, dir, weights_sha256, vocab_sha256, err);
  if (rc) text_encoder_free(te);
  return rc;
}

int minilm_load(TextEncoder *te, const char *dir, TsrErr *err) {
  return text_encoder_load(te, dir ? dir : MINILM_L6_DIR, MINILM_L6_WEIGHTS_SHA256, MINILM_L6_VOCAB_SHA256, err);
}

void text_encoder_use_backend(TextEncoder *te, const Backend *be) {
  if (te->be && !te->be->mem.host) return;  // already on a device
  te->be = be;
  if (be->mem.host) return;
  te->dparams = be_floats(be, te->nparams);
  be_upload(be, te->dparams, te->params, te->nparams * sizeof(float));
  // every weight pointer moves by the same offset into the device copy
#define REBASE(p) ((p) = (p) ? te->dparams + ((p) - te->params) : NULL)
  REBASE(te->word_emb), REBASE(te->pos_emb), REBASE(te->emb_ln_w), REBASE(te->emb_ln_b);
  for (int l = 0; l < te->cfg.layers; l++) {
    BertLayer *y = &te->layer[l];
    REBASE(y->qkv_w), REBASE(y->qkv_b), REBASE(y->o_w), REBASE(y->o_b), REBASE(y->ln1_w), REBASE(y->ln1_b);
    REBASE(y->fc1_w), REBASE(y->fc1_b), REBASE(y->fc2_w), REBASE(y->fc2_b), REBASE(y->ln2_w), REBASE(y->ln2_b);
  }
#undef REBASE
}

void text_encoder_free(TextEncoder *te) {
  if (te->dparams) be_free(te->be, te->dparams);
  tsr_free(te->params);
  tsr_free(te->layer);
  wordpiece_free(&te->wp);
  memset(te, 0, sizeof *te);
}

// ------------------------------------------------------------------ forward
int text_encoder_forward(const TextEncoder *te, const int32_t *ids, const int *nvalid, int B, int L, float *hidden,
                         float *pooled, TsrErr *err) {
  const BertConfig *c = &te->cfg;
  const int H = c->hidden, I = c->inter, NH = c->heads, M = B * L;
  if (B < 1 || L < 1 || L > c->max_pos)
    return tsr_err(err, "text encoder: batch %d x %d tokens, expected at least 1 x 1 and at most %d tokens", B, L, c->max_pos);
  for (int b = 0; b < B; b++) {
    if (nvalid[b] < 1 || nvalid[b] > L)
      return tsr_err(err, "text encoder: sample %d has %d valid tokens, expected 1 to %d", b, nvalid[b], L);
    for (int l = 0; l < L; l++)
      if (ids[b * L + l] < 0 || ids[b * L + l] >= c->vocab)
        return tsr_err(err, "text encoder: sample %d token %d has id %d, expected 0 to %d", b, l, ids[b * L + l], c->vocab - 1);
  }
  const Backend *be = te->be;
  const size_t ids_bytes = (size_t)M * sizeof(int32_t), nv_bytes = (size_t)B * sizeof(int);
  int32_t *d_ids = be_alloc(be, ids_bytes);
  int *d_nvalid = be_alloc(be, nv_bytes);
  be_upload(be, d_ids, ids, ids_bytes);
  be_upload(be, d_nvalid, nvalid, nv_bytes);
  float *h = be_floats(be, (size_t)M * H);
  float *qkv = be_floats(be, (size_t)M * 3 * H);
  float *ctx = be_floats(be, (size_t)M * H);
  float *t = be_floats(be, (size_t)M * H);
  float *mid = be_floats(be, (size_t)M * I);
  float *lse = be_floats(be, (size_t)B * NH * L);
  be_embedding_forward(be, t, d_ids, te->word_emb, te->pos_emb, B, L, H);
  be_layernorm_eps_forward(be, h, t, te->emb_ln_w, te->emb_ln_b, M, H, c->ln_eps);
  for (int l = 0; l < c->layers; l++) {
    const BertLayer *y = &te->layer[l];
    be_linear_forward(be, qkv, h, y->qkv_w, y->qkv_b, M, H, 3 * H);
    be_attention_forward(be, ctx, H, lse, qkv, 3 * H, qkv + H, 3 * H, qkv + 2 * H, 3 * H, d_nvalid, B, L, L, NH,
                         H / NH);
    be_linear_forward(be, t, ctx, y->o_w, y->o_b, M, H, H);
    be_axpy(be, t, 1.0f, h, (int64_t)M * H);  // t += h
    be_layernorm_eps_forward(be, h, t, y->ln1_w, y->ln1_b, M, H, c->ln_eps);
    be_linear_forward(be, mid, h, y->fc1_w, y->fc1_b, M, H, I);
    be_gelu_erf_forward(be, mid, mid, (int64_t)M * I);
    be_linear_forward(be, t, mid, y->fc2_w, y->fc2_b, M, I, H);
    be_axpy(be, t, 1.0f, h, (int64_t)M * H);
    be_layernorm_eps_forward(be, h, t, y->ln2_w, y->ln2_b, M, H, c->ln_eps);
  }
  be_download(be, hidden, h, (size_t)M * H * sizeof(float));
  if (pooled) {
    be_masked_mean_forward(be, ctx, h, d_nvalid, B, L, H);  // ctx is free again: [B,H] fits
    be_download(be, pooled, ctx, (size_t)B * H * sizeof(float));
  }
  be_free(be, d_ids), be_free(be, d_nvalid), be_free(be, h), be_free(be, qkv), be_free(be, ctx);
  be_free(be, t), be_free(be, mid), be_free(be, lse);
  return 0;
}
