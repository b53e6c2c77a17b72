// safety_policy_load: the policy YAML (libyaml's document API, so every
// error can name the line and column of the node it is about).
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "infer/safety.h"

typedef struct {
  const char *path;
  yaml_document_t *doc;
  TsrErr *err;
} Ctx;

__attribute__((format(printf, 4, 5))) static int bad(const Ctx *c, const yaml_node_t *n, const char *key,
                                                     const char *fmt, ...) {
  char msg[700];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return tsr_err(c->err, "%s:%zu:%zu: %s: %s", c->path, n->start_mark.line + 1, n->start_mark.column + 1, key, msg);
}

static yaml_node_t *node(const Ctx *c, int id) { return yaml_document_get_node(c->doc, id); }
static const char *scalar(const yaml_node_t *n) { return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL; }
// A mapping key that check_mapping has seen to be a scalar.
static const char *key_of(const Ctx *c, const yaml_node_pair_t *p) {
  const char *k = scalar(node(c, p->key));
  return k ? k : "";
}
static const char *kind(const yaml_node_t *n) {
  return n->type == YAML_MAPPING_NODE ? "a mapping" : n->type == YAML_SEQUENCE_NODE ? "a list" : "a value";
}

// Checks that n is a mapping whose keys are scalars from `keys` (NULL-ended), each once.
static int check_mapping(const Ctx *c, const yaml_node_t *n, const char *key, const char *const *keys,
                         const char *expected) {
  if (n->type != YAML_MAPPING_NODE) return bad(c, n, key, "expected a mapping of %s, got %s", expected, kind(n));
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = node(c, p->key);
    const char *name = scalar(k);
    if (!name) return bad(c, k, key, "expected a key name, got %s", kind(k));
    for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++)
      if (!strcmp(key_of(c, q), name))
        return bad(c, k, key, "'%s' given twice (first at line %zu), expected each key once", name,
                   node(c, q->key)->start_mark.line + 1);
    if (!keys) continue;
    int known = 0;
    for (int i = 0; keys[i]; i++) known |= !strcmp(keys[i], name);
    if (!known) return bad(c, k, key, "unknown key '%s', expected %s", name, expected);
  }
  return 0;
}

static int get_float(const Ctx *c, const yaml_node_t *n, const char *key, float lo, float hi, float *out) {
  const char *s = scalar(n);
  char *end = NULL;
  errno = 0;
  double x = s && *s ? strtod(s, &end) : NAN;
  if (!s || !*s || *end || errno || !isfinite(x) || x < lo || x > hi)
    return bad(c, n, key, "expected a number in [%g, %g], got %s%s%s", lo, hi, s ? "'" : "", s ? s : kind(n), s ? "'" : "");
  *out = (float)x;
  return 0;
}

static int get_text(const Ctx *c, const yaml_node_t *n, const char *key, char **out) {
  const char *s = scalar(n);
  if (!s || !*s) return bad(c, n, key, "expected non-empty text, got %s", s ? "an empty value" : kind(n));
  *out = strdup(s);
  return 0;
}

// A list of non-empty strings (examples) or of rules.
static int get_examples(const Ctx *c, const yaml_node_t *n, const char *key, SafetyExample **out, int *count) {
  if (n->type != YAML_SEQUENCE_NODE) return bad(c, n, key, "expected a list of example prompts, got %s", kind(n));
  int m = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (m == 0) return bad(c, n, key, "expected at least one example prompt, got an empty list");
  *out = calloc((size_t)m, sizeof **out);
  for (int i = 0; i < m; i++) {
    yaml_node_t *e = node(c, n->data.sequence.items.start[i]);
    char k[256];
    snprintf(k, sizeof k, "%s[%d]", key, i);
    if (get_text(c, e, k, &(*out)[i].text)) return -1;
    (*out)[i].line = (int)e->start_mark.line + 1;
    (*count)++;
  }
  return 0;
}

static int get_rules(const Ctx *c, const yaml_node_t *n, const char *key, SafetyCategory *cat) {
  if (n->type != YAML_SEQUENCE_NODE) return bad(c, n, key, "expected a list of rules, got %s", kind(n));
  int m = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
  cat->rules = calloc((size_t)m + 1, sizeof *cat->rules);
  cat->rule_line = calloc((size_t)m + 1, sizeof *cat->rule_line);
  cat->rule_col = calloc((size_t)m + 1, sizeof *cat->rule_col);
  for (int i = 0; i < m; i++) {
    yaml_node_t *e = node(c, n->data.sequence.items.start[i]);
    char k[256];
    snprintf(k, sizeof k, "%s[%d]", key, i);
    const char *s = scalar(e);
    if (!s) return bad(c, e, k, "expected a rule (text: PHRASE [+ PHRASE]... [! PHRASE]...), got %s", kind(e));
    TsrErr why;
    if (safety_rule_compile(&cat->rules[i], s, &why)) return bad(c, e, k, "%s", why.msg);
    cat->rule_line[i] = (int)e->start_mark.line + 1, cat->rule_col[i] = (int)e->start_mark.column + 1;
    cat->nrules++;
  }
  return 0;
}

static int get_category(const Ctx *c, SafetyPolicy *pol, const yaml_node_t *k, const yaml_node_t *v) {
  static const char *const keys[] = {"description", "threshold", "rules", "examples", NULL};
  const char *name = scalar(k);
  size_t len = strlen(name), ok = len > 0 && len < SAFETY_NAME_MAX;
  for (size_t i = 0; i < len; i++)
    ok &= (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '_';
  if (!ok) return bad(c, k, "categories", "'%s': expected a name of a-z, 0-9 and _ (at most %d)", name, SAFETY_NAME_MAX - 1);
  if (pol->ncat == SAFETY_MAX_CATEGORIES)
    return bad(c, k, "categories", "expected at most %d categories", SAFETY_MAX_CATEGORIES);
  SafetyCategory *cat = &pol->cat[pol->ncat++];
  snprintf(cat->name, sizeof cat->name, "%s", name);
  cat->threshold = NAN;
  char key[128];
  snprintf(key, sizeof key, "categories.%s", name);
  if (check_mapping(c, v, key, keys, "description, threshold, rules, examples")) return -1;
  for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
    const char *f = key_of(c, p);
    yaml_node_t *x = node(c, p->value);
    char full[192];
    snprintf(full, sizeof full, "%s.%s", key, f);
    int rc = !strcmp(f, "description") ? get_text(c, x, full, &cat->description)
             : !strcmp(f, "threshold") ? get_float(c, x, full, -1, 1, &cat->threshold)
             : !strcmp(f, "rules")     ? get_rules(c, x, full, cat)
                                       : get_examples(c, x, full, &cat->examples, &cat->nexamples);
    if (rc) return -1;
  }
  if (!cat->description) return bad(c, v, key, "missing 'description', expected a line saying what the category covers");
  if (!cat->nexamples) return bad(c, v, key, "missing 'examples', expected a list of example prompts");
  return 0;
}

static int get_policy(const Ctx *c, SafetyPolicy *pol, yaml_node_t *root) {
  static const char *const keys[] = {"version", "threshold", "margin", "neighbours", "categories", "allowed", NULL};
  static const char *const allowed_keys[] = {"examples", NULL};
  if (!root) return tsr_err(c->err, "%s:1:1: policy: expected a mapping (version, threshold, margin, neighbours, categories, allowed), got an empty file", c->path);
  if (check_mapping(c, root, "policy", keys, "version, threshold, margin, neighbours, categories, allowed")) return -1;
  int version = 0;
  yaml_node_t *cats = NULL;
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
    const char *f = key_of(c, p);
    yaml_node_t *x = node(c, p->value);
    if (!strcmp(f, "version")) {
      if (!scalar(x) || strcmp(scalar(x), "1")) return bad(c, x, "version", "expected 1, got %s%s%s", scalar(x) ? "'" : "", scalar(x) ? scalar(x) : kind(x), scalar(x) ? "'" : "");
      version = 1;
    } else if (!strcmp(f, "threshold")) {
      if (get_float(c, x, "threshold", -1, 1, &pol->threshold)) return -1;
    } else if (!strcmp(f, "margin")) {
      if (get_float(c, x, "margin", -1, 1, &pol->margin)) return -1;
    } else if (!strcmp(f, "neighbours")) {
      float k;
      if (get_float(c, x, "neighbours", 1, SAFETY_MAX_NEIGHBOURS, &k)) return -1;
      if (k != (int)k) return bad(c, x, "neighbours", "expected a whole number in [1, %d], got '%s'", SAFETY_MAX_NEIGHBOURS, scalar(x));
      pol->neighbours = (int)k;
    } else if (!strcmp(f, "categories")) {
      if (check_mapping(c, x, "categories", NULL, "category names, each a mapping")) return -1;
      cats = x;
      for (yaml_node_pair_t *q = x->data.mapping.pairs.start; q < x->data.mapping.pairs.top; q++)
        if (get_category(c, pol, node(c, q->key), node(c, q->value))) return -1;
    } else {
      if (check_mapping(c, x, "allowed", allowed_keys, "examples")) return -1;
      for (yaml_node_pair_t *q = x->data.mapping.pairs.start; q < x->data.mapping.pairs.top; q++)
        if (get_examples(c, node(c, q->value), "allowed.examples", &pol->allowed, &pol->nallowed)) return -1;
    }
  }
  if (!version) return bad(c, root, "policy", "missing 'version', expected version: 1");
  if (!cats || pol->ncat == 0) return bad(c, cats ? cats : root, "categories", "expected at least one category");
  for (int i = 0; i < pol->ncat; i++)
    if (isnan(pol->cat[i].threshold)) {
      if (isnan(pol->threshold))
        return bad(c, root, "threshold", "missing, expected a default threshold (categories.%s gives none)", pol->cat[i].name);
      pol->cat[i].threshold = pol->threshold;
    }
  return 0;
}

int safety_policy_load(const char *path, SafetyPolicy *pol, TsrErr *err) {
  memset(pol, 0, sizeof *pol);
  snprintf(pol->path, sizeof pol->path, "%s", path);
  pol->threshold = NAN;
  pol->neighbours = 1;
  FILE *fp = fopen(path, "rb");
  if (!fp) return tsr_err(err, "%s: cannot open the safety policy (%s), expected a policy YAML (configs/safety/policy.yaml)", path, strerror(errno));
  yaml_parser_t parser;
  yaml_document_t doc;
  yaml_parser_initialize(&parser);
  yaml_parser_set_input_file(&parser, fp);
  int rc = 0;
  if (!yaml_parser_load(&parser, &doc)) {
    rc = tsr_err(err, "%s:%zu:%zu: policy: invalid YAML: %s%s%s", path, parser.problem_mark.line + 1,
                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "syntax error",
                 parser.context ? " " : "", parser.context ? parser.context : "");
    yaml_parser_delete(&parser);
    fclose(fp);
    safety_policy_free(pol);
    return rc;
  }
  Ctx c = {path, &doc, err};
  rc = get_policy(&c, pol, yaml_document_get_root_node(&doc));
  yaml_document_delete(&doc);
  yaml_parser_delete(&parser);
  fclose(fp);
  if (rc) safety_policy_free(pol);
  return rc;
}

static void free_examples(SafetyExample *e, int n) {
  for (int i = 0; i < n; i++) free(e[i].text);
  free(e);
}

void safety_policy_free(SafetyPolicy *pol) {
  for (int i = 0; i < pol->ncat; i++) {
    SafetyCategory *cat = &pol->cat[i];
    for (int r = 0; r < cat->nrules; r++) safety_rule_free(&cat->rules[r]);
    free(cat->rules), free(cat->rule_line), free(cat->rule_col), free(cat->description), free(cat->vec);
    free_examples(cat->examples, cat->nexamples);
  }
  free_examples(pol->allowed, pol->nallowed);
  free(pol->allowed_vec);
  memset(pol, 0, sizeof *pol);
}
