// `tessera eval`: generate every prompt of a suite (configs/eval/shapes.yaml)
// from a checkpoint, score each video against the prompt's ground truth
// (eval_score.c), print a table and write DIR/eval.json (docs/eval.md).
#include "infer/eval.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/parse.h"
#include "core//config.h"
#include "core/error.h"
#include "core/jsonx.h"
#include "core/fs.h"
#include "core/log.h"
#include "core/timer.h"
#include "data/synth.h"
#include "data/tokenizer.h"
#include "media/video_io.h"
#include "infer/pipeline.h"
#include "infer/session.h"

const char *const EVAL_MOTION_SHORT[6] = {"left", "right", "up", "down", "still", "bounce"};

// ------------------------------------------------------------------ suite YAML

typedef struct {
  const char *path;
  char *err;
  int errlen;
} Ctx;

__attribute__((format(printf, 3, 4))) static int fail(Ctx *c, const yaml_node_t *n, const char *fmt, ...) {
  char msg[384];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n)
    snprintf(c->err, (size_t)c->errlen, "%s:%zu:%zu: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1,
             msg);
  else
    snprintf(c->err, (size_t)c->errlen, "%s: %s", c->path, msg);
  return -1;
}

static const char *scalar(const yaml_node_t *n) {
  return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

// Index of v in names[n] (or in alt[n] when given), -1 if absent.
static int lookup(const char *v, const char *const *names, const char *const *alt, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i]) || (alt && !strcmp(v, alt[i]))) return i;
  return -1;
}

static int name_field(Ctx *c, const yaml_node_t *val, const char *item, const char *key, const char *const *names,
                      const char *const *alt, int n, int *out) {
  const char *v = scalar(val);
  int i = v ? lookup(v, names, alt, n) : -1;
  if (i >= 0) {
    *out = i;
    return 0;
  }
  char list[256] = "";
  for (int k = 0; k < n; k++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", alt ? alt[k] : names[k]);
  return fail(c, val, "%s.%s: expected one of %s, got %s%s%s", item, key, list, v ? "'" : "",
              v                                ? v
              : val->type == YAML_MAPPING_NODE ? "a mapping"
                                               : "a sequence",
              v ? "'" : "");
}

static int parse_item(Ctx *c, yaml_document_t *doc, const yaml_node_t *node, int idx, EvalItem *it) {
  char item[32];
  snprintf(item, sizeof item, "items[%d]", idx);
  memset(it, 0, sizeof *it);
  it->colour = it->shape = it->motion = it->colour2 = it->shape2 = it->motion2 = -1;
  it->objects = 1, it->mode = EVAL_T2V, it->background = 0, it->size = 0, it->from = -1;
  it->line = (int)node->start_mark.line + 1;
  if (node->type != YAML_MAPPING_NODE)
    return fail(c, node, "%s: expected a mapping {prompt, colour, shape, motion, ...}", item);
  int have_prompt = 0, have_bg = 0;
  for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = yaml_document_get_node(doc, p->key), *vn = yaml_document_get_node(doc, p->value);
    const char *k = scalar(kn), *v = scalar(vn);
    if (!k) return fail(c, kn, "%s: expected a plain key", item);
    int rc = 0;
    if (!strcmp(k, "prompt")) {
      if (!v || !v[0]) return fail(c, vn, "%s.prompt: expected a non-empty string", item);
      if (strlen(v) >= sizeof it->prompt)
        return fail(c, vn, "%s.prompt: longer than %zu characters", item, sizeof it->prompt - 1);
      snprintf(it->prompt, sizeof it->prompt, "%s", v);
      have_prompt = 1;
    } else if (!strcmp(k, "colour") || !strcmp(k, "color"))
      rc = name_field(c, vn, item, k, SYNTH_COLOURS, NULL, 8, &it->colour);
    else if (!strcmp(k, "shape"))
      rc = name_field(c, vn, item, k, SYNTH_SHAPES, NULL, 3, &it->shape);
    else if (!strcmp(k, "motion"))
      rc = name_field(c, vn, item, k, SYNTH_MOTIONS, EVAL_MOTION_SHORT, 6, &it->motion);
    else if (!strcmp(k, "colour2") || !strcmp(k, "color2"))
      rc = name_field(c, vn, item, k, SYNTH_COLOURS, NULL, 8, &it->colour2);
    else if (!strcmp(k, "from"))
      rc = name_field(c, vn, item, k, SYNTH_COLOURS, NULL, 8, &it->from);
    else if (!strcmp(k, "shape2"))
      rc = name_field(c, vn, item, k, SYNTH_SHAPES, NULL, 3, &it->shape2);
    else if (!strcmp(k, "motion2"))
      rc = name_field(c, vn, item, k, SYNTH_MOTIONS, EVAL_MOTION_SHORT, 6, &it->motion2);
    else if (!strcmp(k, "mode"))
      rc = name_field(c, vn, item, k, EVAL_MODES, NULL, EVAL_NMODES, &it->mode);
    else if (!strcmp(k, "background"))
      rc = name_field(c, vn, item, k, SYNTH_BACKGROUNDS, NULL, 3, &it->background), have_bg = 1;
    else if (!strcmp(k, "size"))
      rc = name_field(c, vn, item, k, SYNTH_SIZES, NULL, 2, &it->size);
    else if (!strcmp(k, "objects")) {
      if (!v || (strcmp(v, "1") && strcmp(v, "2")))
        return fail(c, vn, "%s.objects: expected 1 or 2, got '%s'", item, v ? v : "?");
      it->objects = v[0] - '0';
    } else
      return fail(c, kn,
                  "%s: unknown key '%s' (expected prompt, colour, shape, motion, objects, mode, colour2, shape2, "
                  "motion2, background, size, from)",
                  item, k);
    if (rc) return rc;
  }
  if (!have_prompt) return fail(c, node, "%s: prompt: missing", item);
  if (it->colour < 0) return fail(c, node, "%s: colour: missing", item);
  if (it->shape < 0) return fail(c, node, "%s: shape: missing", item);
  if (it->motion < 0) return fail(c, node, "%s: motion: missing", item);
  if (it->objects == 1 && (it->colour2 >= 0 || it->shape2 >= 0 || it->motion2 >= 0))
    return fail(c, node, "%s: colour2/shape2/motion2 describe a second object: set objects: 2", item);
  if (it->colour2 >= 0 && it->colour2 == it->colour)
    return fail(c, node, "%s: colour2: the two objects must have different colours (both %s)", item,
                SYNTH_COLOURS[it->colour]);
  if (it->mode != EVAL_T2V && it->objects != 1)
    return fail(c, node, "%s: mode %s: conditioning scenes hold one object (objects: 1)", item, EVAL_MODES[it->mode]);
  if (have_bg && (it->mode == EVAL_T2V || it->mode == EVAL_LOOP || it->mode == EVAL_IMAGE))
    return fail(c, node, "%s: background: only for modes with an input scene (not t2v, loop or image)", item);
  if (it->from >= 0 && it->mode != EVAL_REMIX)
    return fail(c, node, "%s: from: the source colour of a remix (mode: remix)", item);
  if (it->from >= 0 && it->from == it->colour)
    return fail(c, node, "%s: from: a remix changes the colour (from and colour are both %s)", item,
                SYNTH_COLOURS[it->colour]);
  return 0;
}

int eval_suite_load(const char *path, EvalSuite *s, char *err, int errlen) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  Ctx c = {path, err, errlen};
  struct stat st;
  FILE *fp = NULL;
  if (!stat(path, &st) && S_ISDIR(st.st_mode))
    errno = EISDIR;
  else
    fp = fopen(path, "rb");
  if (!fp) return fail(&c, NULL, "cannot open the eval suite: %s", strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  int rc = 0;
  if (!yaml_parser_load(&parser, &doc)) {
    snprintf(err, (size_t)errlen, "%s:%zu:%zu: invalid YAML: %s%s%s", path, parser.problem_mark.line + 1,
             parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
             parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    fclose(fp);
    return -1;
  }
  yaml_node_t *root = yaml_document_get_root_node(&doc), *items = root;
  if (!root) {
    rc = -1;
    snprintf(err, (size_t)errlen, "%s:1:1: expected a list of items (or a mapping with 'items'), got an empty file",
             path);
    goto done;
  }
  if (root->type == YAML_MAPPING_NODE) {
    items = NULL;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
      yaml_node_t *kn = yaml_document_get_node(&doc, p->key), *vn = yaml_document_get_node(&doc, p->value);
      const char *k = scalar(kn);
      if (k && !strcmp(k, "items"))
        items = vn;
      else if (k && !strcmp(k, "name") && scalar(vn))
        snprintf(s->name, sizeof s->name, "%s", scalar(vn));
      else {
        rc = fail(&c, kn, "unknown key '%s' (expected name, items)", k ? k : "?");
        goto done;
      }
    }
    if (!items) {
      rc = fail(&c, root, "items: missing (a list of {prompt, colour, shape, motion, ...})");
      goto done;
    }
  }
  if (items->type != YAML_SEQUENCE_NODE) {
    rc = fail(&c, items, "items: expected a list of {prompt, colour, shape, motion, ...}");
    goto done;
  }
  int n = (int)(items->data.sequence.items.top - items->data.sequence.items.start);
  if (n == 0) {
    rc = fail(&c, items, "items: the list is empty");
    goto done;
  }
  s->items = calloc((size_t)n, sizeof(EvalItem));
  for (int i = 0; i < n && !rc; i++) {
    yaml_node_t *in = yaml_document_get_node(&doc, items->data.sequence.items.start[i]);
    rc = parse_item(&c, &doc, in, i, &s->items[i]);
  }
  s->n = rc ? 0 : n;
  if (rc) {
    free(s->items);
    s->items = NULL;
  }
  if (!s->name[0]) {
    const char *b = strrchr(path, '/');
    snprintf(s->name, sizeof s->name, "%s", b ? b + 1 : path);
  }
done:
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(fp);
  return rc;
}

void eval_suite_free(EvalSuite *s) {
  free(s->items);
  s->items = NULL;
  s->n = 0;
}
