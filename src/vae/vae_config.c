// Loads configs/vae/*.yaml with libyaml's document API against a small
// schema (one row per key), in the manner of core/config.c: every error is
// one line naming FILE:LINE:COL, the key and what was expected, returned in
// TsrErr (never an exit).
#include "vae/vae_config.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum KeyType { K_INT, K_FLOAT, K_STR, K_LIST };

typedef struct {
  const char *key;
  enum KeyType type;
  size_t off;  // into VaeConfig
  double lo, hi;
  int required;
  const char *choices;  // K_STR: "l2" (NULL: any non-empty name)
} Key;

#define OFF(f) offsetof(VaeConfig, f)
static const Key keys[] = {
    {"name", K_STR, OFF(name), 1, 63, 0, NULL},
    {"in_channels", K_INT, OFF(in_channels), 1, 64, 1, NULL},
    {"base_channels", K_INT, OFF(base_channels), 1, 4096, 1, NULL},
    {"channel_mult", K_LIST, OFF(channel_mult), 1, 64, 1, NULL},
    {"temporal_down", K_LIST, OFF(temporal_down), 0, 1, 1, NULL},
    {"res_blocks", K_INT, OFF(res_blocks), 0, 16, 1, NULL},
    {"latent_channels", K_INT, OFF(latent_channels), 1, 1024, 1, NULL},
    {"groups", K_INT, OFF(groups), 1, 1024, 1, NULL},
    {"kl_weight", K_FLOAT, OFF(kl_weight), 0, 1e3, 0, NULL},
    {"loss", K_STR, OFF(loss), 1, 7, 0, "l2"},
};
enum { NKEYS = sizeof keys / sizeof keys[0] };

static void expected(const Key *k, char *buf, size_t n) {
  switch (k->type) {
    case K_INT: snprintf(buf, n, "an integer in [%g, %g]", k->lo, k->hi); break;
    case K_FLOAT: snprintf(buf, n, "a number in [%g, %g]", k->lo, k->hi); break;
    case K_STR: k->choices ? snprintf(buf, n, "one of %s", k->choices) : snprintf(buf, n, "a name"); break;
    case K_LIST:
      snprintf(buf, n, "a sequence of 1 to %d integers in [%g, %g]", VAE_MAX_LEVELS, k->lo, k->hi);
      break;
  }
}

static int parse_int(const char *s, double lo, double hi, int *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

typedef struct {
  const char *path;
  yaml_document_t *doc;
  TsrErr *e;
} Src;

static int bad(const Src *s, const yaml_node_t *n, const Key *k, const char *got) {
  char exp[160];
  expected(k, exp, sizeof exp);
  return tsr_err(s->e, "%s:%zu:%zu: vae.%s: expected %s, got %s", s->path, n->start_mark.line + 1,
                  n->start_mark.column + 1, k->key, exp, got);
}

static const char *describe(const yaml_node_t *n, char *buf, size_t size) {
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  if (n->type == YAML_SEQUENCE_NODE) return "a sequence";
  snprintf(buf, size, "'%.60s'", (const char *)n->data.scalar.value);
  return buf;
}

static int set_key(const Src *s, const Key *k, yaml_node_t *n, VaeConfig *c) {
  char got[96];
  char *base = (char *)c + k->off;
  if (k->type == K_LIST) {
    if (n->type != YAML_SEQUENCE_NODE) return bad(s, n, k, describe(n, got, sizeof got));
    const int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > VAE_MAX_LEVELS) return bad(s, n, k, "a longer sequence");
    for (int i = 0; i < len; i++) {
      yaml_node_t *it = yaml_document_get_node(s->doc, n->data.sequence.items.start[i]);
      if (it->type != YAML_SCALAR_NODE || parse_int((const char *)it->data.scalar.value, k->lo, k->hi,
                                                    (int *)base + i))
        return bad(s, it, k, describe(it, got, sizeof got));
    }
    *(k->off == OFF(channel_mult) ? &c->levels : &c->n_temporal_down) = len;
    return 0;
  }
  if (n->type != YAML_SCALAR_NODE) return bad(s, n, k, describe(n, got, sizeof got));
  const char *v = (const char *)n->data.scalar.value;
  describe(n, got, sizeof got);
  switch (k->type) {
    case K_INT:
      if (parse_int(v, k->lo, k->hi, (int *)base)) return bad(s, n, k, got);
      return 0;
    case K_FLOAT: {
      char *end;
      errno = 0;
      double d = strtod(v, &end);
      if (errno || end == v || *end || !isfinite(d) || d < k->lo || d > k->hi) return bad(s, n, k, got);
      *(float *)base = (float)d;
      return 0;
    }
    case K_STR:
      if (strlen(v) < (size_t)k->lo || strlen(v) > (size_t)k->hi || (k->choices && strcmp(v, k->choices)))
        return bad(s, n, k, got);
      strcpy(base, v);
      return 0;
    default: return 0;
  }
}

static int load_doc(const Src *s, VaeConfig *c) {
  yaml_node_t *root = yaml_document_get_root_node(s->doc);
  if (!root || root->type != YAML_MAPPING_NODE) return tsr_err(s->e, "%s: expected a mapping with a `vae:` section", s->path);
  yaml_node_t *vae = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, p->key);
    const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
    if (strcmp(name, "vae"))
      return tsr_err(s->e, "%s:%zu:%zu: %s: expected only the section `vae`, got an unknown key", s->path,
                      k->start_mark.line + 1, k->start_mark.column + 1, name);
    vae = yaml_document_get_node(s->doc, p->value);
  }
  if (!vae || vae->type != YAML_MAPPING_NODE) return tsr_err(s->e, "%s: vae: expected a mapping of the autoencoder's keys", s->path);
  int seen[NKEYS] = {0};
  for (yaml_node_pair_t *p = vae->data.mapping.pairs.start; p < vae->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, p->key);
    const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
    int i = 0;
    while (i < NKEYS && strcmp(keys[i].key, name)) i++;
    if (i == NKEYS) {
      char list[512] = "";
      for (int j = 0; j < NKEYS; j++) snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", keys[j].key);
      return tsr_err(s->e, "%s:%zu:%zu: vae.%s: unknown key; valid keys: %s", s->path, k->start_mark.line + 1,
                      k->start_mark.column + 1, name, list);
    }
    if (seen[i])
      return tsr_err(s->e, "%s:%zu:%zu: vae.%s: expected once, got a second time", s->path, k->start_mark.line + 1,
                      k->start_mark.column + 1, name);
    seen[i] = 1;
    if (set_key(s, &keys[i], yaml_document_get_node(s->doc, p->value), c)) return -1;
  }
  for (int i = 0; i < NKEYS; i++)
    if (keys[i].required && !seen[i]) {
      char exp[160];
      expected(&keys[i], exp, sizeof exp);
      return tsr_err(s->e, "%s: vae.%s: expected %s, missing", s->path, keys[i].key, exp);
    }
  return 0;
}

int vae_config_load_text(VaeConfig *c, const char *text, size_t len, const char *path, TsrErr *e) {
  *c = (VaeConfig){.kl_weight = 1e-6f, .loss = "l2"};
  snprintf(c->name, sizeof c->name, "vae");
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  int rc = 0;
  if (!yaml_parser_load(&parser, &doc)) {
    rc = tsr_err(e, "%s:%zu:%zu: expected YAML, got a syntax error: %s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "unknown");
  } else {
    Src s = {path, &doc, e};
    rc = load_doc(&s, c);
    yaml_document_delete(&doc);
    if (rc == 0) rc = vae_config_finalize(c, path, e);
  }
  yaml_parser_delete(&parser);
  return rc;
}

int vae_config_load(VaeConfig *c, const char *path, TsrErr *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return tsr_err(e, "%s: expected a readable VAE config (YAML), got: %s", path, strerror(errno));
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  do {
    if (len == cap) text = realloc(text, cap = 2 * cap + 4096);
    n = fread(text + len, 1, cap - len, f);
    len += n;
  } while (n > 0);
  fclose(f);
  int rc = vae_config_load_text(c, text ? text : "", len, path, e);
  free(text);
  return rc;
}

void vae_config_write(const VaeConfig *c, FILE *out) {
  fprintf(out, "vae:\n  name: %s\n  in_channels: %d\n  base_channels: %d\n  channel_mult: [", c->name, c->in_channels,
          c->base_channels);
  for (int l = 0; l < c->levels; l++) fprintf(out, "%s%d", l ? ", " : "", c->channel_mult[l]);
  fprintf(out, "]\n  temporal_down: [");
  for (int l = 0; l < c->n_temporal_down; l++) fprintf(out, "%s%d", l ? ", " : "", c->temporal_down[l]);
  fprintf(out, "]\n  res_blocks: %d\n  latent_channels: %d\n  groups: %d\n  kl_weight: %.9g\n  loss: %s\n", c->res_blocks,
          c->latent_channels, c->groups, (double)c->kl_weight, c->loss);
}

int vae_config_finalize(VaeConfig *c, const char *what, TsrErr *e) {
  if (c->levels < 1 || c->levels > VAE_MAX_LEVELS)
    return tsr_err(e, "%s: vae.channel_mult: expected 1 to %d levels, got %d", what, VAE_MAX_LEVELS, c->levels);
  if (c->n_temporal_down != c->levels - 1)
    return tsr_err(e, "%s: vae.temporal_down: expected %d entries (one per down-sampling: channel_mult has %d), got %d",
                    what, c->levels - 1, c->levels, c->n_temporal_down);
  c->ct = 1, c->cs = 1;
  for (int l = 0; l + 1 < c->levels; l++) {
    c->cs *= 2;
    if (c->temporal_down[l]) c->ct *= 2;
  }
  for (int l = 0; l < c->levels; l++) {
    const int ch = c->base_channels * c->channel_mult[l];
    if (ch % c->groups)
      return tsr_err(e, "%s: vae.groups: expected a divisor of every level's channels, got %d (level %d has %d)", what,
                      c->groups, l, ch);
  }
  if (strcmp(c->loss, "l2")) return tsr_err(e, "%s: vae.loss: expected l2, got '%s'", what, c->loss);
  return 0;
}

int vae_check_clip(const VaeConfig *c, int T, int H, int W, const char *what, TsrErr *e) {
  if (T < 1 || (T - 1) % c->ct)
    return tsr_err(e, "%s: frames: expected 1 + a multiple of the temporal compression %d, got %d", what, c->ct, T);
  if (H < c->cs || H % c->cs || W < c->cs || W % c->cs)
    return tsr_err(e, "%s: size: expected height and width multiples of the spatial compression %d, got %dx%d", what,
                    c->cs, H, W);
  return 0;
}
