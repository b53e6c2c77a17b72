// Config loading: libyaml's document API gives a node tree with marks; we walk
// it against the schema (config_schema.c), remembering where each key was set
// so that every later check can name FILE:LINE:COL. Overrides "a.b=v" parse v
// as a YAML value and go through the same walk, located at "command line".
// Every text is read whole (at most CFG_MAX_BYTES) and checked first by a pass
// over libyaml's event stream (nesting depth, one document, explicit tags):
// libyaml's scanner slows down quadratically with flow nesting, so a file of
// 200 KB of '[' took minutes before its error.
#include "core/config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "core/config_schema.h"
#include "core/error.h"

#define LOC_MAX (CFG_STR_MAX + 32)
#define CMDLINE "command line"
#define CFG_MAX_BYTES (1 << 20)  // a config is a few KB
#define CFG_MAX_DEPTH 32         // the schema nests 4 levels
#define MAX_TAGGED 64

// The text of one source and what the event pass found in it.
typedef struct {
  const char *name;  // file name, or the display name given to config_load_text
  const char *key;   // an override's key (NULL for files): errors are "command line: KEY: ..."
  const unsigned char *data;
  size_t len;
  size_t tagged[MAX_TAGGED];  // byte offsets of scalars with an explicit tag ("!!str 5")
  int ntagged;
} Text;

typedef struct {
  Config *c;
  char (*loc)[LOC_MAX];  // per schema row: where it was last set, "" = default
  char model_loc[LOC_MAX];  // where the model section starts (for missing keys)
  bool have_model;
} Loader;

typedef struct {
  const char *file;  // name in messages; CMDLINE for overrides
  char dir[CFG_STR_MAX];  // directory that relative model paths start from
  yaml_document_t *doc;
  const Text *text;
  bool model_file;  // a file named by `model: PATH`
  bool cmdline;     // an override value: every location is "command line"
} Source;

// What a load holds (libyaml parsers and documents, buffers), released before
// a user error leaves: a caller that does not exit on it (the fuzz harness,
// tests/fuzz) loses nothing. A stack: each is released where it was taken.
typedef enum { HELD_PARSER, HELD_DOC, HELD_MEM } HeldKind;
static struct {
  HeldKind kind;
  void *p;
} held[16];
static int nheld;

static void *hold(HeldKind kind, void *p) {
  TSR_ASSERT(nheld < (int)(sizeof held / sizeof held[0]), "config: too many nested loads");
  held[nheld].kind = kind, held[nheld++].p = p;
  return p;
}

static void release(void) {
  TSR_ASSERT(nheld > 0, "config: release without hold");
  void *p = held[--nheld].p;
  if (held[nheld].kind == HELD_PARSER) yaml_parser_delete(p);
  else if (held[nheld].kind == HELD_DOC) yaml_document_delete(p);
  else tsr_free(p);
}

// Errors end the load from deep inside the parser: user_error releases what
// the load holds and jumps back to the public function that started it
// (config_load, config_load_text), which returns -1 with the message. With no
// load in progress (model_config_finalize on a config built in code) the
// mistake is the program's: tsr_fatal.
static _Thread_local jmp_buf *t_catch;
static _Thread_local char t_msg[1024];

// The message with control characters escaped ("\n", "\x01"): messages
// quote keys, values and names from the input, and stay one line.
__attribute__((format(printf, 1, 2))) _Noreturn static void user_error(const char *fmt, ...) {
  char msg[1024], out[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t o = 0;
  for (const unsigned char *p = (const unsigned char *)msg; *p && o + 5 < sizeof out; p++) {
    if (*p == '\n') o += (size_t)snprintf(out + o, sizeof out - o, "\\n");
    else if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", *p);
    else out[o++] = (char)*p;
  }
  out[o] = 0;
  while (nheld > 0) release();
  if (!t_catch) tsr_fatal(__FILE__, __LINE__, "config", "%s", out);
  snprintf(t_msg, sizeof t_msg, "%s", out);
  longjmp(*t_catch, 1);
}

// One line "tessera: error: LOC: KEY: message", exit code 2.
__attribute__((format(printf, 3, 4))) _Noreturn static void fail(const char *loc, const char *key, const char *fmt,
                                                                  ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (key) user_error("%s: %s: %s", loc, key, msg);
  user_error("%s: %s", loc, msg);
}

static const char *where(const Source *s, const yaml_node_t *n, char *buf) {
  if (s->cmdline) return CMDLINE;
  snprintf(buf, LOC_MAX, "%s:%zu:%zu", s->file, n->start_mark.line + 1, n->start_mark.column + 1);
  return buf;
}

static const char *text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static bool quoted(const yaml_node_t *n) { return n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE; }

// What a node is, for "got ..." in messages.
static const char *describe(const yaml_node_t *n, char *buf, size_t size) {
  if (n->type == YAML_MAPPING_NODE) return "a mapping";
  if (n->type == YAML_SCALAR_NODE) snprintf(buf, size, "'%.60s'", text(n));
  else {
    long len = (long)(n->data.sequence.items.top - n->data.sequence.items.start);
    snprintf(buf, size, "a sequence of %ld item%s", len, len == 1 ? "" : "s");
  }
  return buf;
}

// Lexical join + normalisation ("configs/train/../model/x.yaml" -> "configs/model/x.yaml").
// False when the result does not fit.
static bool join_path(char *out, size_t n, const char *dir, const char *rel) {
  char tmp[2 * CFG_STR_MAX + 2], *parts[128];
  int np = 0;
  snprintf(tmp, sizeof tmp, "%s%s%s", rel[0] == '/' ? "" : dir, rel[0] == '/' || !dir[0] ? "" : "/", rel);
  bool absolute = tmp[0] == '/';
  for (char *save, *p = strtok_r(tmp, "/", &save); p && np < 128; p = strtok_r(NULL, "/", &save)) {
    if (!strcmp(p, ".")) continue;
    if (!strcmp(p, "..") && np > 0 && strcmp(parts[np - 1], "..")) np--;
    else parts[np++] = p;
  }
  size_t used = (size_t)snprintf(out, n, "%s", absolute ? "/" : "");
  for (int i = 0; i < np && used < n; i++)
    used += (size_t)snprintf(out + used, n - used, "%s%s", i ? "/" : "", parts[i]);
  return used < n && strlen(rel) < n;
}

static void walk_mapping(Loader *L, const Source *s, const char *group, yaml_node_t *n);
static void load_file(Loader *L, const char *path, const char *ref_loc, bool model_file);

// A scalar's explicit tag ("!!str 5": "tag:yaml.org,2002:str"), NULL without one.
static const char *explicit_tag(const Source *s, const yaml_node_t *n) {
  for (int i = 0; i < s->text->ntagged; i++)
    if (s->text->tagged[i] == n->start_mark.index) return (const char *)n->tag;
  return NULL;
}

// An explicit tag is respected: !!str makes a string (as quotes do), !!int and
// !!float a number of that kind; any other tag is refused.
static bool tag_fits(const Field *f, const char *tag) {
  bool str = f->type == FT_STR || f->type == FT_ENUM;
  if (!strcmp(tag, YAML_STR_TAG) || !strcmp(tag, "!")) return str;
  if (!strcmp(tag, YAML_INT_TAG)) return !str;
  return !strcmp(tag, YAML_FLOAT_TAG) && f->type == FT_FLOAT;
}

static void set_field(Loader *L, const Source *s, const Field *f, yaml_node_t *n) {
  char buf[LOC_MAX], err[512], got[96];
  const char *loc = where(s, n, buf);
  bool triple = f->type == FT_INT3;  // a sequence of 3 scalars, else one scalar
  if (triple ? n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top - n->data.sequence.items.start != 3
             : n->type != YAML_SCALAR_NODE) {
    cfg_expected(f, err, sizeof err);
    fail(loc, f->key, "expected %s, got %s", err, describe(n, got, sizeof got));
  }
  for (int i = 0; i < (triple ? 3 : 1); i++) {
    yaml_node_t *it = triple ? yaml_document_get_node(s->doc, n->data.sequence.items.start[i]) : n;
    if (it->type != YAML_SCALAR_NODE)
      fail(where(s, it, buf), f->key, "expected an integer, got %s", describe(it, got, sizeof got));
    if (strlen(text(it)) != it->data.scalar.length)
      fail(where(s, it, buf), f->key, "expected text without NUL bytes");
    const char *tag = explicit_tag(s, it);
    if (tag && !tag_fits(f, tag)) {
      cfg_expected(f, err, sizeof err);
      bool core = !strncmp(tag, "tag:yaml.org,2002:", 18);
      fail(where(s, it, buf), f->key, "expected %s, got '%.60s' tagged %s%s", err, text(it), core ? "!!" : "",
           core ? tag + 18 : tag);
    }
    bool str = quoted(it) || (tag && (f->type == FT_STR || f->type == FT_ENUM));  // tag_fits: a !!str tag
    if (!cfg_parse(f, L->c, i, text(it), str, err, sizeof err))
      fail(where(s, it, buf), f->key, "%s", err);
  }
  snprintf(L->loc[f - cfg_fields], LOC_MAX, "%s", loc);
}

// `model:` is a mapping, or (outside model files) a path to a model file.
static void set_model(Loader *L, const Source *s, yaml_node_t *n) {
  char buf[LOC_MAX], path[CFG_STR_MAX], got[96];
  const char *loc = where(s, n, buf);
  bool is_path = n->type == YAML_SCALAR_NODE && !s->model_file;
  if (is_path && (!text(n)[0] || (!quoted(n) && (!strcmp(text(n), "~") || !strcmp(text(n), "null")))))
    fail(loc, "model", "expected a mapping or a path to a model file, got an empty value");
  if (is_path) {
    if (!join_path(path, sizeof path, s->dir, text(n)))
      fail(loc, "model", "expected a path of at most %d characters", CFG_STR_MAX - 1);
    struct stat st;
    if (!path[0] || (!stat(path, &st) && S_ISDIR(st.st_mode)))
      fail(loc, "model", "expected a mapping or a path to a model file, got '%.60s', a directory ('%s')", text(n),
           path[0] ? path : ".");
    L->c->model = (ModelConfig){0};  // a model file replaces the whole section
    L->have_model = false;
    for (int i = 0; i < cfg_nfields; i++)
      if (!strncmp(cfg_fields[i].key, "model.", 6)) L->loc[i][0] = 0;
    load_file(L, path, loc, true);
    return;
  }
  if (n->type != YAML_MAPPING_NODE)
    fail(loc, "model", "expected a mapping%s, got %s",
         s->model_file ? " (a model file cannot name another one)" : " or a path to a model file",
         describe(n, got, sizeof got));
  L->have_model = true;
  snprintf(L->model_loc, LOC_MAX, "%s", loc);
  walk_mapping(L, s, "model", n);
}

static void check_key(const Source *s, const char *group, yaml_node_t *k, const char *full) {
  char buf[LOC_MAX], hint[900];
  if (s->model_file && !group[0] && strcmp(full, "model"))
    fail(where(s, k, buf), full, "unknown key (a model file holds only a 'model:' mapping)");
  if (cfg_field(full) || cfg_is_group(full)) return;
  cfg_unknown_hint(group, text(k), hint, sizeof hint);
  fail(where(s, k, buf), full, "unknown key (%s)", hint);
}

// Apply node n to `key`: a field, the model section, or a sub-mapping.
static void walk(Loader *L, const Source *s, const char *key, yaml_node_t *n) {
  char buf[LOC_MAX], hint[900], got[96];
  const Field *f = cfg_field(key);
  if (f) return set_field(L, s, f, n);
  if (!strcmp(key, "model")) return set_model(L, s, n);
  if (n->type != YAML_MAPPING_NODE) {
    cfg_unknown_hint(key, "", hint, sizeof hint);
    fail(where(s, n, buf), key, "expected a mapping (%s), got %s", hint, describe(n, got, sizeof got));
  }
  walk_mapping(L, s, key, n);
}

// A mapping at `group` ("" = top level): check each key, then apply its value.
static void walk_mapping(Loader *L, const Source *s, const char *group, yaml_node_t *n) {
  char buf[LOC_MAX], full[256], got[96];
  yaml_node_pair_t *pairs = n->data.mapping.pairs.start;
  for (yaml_node_pair_t *p = pairs; p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(s->doc, p->key);
    if (k->type != YAML_SCALAR_NODE)
      fail(where(s, k, buf), group[0] ? group : "(top level)", "expected a plain key, got %s",
           describe(k, got, sizeof got));
    snprintf(full, sizeof full, "%s%s%s", group, group[0] ? "." : "", text(k));
    for (yaml_node_pair_t *q = pairs; q < p; q++) {
      yaml_node_t *prev = yaml_document_get_node(s->doc, q->key);
      if (prev->type == YAML_SCALAR_NODE && !strcmp(text(prev), text(k)))
        fail(where(s, k, buf), full, "duplicate key (first given at line %zu)", prev->start_mark.line + 1);
    }
    check_key(s, group, k, full);
    walk(L, s, full, yaml_document_get_node(s->doc, p->value));
  }
}

// Where a problem found while parsing `t` is: "FILE:L:C: " or "command line: KEY: ".
__attribute__((format(printf, 3, 4))) _Noreturn static void text_error(const Text *t, yaml_mark_t m,
                                                                       const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (t->key) fail(CMDLINE, t->key, "%s", msg);
  user_error("%s:%zu:%zu: %s", t->name, m.line + 1, m.column + 1, msg);
}

_Noreturn static void syntax_error(const Text *t, const yaml_parser_t *p) {
  const char *problem = p->problem ? p->problem : "unknown problem";
  if (t->key) fail(CMDLINE, t->key, "invalid YAML value '%.*s': %s", (int)t->len, (const char *)t->data, problem);
  text_error(t, p->problem_mark, "invalid YAML: %s%s%s", problem, p->context ? " " : "", p->context ? p->context : "");
}

// The event pass, before libyaml builds the document: refuses nesting deeper
// than CFG_MAX_DEPTH and a second document, and notes explicitly tagged
// scalars (the document API gives "!!str 5" and a plain 5 the same tag).
static void check_events(Text *t) {
  yaml_parser_t p;
  yaml_event_t ev;
  int depth = 0, docs = 0;
  yaml_parser_initialize(hold(HELD_PARSER, &p));
  yaml_parser_set_input_string(&p, t->data, t->len);
  for (bool end = false; !end;) {
    if (!yaml_parser_parse(&p, &ev)) syntax_error(t, &p);
    switch (ev.type) {
      case YAML_DOCUMENT_START_EVENT:
        if (++docs > 1)
          text_error(t, ev.start_mark, "expected one YAML %s, found a second %s", t->key ? "value" : "document",
                     t->key ? "document" : "one");
        break;
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT:
        if (++depth > CFG_MAX_DEPTH)
          text_error(t, ev.start_mark, "expected at most %d nested levels of sequences and mappings, got more",
                     CFG_MAX_DEPTH);
        break;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: depth--; break;
      case YAML_SCALAR_EVENT:
        if (!ev.data.scalar.tag) break;
        if (t->ntagged == MAX_TAGGED)
          text_error(t, ev.start_mark, "expected at most %d values with an explicit tag, got more", MAX_TAGGED);
        t->tagged[t->ntagged++] = ev.start_mark.index;
        break;
      case YAML_STREAM_END_EVENT: end = true; break;
      default: break;
    }
    yaml_event_delete(&ev);
  }
  release();  // p
}

// Parse t (exactly one document, checked by check_events first) into doc,
// held: the caller releases it.
static void parse_text(Text *t, yaml_document_t *doc) {
  if (t->len > CFG_MAX_BYTES)
    text_error(t, (yaml_mark_t){0}, "expected at most %d bytes of YAML (a config is a few KB), got %zu",
               CFG_MAX_BYTES, t->len);
  check_events(t);
  yaml_parser_t parser;
  yaml_parser_initialize(hold(HELD_PARSER, &parser));
  yaml_parser_set_input_string(&parser, t->data, t->len);
  if (!yaml_parser_load(&parser, doc)) syntax_error(t, &parser);
  release();  // parser
  hold(HELD_DOC, doc);  // the caller releases it
}

// The whole file, at most CFG_MAX_BYTES + 1 bytes of it (a pipe works too).
static unsigned char *read_all(const char *path, const char *ref_loc, size_t *len) {
  struct stat st;
  FILE *fp = NULL;
  if (!stat(path, &st) && S_ISDIR(st.st_mode)) errno = EISDIR;  // fopen would open it
  else fp = fopen(path, "rb");
  if (!fp && ref_loc) fail(ref_loc, "model", "cannot open model file '%s': %s", path, strerror(errno));
  if (!fp) user_error("%s: cannot open config file: %s", path, strerror(errno));
  unsigned char *buf = hold(HELD_MEM, tsr_calloc(CFG_MAX_BYTES + 2, 1));  // the caller releases it
  *len = fread(buf, 1, CFG_MAX_BYTES + 1, fp);
  if (ferror(fp)) user_error("%s: cannot read: %s", path, strerror(errno));
  fclose(fp);
  return buf;
}

// Apply one parsed config text (a file, or a stored config given by name).
static void load_text(Loader *L, Text *t, bool model_file) {
  yaml_document_t doc;
  parse_text(t, &doc);
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  Source s = {.file = t->name, .doc = &doc, .text = t, .model_file = model_file};
  const char *path = t->name, *slash = strrchr(path, '/');  // s.dir = the directory part ("" for the cwd)
  size_t dlen = !slash ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (dlen >= sizeof s.dir) dlen = 0;
  memcpy(s.dir, path, dlen);
  s.dir[dlen] = 0;
  if (!root || root->type != YAML_MAPPING_NODE)
    user_error("%s:%zu:%zu: expected a mapping of sections (%s), got %s", path,
               root ? root->start_mark.line + 1 : 1, root ? root->start_mark.column + 1 : 1,
               model_file ? "model" : "model, train, data, parallel, sample, run",
               !root ? "an empty file" : root->type == YAML_SEQUENCE_NODE ? "a sequence" : "a scalar");
  walk_mapping(L, &s, "", root);
  if (model_file && !L->have_model)
    user_error("%s:1:1: model: missing (a model file holds a 'model:' mapping)", path);
  release();  // doc
}

// Parse one YAML file (exactly one document) and apply it.
static void load_file(Loader *L, const char *path, const char *ref_loc, bool model_file) {
  Text t = {.name = path};
  unsigned char *data = read_all(path, ref_loc, &t.len);
  t.data = data;
  load_text(L, &t, model_file);
  release();  // data
}

// Hint for an unknown override key, relative to its longest valid group.
_Noreturn static void unknown_override(const char *key) {
  char group[256] = "", name[256], hint[900];
  const char *rest = key;
  for (const char *d = strchr(key, '.'); d; d = strchr(d + 1, '.')) {
    snprintf(name, sizeof name, "%.*s", (int)(d - key), key);
    if (!cfg_is_group(name)) break;
    snprintf(group, sizeof group, "%s", name);
    rest = d + 1;
  }
  snprintf(name, sizeof name, "%.*s", (int)strcspn(rest, "."), rest);
  cfg_unknown_hint(group, name, hint, sizeof hint);
  fail(CMDLINE, key, "unknown key (%s)", hint);
}

// "a.b=value": the value is parsed as YAML ("[1,2,2]", "1e-3"), except for
// strings and enums, which take the text as it is (paths may hold '#' or ': ').
static void apply_override(Loader *L, const char *arg) {
  const char *eq = strchr(arg, '=');
  char key[256];
  if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof key)
    fail(CMDLINE, NULL, "'%s': expected key=value (e.g. train.lr=1e-3)", arg);
  snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
  const char *value = eq + 1;
  const Field *f = cfg_field(key);
  if (!f && !cfg_is_group(key) && strcmp(key, "model")) unknown_override(key);
  if (f && (f->type == FT_STR || f->type == FT_ENUM)) {
    char err[512];
    if (!cfg_parse(f, L->c, 0, value, false, err, sizeof err)) fail(CMDLINE, key, "%s", err);
    snprintf(L->loc[f - cfg_fields], LOC_MAX, CMDLINE);
    return;
  }
  Text t = {.name = CMDLINE, .key = key, .data = (const unsigned char *)value, .len = strlen(value)};
  yaml_document_t doc;
  parse_text(&t, &doc);
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) fail(CMDLINE, key, "expected a value after '=', got nothing");
  Source s = {.file = CMDLINE, .doc = &doc, .text = &t, .cmdline = true};  // model paths: relative to cwd
  walk(L, &s, key, root);
  release();  // doc
}

// ---------------------------------------------------------------- validation

// Where a key was last set; `fallback` when it still holds its default.
static const char *loc_of(const Loader *L, const char *key, const char *fallback) {
  const Field *f = cfg_field(key);
  return f && L->loc[f - cfg_fields][0] ? L->loc[f - cfg_fields] : fallback;
}

typedef struct {
  const Loader *L;    // config_load: each key's own location
  const char *fixed;  // model_config_finalize: one location for all
} Where;

__attribute__((format(printf, 4, 5))) static void need(bool ok, const Where *w, const char *key, const char *fmt,
                                                       ...) {
  if (ok) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fail(w->fixed ? w->fixed : loc_of(w->L, key, w->L->model_loc), key, "%s", msg);
}

static void check_rope(ModelConfig *m, const Where *w) {
  int hd = m->head_dim, *r = m->rope;
  if (!r[0] && !r[1] && !r[2]) {  // default split: 64 -> 16/24/24
    r[1] = r[2] = 2 * (3 * hd / 16);
    r[0] = hd - 2 * r[1];
    need(r[1] >= 2, w, "model.dim", "expected head_dim = dim/heads >= 6 for the default RoPE split, got %d "
         "(or set model.rope)", hd);
    return;
  }
  need(r[0] % 2 == 0 && r[1] % 2 == 0 && r[2] % 2 == 0 && r[0] + r[1] + r[2] == hd, w, "model.rope",
       "expected 3 even integers summing to head_dim = %d, got [%d, %d, %d]", hd, r[0], r[1], r[2]);
}

static void finalize_at(ModelConfig *m, const Where *w) {
  char err[512];
  if (m->freq_dim == 0) m->freq_dim = 256;
  if (!m->predict[0]) strcpy(m->predict, "v");
  if (!m->text_encoder[0]) strcpy(m->text_encoder, "learned");
  bool derive_rope = !m->rope[0] && !m->rope[1] && !m->rope[2];
  Config tmp = {.model = *m};
  for (const Field *f = cfg_fields; f < cfg_fields + cfg_nfields; f++) {
    if (strncmp(f->key, "model.", 6) || (derive_rope && !strcmp(f->key, "model.rope"))) continue;
    need(cfg_check(f, &tmp, err, sizeof err), w, f->key, "%s", err);
  }
  const int size[3] = {m->frames, m->height, m->width}, patch[3] = {m->pt, m->ph, m->pw};
  static const char *const keys[3] = {"model.video.frames", "model.video.height", "model.video.width"};
  for (int a = 0; a < 3; a++)
    need(size[a] % patch[a] == 0, w, keys[a], "expected a multiple of the patch size p%c = %d, got %d", "thw"[a],
         patch[a], size[a]);
  need(m->dim % m->heads == 0, w, "model.dim", "expected a multiple of model.heads (%d), got %d", m->heads, m->dim);
  m->head_dim = m->dim / m->heads;
  need(m->head_dim % 2 == 0, w, "model.dim", "expected an even head_dim = dim/heads (RoPE rotates pairs), "
       "got %d/%d = %d", m->dim, m->heads, m->head_dim);
  need(m->freq_dim % 2 == 0, w, "model.freq_dim", "expected an even integer (cos half, sin half), got %d",
       m->freq_dim);
  check_rope(m, w);
  m->grid_t = m->frames / m->pt, m->grid_h = m->height / m->ph, m->grid_w = m->width / m->pw;
  long long n = (long long)m->grid_t * m->grid_h * m->grid_w, p = (long long)m->pt * m->ph * m->pw * m->channels;
  need(n <= 1 << 30, w, "model.video.frames", "expected at most 2^30 tokens (T/pt)(H/ph)(W/pw), got %lld", n);
  need(p <= 1 << 30, w, "model.patch", "expected a patch size pt*ph*pw*channels <= 2^30, got %lld", p);
  m->tokens = (int)n, m->patch_dim = (int)p;
  m->predict_x = !strcmp(m->predict, "x");
  m->text_minilm = !strcmp(m->text_encoder, "minilm");
  m->text_width = m->text_minilm ? MINILM_WIDTH : m->dim;
  need(!m->text_minilm || m->text_layers == 0, w, "model.text.layers",
       "expected 0 with model.text.encoder: minilm (the pretrained encoder replaces the model's own text layers), "
       "got %d", m->text_layers);
  need(!m->text_minilm || m->text_length >= 2, w, "model.text.length",
       "expected at least 2 with the minilm encoder ([CLS] and [SEP]), got %d", m->text_length);
}

int model_config_finalize(ModelConfig *m, const char *where, TsrErr *err) {
  jmp_buf jb, *outer = t_catch;
  if (setjmp(jb)) {
    t_catch = outer;
    return tsr_err(err, "%s", t_msg);
  }
  t_catch = &jb;
  Where w = {.fixed = where};
  finalize_at(m, &w);
  t_catch = outer;
  return 0;
}

// The string choices (each checked against its ENUM list by the schema) as values.
static void choices(Config *c) {
  c->train.freeze_text = !strcmp(c->train.text_encoder, "frozen");
  c->train.recompute_mode = !strcmp(c->train.recompute, "block")       ? CFG_RECOMPUTE_BLOCK
                            : !strcmp(c->train.recompute, "attention") ? CFG_RECOMPUTE_ATTENTION
                                                                       : CFG_RECOMPUTE_NONE;
  c->sample.heun = !strcmp(c->sample.sampler, "heun");
  c->run.cuda = !strcmp(c->run.device, "cuda");
}

// Checks that involve keys of several sections.
static void check_cross(const Loader *L, const char *top) {
  const Config *c = L->c;
  const TrainConfig *t = &c->train;
  const char *lr_loc = loc_of(L, "train.lr", top);
  if (t->min_lr > t->lr)
    fail(loc_of(L, "train.min_lr", lr_loc), "train.min_lr", "expected a number <= train.lr (%g), got %g", t->lr,
         t->min_lr);
  if (!(t->p_cond_none + t->p_cond_first + t->p_cond_prefix + t->p_cond_ends + t->p_cond_random > 0))
    fail(loc_of(L, "train.p_cond_none", top), "train.p_cond_none",
         "expected the p_cond_* weights to sum to > 0, got all 0");
  const ParallelConfig *par = &c->parallel;
  if (par->sp % par->ring)
    fail(loc_of(L, "parallel.ring", top), "parallel.ring",
         "expected a divisor of parallel.sp (%d; sp = Ulysses degree x ring degree), got %d", par->sp, par->ring);
  const int ulysses = par->sp / par->ring;  // ring attention needs no head split
  const char *key = c->model.heads % par->tp ? "parallel.tp" : "parallel.sp";
  if (c->model.heads % ((long long)par->tp * ulysses) && par->ring == 1)
    fail(loc_of(L, key, loc_of(L, "model.heads", top)), key,
         "expected tp*sp (%d*%d) to divide model.heads (%d) (or parallel.ring > 1: ring attention splits no heads)",
         par->tp, par->sp, c->model.heads);
  if (c->model.heads % ((long long)par->tp * ulysses))
    fail(loc_of(L, key, loc_of(L, "model.heads", top)), key,
         "expected tp*sp/ring (%d*%d/%d) to divide model.heads (%d)", par->tp, par->sp, par->ring, c->model.heads);
  if (c->model.tokens % par->sp)
    fail(loc_of(L, "parallel.sp", top), "parallel.sp", "expected a divisor of the token count N = %d, got %d",
         c->model.tokens, par->sp);
}

void config_defaults(Config *c) {
  *c = (Config){0};
  c->train = (TrainConfig){.steps = 100, .batch = 4, .accum = 1, .lr = 3e-4f, .min_lr = 3e-5f, .weight_decay = 0.0f,
                           .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .grad_clip = 1.0f, .warmup = 10,
                           .ema_decay = 0.999f, .log_every = 10, .ckpt_every = 0, .keep_ckpts = 3,
                           .out = "runs/default", .resume = "", .init_from = "", .seed = 0, .t_logit_mean = 0.0f,
                           .t_logit_std = 1.0f, .p_cond_none = 0.6f, .p_cond_first = 0.15f,
                           .p_cond_prefix = 0.1f, .p_cond_ends = 0.1f, .p_cond_random = 0.05f,
                           .max_bad_steps = 5, .text_encoder = "trained",
                           .recompute = "none"};
  c->data = (DataConfig){.path = "", .p_recaption = 0.9f, .p_drop = 0.1f, .prefetch = 2};
  c->parallel = (ParallelConfig){.tp = 1, .sp = 1, .dp = 1, .ring = 1};
  c->sample = (SampleConfig){.steps = 30, .cfg = 4.0f, .shift = 1.0f, .sampler = "euler", .seed = 0};
  c->run = (RunConfig){.device = "cpu", .precision = "fp32", .threads = 0};
}

// config_load and config_load_text: `text` NULL reads the file `path`.
static void load(Config *c, const char *path, const char *text, size_t len, int noverrides, char **overrides) {
  config_defaults(c);
  if (strlen(path) >= sizeof c->path)
    user_error("%.80s...: config path longer than %d characters", path, CFG_STR_MAX - 1);
  snprintf(c->path, sizeof c->path, "%s", path);
  Loader L = {.c = c, .loc = hold(HELD_MEM, tsr_calloc((size_t)cfg_nfields, LOC_MAX))};
  if (text) {
    Text t = {.name = path, .data = (const unsigned char *)text, .len = len};
    load_text(&L, &t, false);
  } else {
    load_file(&L, path, NULL, false);
  }
  for (int i = 0; i < noverrides; i++) apply_override(&L, overrides[i]);
  char top[LOC_MAX], want[128];
  snprintf(top, sizeof top, "%s:1:1", path);
  if (!L.have_model)
    fail(top, "model", "missing section (expected a mapping, or a path to a model file such as ../model/tiny.yaml)");
  for (int i = 0; i < cfg_nfields; i++) {
    if (!(cfg_fields[i].flags & FF_REQUIRED) || L.loc[i][0]) continue;
    cfg_expected(&cfg_fields[i], want, sizeof want);
    fail(L.model_loc, cfg_fields[i].key, "missing (expected %s)", want);
  }
  Where w = {.L = &L};
  finalize_at(&c->model, &w);
  check_cross(&L, top);
  choices(c);
  release();  // L.loc
}

static int load_catching(Config *c, const char *path, const char *text, size_t len, int noverrides, char **overrides,
                         TsrErr *err) {
  jmp_buf jb, *outer = t_catch;
  if (setjmp(jb)) {
    t_catch = outer;
    return tsr_err(err, "%s", t_msg);
  }
  t_catch = &jb;
  load(c, path, text, len, noverrides, overrides);
  t_catch = outer;
  return 0;
}

int config_load(Config *c, const char *path, int noverrides, char **overrides, TsrErr *err) {
  return load_catching(c, path, NULL, 0, noverrides, overrides, err);
}

int config_load_text(Config *c, const char *name, const char *text, size_t len, TsrErr *err) {
  return load_catching(c, name, text, len, 0, NULL, err);
}

// ---------------------------------------------------------------- printing

static int split_key(const char *key, char *buf, size_t n, char **parts) {
  int np = 0;
  snprintf(buf, n, "%s", key);
  for (char *save, *p = strtok_r(buf, ".", &save); p && np < 4; p = strtok_r(NULL, ".", &save)) parts[np++] = p;
  return np;
}

static void derived_comment(FILE *out, const char *key, const ModelConfig *m) {
  if (!strcmp(key, "model.patch"))
    fprintf(out, "  # grid %dx%dx%d -> tokens N = %d, patch_dim P = %d", m->grid_t, m->grid_h, m->grid_w, m->tokens,
           m->patch_dim);
  else if (!strcmp(key, "model.heads")) fprintf(out, "  # head_dim %d", m->head_dim);
  else if (!strcmp(key, "model.mlp_ratio")) fprintf(out, "  # mlp hidden %d", m->mlp_ratio * m->dim);
  else if (!strcmp(key, "model.rope")) fprintf(out, "  # (t, h, w) split of head_dim");
}

void config_write(const Config *c, FILE *out) {
  char pbuf[128], cbuf[128], *prev[4], *cur[4];
  int np = 0;
  fprintf(out, "# tessera config: %s\n", c->path);
  for (const Field *f = cfg_fields; f < cfg_fields + cfg_nfields; f++) {
    int nc = split_key(f->key, cbuf, sizeof cbuf, cur), same = 0;
    while (same < nc - 1 && same < np - 1 && !strcmp(prev[same], cur[same])) same++;
    if (np && same == 0) fputc('\n', out);
    for (int d = same; d < nc - 1; d++) fprintf(out, "%*s%s:\n", 2 * d, "", cur[d]);
    fprintf(out, "%*s%s: ", 2 * (nc - 1), "", cur[nc - 1]);
    cfg_print_value(f, c, out);
    derived_comment(out, f->key, &c->model);
    fputc('\n', out);
    np = split_key(f->key, pbuf, sizeof pbuf, prev);
  }
  fflush(out);
}

void config_print(const Config *c) { config_write(c, stdout); }
