// Shapes-world options and recipe (synth_recipe.h).
#include "data/synth_recipe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/parse.h"
#include "data/synth.h"

void synth_options_default(SynthOptions *o) {
  *o = (SynthOptions){.out = "",
                      .clips = 10000,
                      .T = 16,
                      .H = 32,
                      .W = 32,
                      .seed = 0,
                      .pt = 2,
                      .ph = 4,
                      .pw = 4,
                      .text_length = 32,
                      .min_objects = 1,
                      .max_objects = SYNTH_MAX_OBJECTS,
                      .fps = 8.0f,
                      .caption_variety = 0.0f,
                      .from_frames = "--frames",
                      .from_size = "--size",
                      .from_patch = "default --patch"};
}

// ------------------------------------------------------------------ values

// Parsers return 0 on success; `what` names the flag or recipe key in messages.
static int parse_objects(const char *s, int *lo, int *hi) {  // "A-B" or "A"
  long a, b;
  const char *dash = strchr(s, '-');
  if (!dash) {
    if (parse_long(s, 1, SYNTH_MAX_OBJECTS, &a)) return -1;
    *lo = *hi = (int)a;
    return 0;
  }
  char first[32];
  size_t n = (size_t)(dash - s);
  if (n == 0 || n >= sizeof first) return -1;
  memcpy(first, s, n);
  first[n] = 0;
  if (parse_long(first, 1, SYNTH_MAX_OBJECTS, &a) || parse_long(dash + 1, 1, SYNTH_MAX_OBJECTS, &b) || b < a) return -1;
  *lo = (int)a;
  *hi = (int)b;
  return 0;
}

static int parse_u64(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  if (!*s || *s == '-' || *s == '+' || *s == ' ') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end) return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_float(const char *s, float lo, float hi, float *out) {
  char *end;
  errno = 0;
  float v = strtof(s, &end);
  if (errno || end == s || *end || !(v >= lo && v <= hi)) return -1;
  *out = v;
  return 0;
}

int synth_bucket_count(const SynthOptions *o) { return o->nbuckets ? o->nbuckets : 1; }

void synth_bucket(const SynthOptions *o, int b, int *T, int *H, int *W, long *clips) {
  if (!o->nbuckets) {
    *T = o->T, *H = o->H, *W = o->W, *clips = o->clips;
    return;
  }
  *T = o->bucket[b].T, *H = o->bucket[b].H, *W = o->bucket[b].W;
  *clips = o->bucket[b].clips ? o->bucket[b].clips : o->clips;
}

// "TxHxW[:N],..." into o->bucket (N clips; none: the `clips` option's count).
static int parse_buckets(SynthOptions *o, const char *v, const char *where, TsrErr *err) {
  char buf[1024];
  if (!*v || strlen(v) >= sizeof buf) return tsr_err(err, "%s '%s': expected TxHxW[:clips],... (e.g. 8x16x32:500,8x32x16)", where, v);
  snprintf(buf, sizeof buf, "%s", v);
  int n = 0;
  for (char *save = NULL, *e = strtok_r(buf, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
    if (n == SYNTH_MAX_BUCKETS) return tsr_err(err, "%s '%s': at most %d buckets", where, v, SYNTH_MAX_BUCKETS);
    char *colon = strchr(e, ':');
    long clips = 0;
    if (colon) {
      *colon = 0;
      if (parse_long(colon + 1, 1, INT32_MAX, &clips))
        return tsr_err(err, "%s '%s': bucket %s: clips '%s' is not an integer >= 1", where, v, e, colon + 1);
    }
    int d[3];
    if (parse_dims(e, 3, d) || d[0] < 1 || d[0] > 4096 || d[1] < 4 || d[1] > 4096 || d[2] < 4 || d[2] > 4096)
      return tsr_err(err, "%s '%s': bucket '%s': expected TxHxW with T in 1..4096 and H, W in 4..4096", where, v, e);
    for (int i = 0; i < n; i++)
      if (o->bucket[i].T == d[0] && o->bucket[i].H == d[1] && o->bucket[i].W == d[2])
        return tsr_err(err, "%s '%s': bucket %s is listed twice", where, v, e);
    o->bucket[n].T = d[0], o->bucket[n].H = d[1], o->bucket[n].W = d[2], o->bucket[n].clips = clips;
    n++;
  }
  if (!n) return tsr_err(err, "%s '%s': expected TxHxW[:clips],... (e.g. 8x16x32:500,8x32x16)", where, v);
  o->nbuckets = n;
  return 0;
}

int synth_option_set(SynthOptions *o, const char *key, const char *v, const char *where, TsrErr *err) {
  char k[32];
  snprintf(k, sizeof k, "%s", key);
  for (char *p = k; *p; p++)
    if (*p == '_') *p = '-';
  long n;
  if (!strcmp(k, "out")) {
    if (!*v || strlen(v) >= sizeof o->out) return tsr_err(err, "%s '%s': expected a file name", where, v);
    snprintf(o->out, sizeof o->out, "%s", v);
  } else if (!strcmp(k, "clips")) {
    if (parse_long(v, 1, INT32_MAX, &n)) return tsr_err(err, "%s '%s': expected an integer >= 1", where, v);
    o->clips = n;
  } else if (!strcmp(k, "frames")) {
    if (parse_long(v, 1, 4096, &n)) return tsr_err(err, "%s '%s': expected an integer in 1..4096", where, v);
    o->T = (int)n;
    snprintf(o->from_frames, sizeof o->from_frames, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "size")) {
    int d[2];
    if (parse_dims(v, 2, d) || d[0] < 4 || d[1] < 4 || d[0] > 4096 || d[1] > 4096)
      return tsr_err(err, "%s '%s': expected HxW with H and W in 4..4096 (e.g. 32x32)", where, v);
    o->H = d[0];
    o->W = d[1];
    snprintf(o->from_size, sizeof o->from_size, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "seed")) {
    if (parse_u64(v, &o->seed)) return tsr_err(err, "%s '%s': expected a non-negative integer", where, v);
  } else if (!strcmp(k, "patch")) {
    int d[3];
    if (parse_dims(v, 3, d) || d[0] > 64 || d[1] > 64 || d[2] > 64)
      return tsr_err(err, "%s '%s': expected TxHxW with each in 1..64 (e.g. 2x4x4)", where, v);
    o->pt = d[0];
    o->ph = d[1];
    o->pw = d[2];
    snprintf(o->from_patch, sizeof o->from_patch, "%s", strncmp(where, "data synth: ", 12) ? where : where + 12);
  } else if (!strcmp(k, "text-length")) {
    if (parse_long(v, 2, 4096, &n)) return tsr_err(err, "%s '%s': expected an integer in 2..4096", where, v);
    o->text_length = (int)n;
  } else if (!strcmp(k, "objects")) {
    if (parse_objects(v, &o->min_objects, &o->max_objects))
      return tsr_err(err, "%s '%s': expected A-B or A with 1 <= A <= B <= %d (e.g. 1-3)", where, v, SYNTH_MAX_OBJECTS);
  } else if (!strcmp(k, "caption-variety")) {
    if (parse_float(v, 0.0f, 1.0f, &o->caption_variety))
      return tsr_err(err, "%s '%s': expected a share in [0, 1]", where, v);
  } else if (!strcmp(k, "buckets")) {
    if (parse_buckets(o, v, where, err)) return -1;
  } else if (!strcmp(k, "fps")) {
    if (parse_float(v, 0.001f, 1000.0f, &o->fps)) return tsr_err(err, "%s '%s': expected a number in (0, 1000]", where, v);
  } else {
    return 0;
  }
  return 1;
}

// ------------------------------------------------------------------ recipe

typedef struct {
  const char *file;
  yaml_document_t *doc;
} Recipe;

static const char *loc(const Recipe *r, const yaml_node_t *n, char *buf, size_t size) {
  snprintf(buf, size, "%s:%zu:%zu", r->file, n->start_mark.line + 1, n->start_mark.column + 1);
  return buf;
}

static yaml_node_t *node(const Recipe *r, int id) { return yaml_document_get_node(r->doc, id); }
static int n_items(const yaml_node_t *n) { return (int)(n->data.sequence.items.top - n->data.sequence.items.start); }

// The recipe documents the built-in palettes; they must agree with the code.
static int check_rgb_table(const Recipe *r, const char *key, yaml_node_t *n, const char *const *names,
                            const uint8_t (*rgb)[3], int count, TsrErr *err) {
  char where[PATH_MAX + 64];
  if (n->type != YAML_MAPPING_NODE)
    return tsr_err(err, "%s: %s: expected a mapping of name: [r, g, b]", loc(r, n, where, sizeof where), key);
  int seen = 0;
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
    const char *name = k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "?";
    int i = 0;
    while (i < count && strcmp(names[i], name)) i++;
    if (i == count) {
      char list[256] = "";
      for (int j = 0; j < count; j++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
      return tsr_err(err, "%s: %s.%s: not a built-in name (the shapes world has %s)", loc(r, k, where, sizeof where), key,
                     name, list);
    }
    int ok = v->type == YAML_SEQUENCE_NODE && n_items(v) == 3;
    for (int c = 0; ok && c < 3; c++) {
      yaml_node_t *e = node(r, v->data.sequence.items.start[c]);
      long x;
      ok = e->type == YAML_SCALAR_NODE && !parse_long((const char *)e->data.scalar.value, 0, 255, &x) && x == rgb[i][c];
    }
    if (!ok)
      return tsr_err(err, "%s: %s.%s: expected [%d, %d, %d] (the palette is built into tessera; the recipe documents it)",
                     loc(r, v, where, sizeof where), key, name, rgb[i][0], rgb[i][1], rgb[i][2]);
    seen |= 1 << i;
  }
  if (seen != (1 << count) - 1)
    return tsr_err(err, "%s: %s: expected all %d built-in entries", loc(r, n, where, sizeof where), key, count);
  return 0;
}

static int check_names(const Recipe *r, const char *key, yaml_node_t *n, const char *const *names, int count,
                       TsrErr *err) {
  char where[PATH_MAX + 64];
  int ok = n->type == YAML_SEQUENCE_NODE && n_items(n) == count;
  for (int i = 0; ok && i < count; i++) {
    yaml_node_t *e = node(r, n->data.sequence.items.start[i]);
    ok = e->type == YAML_SCALAR_NODE && !strcmp((const char *)e->data.scalar.value, names[i]);
  }
  if (!ok) {
    char list[256] = "";
    for (int j = 0; j < count; j++)
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "", names[j]);
    return tsr_err(err, "%s: %s: expected the built-in list [%s]", loc(r, n, where, sizeof where), key, list);
  }
  return 0;
}

// The keys of the loaded document doc.
static int read_recipe(SynthOptions *o, const char *path, yaml_document_t *doc, TsrErr *err) {
  Recipe r = {path, doc};
  yaml_node_t *root = yaml_document_get_root_node(doc);
  char where[PATH_MAX + 128];
  if (!root || root->type != YAML_MAPPING_NODE)
    return tsr_err(err, "%s: expected a mapping of recipe keys (see datasets/shapes.yaml)", path);
  static const char *const keys[] = {"clips", "frames", "size", "seed", "patch", "text_length", "objects", "fps",
                                     "caption_variety", "buckets"};
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node(&r, p->key), *v = node(&r, p->value);
    if (k->type != YAML_SCALAR_NODE) return tsr_err(err, "%s: expected a key name", loc(&r, k, where, sizeof where));
    const char *key = (const char *)k->data.scalar.value;
    int rc = 0;
    if (!strcmp(key, "backgrounds"))
      rc = check_rgb_table(&r, key, v, SYNTH_BACKGROUNDS, SYNTH_BACKGROUND_RGB, 3, err);
    else if (!strcmp(key, "colours") || !strcmp(key, "colors"))
      rc = check_rgb_table(&r, key, v, SYNTH_COLOURS, SYNTH_COLOUR_RGB, 8, err);
    else if (!strcmp(key, "shapes"))
      rc = check_names(&r, key, v, SYNTH_SHAPES, 3, err);
    else if (!strcmp(key, "sizes"))
      rc = check_names(&r, key, v, SYNTH_SIZES, 2, err);
    else if (!strcmp(key, "motions"))
      rc = check_names(&r, key, v, SYNTH_MOTIONS, 6, err);
    else {
      int known = 0;
      for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) known |= !strcmp(key, keys[i]);
      if (!known)
        return tsr_err(err,
                       "%s: unknown recipe key '%s' (expected clips, frames, size, seed, patch, text_length, objects, "
                       "fps, caption_variety, buckets, backgrounds, colours, shapes, sizes, motions)",
                       loc(&r, k, where, sizeof where), key);
      loc(&r, v, where, sizeof where);
      snprintf(where + strlen(where), sizeof where - strlen(where), ": %s", key);
      if (v->type != YAML_SCALAR_NODE)
        return tsr_err(err, "%s: expected a single value, got a %s", where,
                       v->type == YAML_MAPPING_NODE ? "mapping" : "sequence");
      rc = synth_option_set(o, key, (const char *)v->data.scalar.value, where, err) < 0 ? -1 : 0;
    }
    if (rc) return -1;
  }
  return 0;
}

int synth_recipe_load(SynthOptions *o, const char *path, TsrErr *err) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return tsr_err(err, "%s: cannot open recipe: %s", path, strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  int rc;
  if (!yaml_parser_load(&parser, &doc)) {
    size_t line = parser.problem_mark.line + 1, col = parser.problem_mark.column + 1;
    rc = tsr_err(err, "%s:%zu:%zu: YAML syntax error: %s", path, line, col, parser.problem ? parser.problem : "unknown");
  } else {
    rc = read_recipe(o, path, &doc, err);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&parser);
  fclose(fp);
  return rc;
}
