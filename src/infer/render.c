#include "infer/render.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "core/error.h"
#include "core/jsonx.h"
#include "core/sha256.h"
#include "core/parse.h"
#include "infer/manifest.h"

// ================================================================== prompt lists
// A value of an item's key, from JSON or YAML alike.
typedef struct {
  const char *text;  // scalar text; arrays of numbers as "AxB"
  int quoted;        // a JSON string or a quoted YAML scalar
  int array, count;  // a list of numbers
  int null;
} Val;

typedef struct {
  const char *file, *dir;  // the prompt file and its folder (for relative paths)
  RenderItem *it;
} ItemCtx;

__attribute__((format(printf, 3, 4))) static int item_fail(ItemCtx *c, int line, const char *fmt, ...) {
  if (c->it->error[0]) return -1;  // keep the first problem
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(c->it->error, sizeof c->it->error, "%s:%d: %s", c->file, line, msg);
  return -1;
}

static char *resolve_path(const ItemCtx *c, const char *p) {
  if (p[0] == '/' || !c->dir[0]) return strdup(p);
  size_t n = strlen(c->dir) + strlen(p) + 2;
  char *o = malloc(n);
  TSR_ASSERT(o, "out of memory");
  snprintf(o, n, "%s/%s", c->dir, p);
  return o;
}

static int want_number(ItemCtx *c, int line, const char *key, const Val *v) {
  if (v->quoted || v->array || v->null) return item_fail(c, line, "%s: expected a number, got '%s'", key, v->text);
  return 0;
}

static int want_string(ItemCtx *c, int line, const char *key, const Val *v) {
  if (v->array || v->null || !v->text[0]) return item_fail(c, line, "%s: expected a non-empty string", key);
  return 0;
}

// true or false (JSON booleans, YAML plain true/false).
static int want_bool(ItemCtx *c, int line, const char *key, const Val *v, int *out) {
  if (!v->quoted && !v->array && !v->null && !strcmp(v->text, "true")) *out = 1;
  else if (!v->quoted && !v->array && !v->null && !strcmp(v->text, "false")) *out = 0;
  else return item_fail(c, line, "%s: expected true or false, got '%s'", key, v->text);
  return 0;
}

// Set one key of the item; unknown keys and bad values mark the item failed.
static int item_set(ItemCtx *c, int line, const char *key, const Val *v) {
  RenderItem *it = c->it;
  long x;
  if (!strcmp(key, "prompt")) {
    if (v->array || v->null) return item_fail(c, line, "prompt: expected a string");
    free(it->prompt);
    it->prompt = strdup(v->text);
  } else if (!strcmp(key, "id")) {
    if (want_string(c, line, key, v)) return -1;
    for (const char *p = v->text; *p; p++)
      if (!(('a' <= *p && *p <= 'z') || ('A' <= *p && *p <= 'Z') || ('0' <= *p && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.') || strlen(v->text) > 100 || v->text[0] == '.')
        return item_fail(c, line, "id: '%s': expected letters, digits, '-', '_' or '.' (a file name, at most 100)", v->text);
    it->id = strdup(v->text);
  } else if (!strcmp(key, "seed")) {
    if (want_number(c, line, key, v) || parse_long(v->text, 0, 2147483647L, &x))
      return item_fail(c, line, "seed: expected an integer in [0, 2147483647], got '%s'", v->text);
    it->seed = x;
  } else if (!strcmp(key, "frames") || !strcmp(key, "extend_frames")) {
    if (want_number(c, line, key, v) || parse_long(v->text, 1, 100000, &x))
      return item_fail(c, line, "%s: expected an integer in [1, 100000], got '%s'", key, v->text);
    if (key[0] == 'f') it->frames = (int)x;
    else it->extend_frames = (int)x;
  } else if (!strcmp(key, "size")) {
    int hw[2];
    if ((v->array && v->count != 2) || v->null || parse_dims(v->text, 2, hw))
      return item_fail(c, line, "size: expected \"HxW\" or [H, W], got '%s'", v->text);
    it->height = hw[0], it->width = hw[1];
  } else if (!strcmp(key, "strength")) {
    char *end;
    double s = strtod(v->text, &end);
    if (want_number(c, line, key, v) || *end || !isfinite(s) || s < 0.01 || s > 1.0)
      return item_fail(c, line, "strength: expected a number in [0.01, 1], got '%s'", v->text);
    it->strength = (float)s;
  } else if (!strcmp(key, "backward")) {
    return want_bool(c, line, key, v, &it->backward);
  } else if (!strcmp(key, "loop")) {
    return want_bool(c, line, key, v, &it->loop);
  } else if (!strcmp(key, "new_only")) {
    return want_bool(c, line, key, v, &it->new_only);
  } else {
    char **slot = !strcmp(key, "image")  ? &it->image
                  : !strcmp(key, "extend") ? &it->extend
                  : !strcmp(key, "first")  ? &it->first
                  : !strcmp(key, "last")   ? &it->last
                  : !strcmp(key, "remix")  ? &it->remix
                                           : NULL;
    if (!slot)
      return item_fail(c, line,
                       "unknown key '%s' (expected prompt, seed, frames, size, image, extend, extend_frames, "
                       "backward, first, last, new_only, loop, remix, strength or id)",
                       key);
    if (want_string(c, line, key, v)) return -1;
    *slot = resolve_path(c, v->text);
  }
  return 0;
}

// Checks across keys once an item is read.
static void item_finish(ItemCtx *c, int line) {
  RenderItem *it = c->it;
  if (it->error[0]) return;
  if (!it->prompt) item_fail(c, line, "missing key 'prompt'");
  else if (!!it->image + !!it->extend + !!it->first > 1) item_fail(c, line, "use one of image, extend, first");
  else if (it->last && !it->first) item_fail(c, line, "last needs first (interpolation fills the frames between two images)");
  else if (it->remix && (it->image || it->extend || it->first || it->last))
    item_fail(c, line, "remix cannot be combined with image, extend, first or last");
  else if (it->strength > 0 && !it->remix) item_fail(c, line, "strength applies to remix only");
  // the edits' rules, as generate's flags (cmd_generate.c check_edits)
  else if (it->backward && !it->extend)
    item_fail(c, line, "backward needs extend (it makes what came before that video)");
  else if (it->loop && (it->last || it->first || it->extend || it->remix))
    item_fail(c, line, "loop with %s: a loop's end leads into its own start, so it takes no other ends (only image "
              "to start from)", it->last ? "last" : it->first ? "first" : it->extend ? "extend" : "remix");
  else if (it->new_only && !it->extend && !it->first)
    item_fail(c, line, "new_only drops the input video from the output; there is none (extend, first/last)");
}

// NULL (and the list's error set) past MANIFEST_MAX_ITEMS.
static RenderItem *push_item(PromptList *pl, int line, TsrErr *err) {
  if (pl->n >= MANIFEST_MAX_ITEMS) {
    tsr_err(err, "%s:%d: more than %d items (split the list)", pl->path, line, MANIFEST_MAX_ITEMS);
    return NULL;
  }
  pl->items = realloc(pl->items, (size_t)(pl->n + 1) * sizeof *pl->items);
  TSR_ASSERT(pl->items, "out of memory");
  RenderItem *it = &pl->items[pl->n];
  memset(it, 0, sizeof *it);
  it->index = pl->n++;
  it->line = line;
  it->seed = -1;
  return it;
}

// A JSON value as the Val item_set reads (numbers as their text, a list of
// numbers as "AxB"; objects and other lists as text that no key accepts).
static Val json_val(const json_t *f, char *text, size_t n) {
  Val v = {.text = text};
  text[0] = 0;
  switch (json_typeof(f)) {
    case JSON_STRING: v.text = json_string_value(f), v.quoted = 1; break;
    case JSON_INTEGER: snprintf(text, n, "%lld", (long long)json_integer_value(f)); break;
    case JSON_REAL: snprintf(text, n, "%.17g", json_real_value(f)); break;
    case JSON_TRUE: snprintf(text, n, "true"); break;
    case JSON_FALSE: snprintf(text, n, "false"); break;
    case JSON_NULL: v.null = 1, snprintf(text, n, "null"); break;
    case JSON_ARRAY: {
      v.array = 1, v.count = (int)json_array_size(f);
      size_t i;
      json_t *x;
      json_array_foreach(f, i, x) {
        size_t k = strlen(text);
        if (!json_is_integer(x)) {
          snprintf(text, n, "a list of %s", jx_kind(x));
          break;
        }
        snprintf(text + k, n - k, "%s%lld", i ? "x" : "", (long long)json_integer_value(x));
      }
      break;
    }
    case JSON_OBJECT: v.array = 1, snprintf(text, n, "an object"); break;
  }
  return v;
}

static int read_jsonl(PromptList *pl, const char *buf, size_t len, ItemCtx *c, TsrErr *err) {
  int line = 0;
  for (size_t b = 0; b < len;) {
    size_t e = b;
    while (e < len && buf[e] != '\n') e++;
    line++;
    size_t s = b;
    while (s < e && (buf[s] == ' ' || buf[s] == '\t' || buf[s] == '\r')) s++;
    if (s < e && buf[s] != '#') {
      if (!(c->it = push_item(pl, line, err))) return -1;
      json_error_t je;
      json_t *o = json_loadb(buf + b, e - b, JSON_REJECT_DUPLICATES, &je);
      if (!o || !json_is_object(o)) {
        if (o) snprintf(je.text, sizeof je.text, "a JSON %s", jx_kind(o)), je.column = 1;
        item_fail(c, line, "not a JSON object {\"prompt\": ...}: column %d: %s", je.column, je.text);
      } else {
        const char *key;
        json_t *f;
        json_object_foreach(o, key, f) {
          char text[64];
          Val v = json_val(f, text, sizeof text);
          item_set(c, line, key, &v);
        }
        item_finish(c, line);
      }
      json_decref(o);
    }
    b = e + 1;
  }
  return 0;
}

static int yaml_item(PromptList *pl, yaml_document_t *doc, yaml_node_t *n, ItemCtx *c, TsrErr *err) {
  int line = (int)n->start_mark.line + 1;
  if (!(c->it = push_item(pl, line, err))) return -1;
  if (n->type == YAML_SCALAR_NODE) {  // a bare prompt string
    Val v = {.text = (const char *)n->data.scalar.value, .quoted = 1};
    item_set(c, line, "prompt", &v);
    item_finish(c, line);
    return 0;
  }
  if (n->type != YAML_MAPPING_NODE) {
    item_fail(c, line, "expected a mapping {prompt: ..., seed: ...} or a prompt string");
    return 0;
  }
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(doc, p->key), *v = yaml_document_get_node(doc, p->value);
    int kl = (int)k->start_mark.line + 1;
    if (k->type != YAML_SCALAR_NODE) { item_fail(c, kl, "expected a plain key"); continue; }
    const char *key = (const char *)k->data.scalar.value;
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
      if (!strcmp((const char *)yaml_document_get_node(doc, q->key)->data.scalar.value, key))
        item_fail(c, kl, "duplicate key '%s'", key);
    Val val = {0};
    StrBuf arr = {0};
    if (v->type == YAML_SCALAR_NODE) {
      val.text = (const char *)v->data.scalar.value;
      val.quoted = v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
      val.null = !val.quoted && (!val.text[0] || !strcmp(val.text, "null") || !strcmp(val.text, "~"));
    } else if (v->type == YAML_SEQUENCE_NODE) {  // [H, W]
      val.array = 1;
      sb_printf(&arr, "%s", "");
      for (yaml_node_item_t *e = v->data.sequence.items.start; e < v->data.sequence.items.top; e++) {
        yaml_node_t *en = yaml_document_get_node(doc, *e);
        sb_printf(&arr, "%s%s", val.count++ ? "x" : "", en->type == YAML_SCALAR_NODE ? (const char *)en->data.scalar.value : "?");
      }
      val.text = arr.s;
    } else {
      item_fail(c, (int)v->start_mark.line + 1, "%s: expected a value, not a mapping", key);
      continue;
    }
    item_set(c, (int)v->start_mark.line + 1, key, &val);
    sb_free(&arr);
  }
  item_finish(c, line);
  return 0;
}

static int read_yaml(PromptList *pl, FILE *fp, ItemCtx *c, TsrErr *err) {
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  if (!yaml_parser_load(&parser, &doc)) {
    tsr_err(err, "%s:%zu: invalid YAML: %s%s%s (a prompt list is a YAML list or JSON Lines)", pl->path,
            parser.problem_mark.line + 1, parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
            parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    return -1;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc), *list = root;
  if (root && root->type == YAML_MAPPING_NODE) {  // {prompts: [...]}
    list = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(&doc, p->key);
      if (k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, "prompts"))
        list = yaml_document_get_node(&doc, p->value);
    }
  }
  int rc = 0;
  if (!list || list->type != YAML_SEQUENCE_NODE)
    rc = tsr_err(err, "%s: expected a YAML list of prompts (- prompt: ...) or JSON Lines ({\"prompt\": ...} per line)",
                 pl->path);
  for (yaml_node_item_t *e = list ? list->data.sequence.items.start : NULL; !rc && e < list->data.sequence.items.top; e++)
    rc = yaml_item(pl, &doc, yaml_document_get_node(&doc, *e), c, err);
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  return rc;
}

typedef struct {
  char name[112];  // the output's file name without .mp4
  const RenderItem *it;
} OutName;

static int by_name(const void *a, const void *b) {
  const OutName *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : x->it->index - y->it->index;
}

// Two items that would write the same file lose the first one's video and
// make every restart render both again: refused before anything is rendered.
static int check_outputs_distinct(const PromptList *pl, TsrErr *err) {
  OutName *v = tsr_calloc((size_t)pl->n, sizeof *v);
  int n = 0;
  for (int i = 0; i < pl->n; i++) {
    const RenderItem *it = &pl->items[i];
    if (it->error[0]) continue;  // fails without writing
    if (it->id) snprintf(v[n].name, sizeof v[n].name, "%s", it->id);
    else snprintf(v[n].name, sizeof v[n].name, "item%05d", it->index);
    v[n++].it = it;
  }
  qsort(v, (size_t)n, sizeof *v, by_name);
  for (int i = 1; i < n; i++) {
    if (strcmp(v[i - 1].name, v[i].name)) continue;
    const RenderItem *a = v[i - 1].it, *b = v[i].it;
    if (a->id && b->id)
      tsr_err(err, "%s: lines %d and %d: the id '%s' is used twice (an item writes <id>.mp4; ids must be unique)",
              pl->path, a->line, b->line, a->id);
    else
      tsr_err(err, "%s: lines %d and %d both write %s.mp4 (an id equals the default name of item %d)", pl->path,
              a->line, b->line, v[i].name, a->id ? b->index : a->index);
    tsr_free(v);
    return -1;
  }
  tsr_free(v);
  return 0;
}

int prompt_list_read(const char *path, PromptList *pl, TsrErr *err) {
  memset(pl, 0, sizeof *pl);
  snprintf(pl->path, sizeof pl->path, "%s", path);
  FILE *fp = fopen(path, "rb");
  if (!fp) return tsr_err(err, "%s: cannot open the prompt list: %s", path, strerror(errno));
  char *buf = NULL;
  size_t len = 0, cap = 0, k;
  char chunk[1 << 16];
  while ((k = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    if (len + k + 1 > cap) {
      cap = 2 * (len + k + 1);
      buf = realloc(buf, cap);
      TSR_ASSERT(buf, "out of memory");
    }
    memcpy(buf + len, chunk, k);
    len += k;
  }
  int rc = 0, at;
  char why[128];
  if (ferror(fp)) rc = tsr_err(err, "%s: cannot read the prompt list", path);
  else if (text_check(buf, len, &at, why, sizeof why))
    rc = tsr_err(err, "%s:%d: %s (a prompt list is UTF-8 text)", path, at, why);
  if (rc) {
    fclose(fp);
    free(buf);
    return -1;
  }
  sha256_hex_of(buf, len, pl->sha256);
  char dir[1024];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else dir[0] = 0;
  ItemCtx c = {.file = path, .dir = dir};
  size_t n = strlen(path), s = 0;
  while (s < len && (buf[s] == ' ' || buf[s] == '\n' || buf[s] == '\t' || buf[s] == '\r')) s++;
  int jsonl = (n > 6 && !strcmp(path + n - 6, ".jsonl")) || (n > 5 && !strcmp(path + n - 5, ".json")) ||
              (s < len && buf[s] == '{');
  if (jsonl) rc = read_jsonl(pl, buf ? buf : "", len, &c, err);
  else {
    rewind(fp);
    rc = read_yaml(pl, fp, &c, err);
  }
  fclose(fp);
  free(buf);
  if (!rc && pl->n == 0) rc = tsr_err(err, "%s: the prompt list is empty", path);
  if (!rc) rc = check_outputs_distinct(pl, err);
  if (rc) prompt_list_free(pl);
  return rc;
}

void prompt_list_free(PromptList *pl) {
  for (int i = 0; i < pl->n; i++) {
    RenderItem *it = &pl->items[i];
    free(it->prompt), free(it->id), free(it->image), free(it->extend), free(it->first), free(it->last), free(it->remix);
  }
  free(pl->items);
  memset(pl, 0, sizeof *pl);
}

// ================================================================== one item
void render_item_key(const RenderItem *it, const RenderSettings *rs, char key[65]) {
  StrBuf b = {0};
  const SamplerFlags *f = &rs->flags;
  sb_printf(&b, "%s|%s|%lld|%d|%dx%d|%s|%s|%s|%s|%s|%g|%d|", it->prompt ? it->prompt : "", it->id ? it->id : "",
            it->seed, it->frames, it->height, it->width, it->image ? it->image : "", it->extend ? it->extend : "",
            it->first ? it->first : "", it->last ? it->last : "", it->remix ? it->remix : "", it->strength,
            it->extend_frames);
  if (it->backward || it->loop || it->new_only)  // only then: earlier manifests' keys stay valid
    sb_printf(&b, "edits %d%d%d|", it->backward, it->loop, it->new_only);
  sb_printf(&b, "%d|%g|%g|%s|%lld|%d|%d|%s", f->steps, f->cfg, f->shift, f->sampler ? f->sampler : "", f->seed,
            rs->upscale, rs->use_ema, rs->ckpt_sha256);
  sha256_hex_of(b.s, b.n, key);
  sb_free(&b);
}

void render_output_path(const RenderItem *it, const char *dir, char *path, int len) {
  const char *ext = it->frames == 1 ? "png" : "mp4";  // one frame: an image (docs/choices.md "Images")
  if (it->id) snprintf(path, (size_t)len, "%s/%s.%s", dir, it->id, ext);
  else snprintf(path, (size_t)len, "%s/item%05d.%s", dir, it->index, ext);
}

int render_item(InferSession *s, const RenderItem *it, const RenderSettings *rs, const char *dir, RenderResult *res,
                TsrErr *err) {
  memset(res, 0, sizeof *res);
  if (it->error[0]) return tsr_err(err, "%s", it->error);
  // the item's size and frames (any shape within the model's maximum), else the maximum's window;
  // with an input video `frames` counts the new frames (generate.h), made in the full window
  const int window_frames = it->extend || it->first || it->last ? 0 : it->frames;  // a remix: as generate's
  if (infer_shape_flags(s, it->height, it->width, window_frames, "render", err)) return -1;
  SamplerOptions so;
  const char *sampler;
  if (pipeline_sampler(s, &rs->flags, "render", &so, &sampler, err)) return -1;
  so.cfg_group = rs->cfg_group;
  char what[64];
  snprintf(what, sizeof what, "item %d (line %d)", it->index, it->line);
  const VideoRequest rq = {.prompt = it->prompt, .what = what, .flag = "",
                           .seed = (uint64_t)(it->seed >= 0 ? it->seed : (long long)so.seed + it->index),
                           .frames = it->frames, .image = it->image, .extend = it->extend, .first = it->first,
                           .last = it->last, .remix = it->remix, .strength = it->strength,
                           .extend_frames = it->extend_frames, .backward = it->backward, .loop = it->loop,
                           .new_only = it->new_only, .upscale = rs->upscale};
  Video v;
  if (pipeline_generate(s, &so, &rq, &v, err)) return -1;
  res->seconds = v.seconds, res->frames = v.n;
  char mp4[1024];
  render_output_path(it, dir, mp4, sizeof mp4);
  int rc = 0;
  if (rs->writer) {
    OutputContext oc = {.ckpt = rs->ckpt, .ckpt_step = (long long)s->state.step, .use_ema = rs->use_ema,
                        .sampler = sampler, .so = &so, .ranks = rs->layout.ranks, .dp = rs->layout.dp,
                        .cfg_parallel = rs->layout.cfg == 2, .sp = rs->layout.sp, .tp = rs->layout.tp,
                        .render_prompts = rs->prompts ? rs->prompts : ""};
    memcpy(oc.ckpt_sha256, rs->ckpt_sha256, sizeof oc.ckpt_sha256);
    rc = pipeline_write(&oc, &rq, &v, mp4, it->index, it->line, &res->out, err);
  } else {  // another rank of the replica writes the files
    output_paths(mp4, &res->out.paths);
  }
  pipeline_video_free(&v);
  return rc;
}
