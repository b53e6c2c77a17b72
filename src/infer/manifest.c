#include "infer/manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "core/error.h"
#include "core/log.h"
#include "core/parse.h"

// ================================================================== JSON reader
typedef struct {
  const char *s;
  size_t i, n;
  char *err;
  int errlen;
} Reader;

static int rfail(Reader *r, const char *what) {
  snprintf(r->err, (size_t)r->errlen, "%s at column %zu", what, r->i + 1);
  return -1;
}

static void skip_ws(Reader *r) {
  while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\r' || r->s[r->i] == '\n')) r->i++;
}

static int hex4(Reader *r, unsigned *out) {
  if (r->i + 4 > r->n) return -1;
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = r->s[r->i + k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  r->i += 4;
  *out = v;
  return 0;
}

static void put_utf8(char *o, size_t *k, unsigned cp) {
  if (cp < 0x80) o[(*k)++] = (char)cp;
  else if (cp < 0x800) o[(*k)++] = (char)(0xC0 | (cp >> 6)), o[(*k)++] = (char)(0x80 | (cp & 0x3F));
  else if (cp < 0x10000)
    o[(*k)++] = (char)(0xE0 | (cp >> 12)), o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F)),
    o[(*k)++] = (char)(0x80 | (cp & 0x3F));
  else
    o[(*k)++] = (char)(0xF0 | (cp >> 18)), o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F)),
    o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[(*k)++] = (char)(0x80 | (cp & 0x3F));
}

// A string at r->i (its opening quote) -> malloc'ed UTF-8 in *out.
static int read_string(Reader *r, char **out) {
  if (r->i >= r->n || r->s[r->i] != '"') return rfail(r, "expected a string");
  r->i++;
  char *o = malloc(r->n - r->i + 1);  // decoded text is never longer than its source
  TSR_ASSERT(o, "out of memory");
  size_t k = 0;
  for (;;) {
    if (r->i >= r->n) { free(o); return rfail(r, "unterminated string"); }
    unsigned char c = (unsigned char)r->s[r->i];
    if (c == '"') { r->i++; break; }
    if (c < 0x20) { free(o); return rfail(r, "control character in a string (escape it)"); }
    if (c != '\\') { o[k++] = (char)c; r->i++; continue; }
    if (++r->i >= r->n) { free(o); return rfail(r, "unterminated string"); }
    char e = r->s[r->i++];
    unsigned cp;
    switch (e) {
      case '"': case '\\': case '/': o[k++] = e; break;
      case 'b': o[k++] = '\b'; break;
      case 'f': o[k++] = '\f'; break;
      case 'n': o[k++] = '\n'; break;
      case 'r': o[k++] = '\r'; break;
      case 't': o[k++] = '\t'; break;
      case 'u':
        if (hex4(r, &cp)) { free(o); return rfail(r, "expected 4 hex digits after \\u"); }
        if (cp >= 0xD800 && cp <= 0xDBFF) {  // a UTF-16 surrogate pair
          unsigned lo;
          if (r->i + 2 > r->n || r->s[r->i] != '\\' || r->s[r->i + 1] != 'u' || (r->i += 2, hex4(r, &lo)) ||
              lo < 0xDC00 || lo > 0xDFFF) {
            free(o);
            return rfail(r, "unpaired UTF-16 surrogate in \\u escape");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          free(o);
          return rfail(r, "unpaired UTF-16 surrogate in \\u escape");
        }
        if (cp == 0) { free(o); return rfail(r, "\\u0000 (NUL) in a string"); }
        put_utf8(o, &k, cp);
        break;
      default: free(o); r->i--; return rfail(r, "invalid escape in a string");
    }
  }
  o[k] = 0;
  *out = o;
  return 0;
}

// JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
static int read_number(Reader *r, char **text, double *num) {
  size_t b = r->i, i = r->i;
  const char *s = r->s;
  if (i < r->n && s[i] == '-') i++;
  if (i < r->n && s[i] == '0') i++;
  else if (i < r->n && s[i] >= '1' && s[i] <= '9') while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
  else return rfail(r, "expected a value (string, number, true, false, null or array)");
  if (i < r->n && s[i] == '.') {
    if (++i >= r->n || s[i] < '0' || s[i] > '9') { r->i = i; return rfail(r, "expected a digit after '.'"); }
    while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
  }
  if (i < r->n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < r->n && (s[i] == '+' || s[i] == '-')) i++;
    if (i >= r->n || s[i] < '0' || s[i] > '9') { r->i = i; return rfail(r, "expected a digit in the exponent"); }
    while (i < r->n && s[i] >= '0' && s[i] <= '9') i++;
  }
  *text = strndup(s + b, i - b);
  TSR_ASSERT(*text, "out of memory");
  *num = strtod(*text, NULL);
  r->i = i;
  return 0;
}

static int read_value(Reader *r, JsonField *f) {
  skip_ws(r);
  if (r->i >= r->n) return rfail(r, "expected a value");
  char c = r->s[r->i];
  if (c == '"') { f->kind = JSON_STRING; return read_string(r, &f->text); }
  if (c == '{') return rfail(r, "nested objects are not supported");
  if (c == '[') {  // an array of numbers, kept as "AxBxC"
    r->i++;
    f->kind = JSON_ARRAY;
    StrBuf b = {0};
    sb_printf(&b, "%s", "");
    skip_ws(r);
    if (r->i < r->n && r->s[r->i] == ']') { r->i++; f->text = b.s; return 0; }
    for (;;) {
      skip_ws(r);
      char *t;
      double x;
      if (read_number(r, &t, &x)) { sb_free(&b); return rfail(r, "arrays may hold numbers only"); }
      sb_printf(&b, "%s%s", f->count ? "x" : "", t);
      free(t);
      f->count++;
      skip_ws(r);
      if (r->i < r->n && r->s[r->i] == ',') { r->i++; continue; }
      if (r->i < r->n && r->s[r->i] == ']') { r->i++; break; }
      sb_free(&b);
      return rfail(r, "expected ',' or ']'");
    }
    f->text = b.s;
    return 0;
  }
  static const char *const words[] = {"true", "false", "null"};
  for (int w = 0; w < 3; w++) {
    size_t len = strlen(words[w]);
    if (r->n - r->i >= len && !strncmp(r->s + r->i, words[w], len)) {
      r->i += len;
      f->kind = w < 2 ? JSON_BOOL : JSON_NULL;
      f->num = w == 0;
      f->text = strdup(words[w]);
      return 0;
    }
  }
  f->kind = JSON_NUMBER;
  return read_number(r, &f->text, &f->num);
}

int json_parse_object(const char *text, size_t len, JsonObject *o, char *err, int errlen) {
  memset(o, 0, sizeof *o);
  Reader r = {.s = text, .n = len, .err = err, .errlen = errlen};
  skip_ws(&r);
  if (r.i >= r.n || r.s[r.i] != '{') return rfail(&r, "expected a JSON object '{...}'");
  r.i++;
  skip_ws(&r);
  int cap = 0;
  if (r.i < r.n && r.s[r.i] == '}') r.i++;
  else {
    for (;;) {
      skip_ws(&r);
      JsonField f = {0};
      if (read_string(&r, &f.key)) goto fail;
      if (json_get(o, f.key)) {
        snprintf(err, (size_t)errlen, "duplicate key \"%s\"", f.key);
        free(f.key);
        goto fail;
      }
      skip_ws(&r);
      if (r.i >= r.n || r.s[r.i] != ':') { free(f.key); rfail(&r, "expected ':'"); goto fail; }
      r.i++;
      if (read_value(&r, &f)) { free(f.key); free(f.text); goto fail; }
      if (o->n == cap) {
        cap = cap ? 2 * cap : 8;
        o->f = realloc(o->f, (size_t)cap * sizeof *o->f);
        TSR_ASSERT(o->f, "out of memory");
      }
      o->f[o->n++] = f;
      skip_ws(&r);
      if (r.i < r.n && r.s[r.i] == ',') { r.i++; continue; }
      if (r.i < r.n && r.s[r.i] == '}') { r.i++; break; }
      rfail(&r, "expected ',' or '}'");
      goto fail;
    }
  }
  skip_ws(&r);
  if (r.i != r.n) { rfail(&r, "unexpected text after the object"); goto fail; }
  return 0;
fail:
  json_object_free(o);
  return -1;
}

const JsonField *json_get(const JsonObject *o, const char *key) {
  for (int i = 0; i < o->n; i++)
    if (!strcmp(o->f[i].key, key)) return &o->f[i];
  return NULL;
}

void json_object_free(JsonObject *o) {
  for (int i = 0; i < o->n; i++) free(o->f[i].key), free(o->f[i].text);
  free(o->f);
  memset(o, 0, sizeof *o);
}

// ================================================================== writing
void sb_printf(StrBuf *b, const char *fmt, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->cap - b->n;
    int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
    va_end(ap);
    TSR_ASSERT(k >= 0, "vsnprintf failed");
    if (b->s && (size_t)k < room) { b->n += (size_t)k; return; }
    b->cap = (b->cap + (size_t)k + 1) * 2;
    b->s = realloc(b->s, b->cap);
    TSR_ASSERT(b->s, "out of memory");
    if (b->n == 0) b->s[0] = 0;
  }
}

// Always valid JSON whatever the bytes: quotes, backslashes and control
// characters escaped, and each byte that does not start a valid UTF-8
// sequence (a file name is any bytes) written as U+FFFD.
void sb_json_string(StrBuf *b, const char *s) {
  sb_printf(b, "\"");
  const unsigned char *p = (const unsigned char *)(s ? s : "");
  for (size_t n = strlen((const char *)p); *p; ) {
    const unsigned char c = *p;
    int k = utf8_seq_len(p, n);
    if (c == '"' || c == '\\') sb_printf(b, "\\%c", c);
    else if (c == '\n') sb_printf(b, "\\n");
    else if (c == '\t') sb_printf(b, "\\t");
    else if (c < 0x20 || c == 0x7F) sb_printf(b, "\\u%04x", c);
    else if (!k) sb_printf(b, "\\ufffd");
    else sb_printf(b, "%.*s", k, (const char *)p);
    k = k ? k : 1;
    p += k, n -= (size_t)k;
  }
  sb_printf(b, "\"");
}

void sb_free(StrBuf *b) {
  free(b->s);
  memset(b, 0, sizeof *b);
}

uint64_t fnv1a64(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

int fnv1a64_file(const char *path, uint64_t *hash, long long *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static unsigned char buf[1 << 16];
  uint64_t h = FNV1A64_INIT;
  long long total = 0;
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = fnv1a64(h, buf, n), total += (long long)n;
  int bad = ferror(f);
  fclose(f);
  if (bad) return -1;
  *hash = h;
  if (bytes) *bytes = total;
  return 0;
}

// ================================================================== manifest
const char *item_status_name(ItemStatus s) {
  static const char *const names[] = {"pending", "running", "done", "failed"};
  return names[s];
}

static ItemStatus status_from(const char *s) {
  if (!strcmp(s, "running")) return ITEM_RUNNING;
  if (!strcmp(s, "done")) return ITEM_DONE;
  if (!strcmp(s, "failed")) return ITEM_FAILED;
  return ITEM_PENDING;
}

static const char *str_or(const JsonObject *o, const char *key, const char *dflt) {
  const JsonField *f = json_get(o, key);
  return f && f->kind == JSON_STRING ? f->text : dflt;
}

static double num_or(const JsonObject *o, const char *key, double dflt) {
  const JsonField *f = json_get(o, key);
  return f && f->kind == JSON_NUMBER ? f->num : dflt;
}

static void fold_record(ManifestState *st, const JsonObject *o, const char *file) {
  const char *event = str_or(o, "event", "");
  double t = num_or(o, "time", 0);
  if (!strcmp(event, "start")) {
    ShardStart s = {.shard = (int)num_or(o, "shard", 0), .shards = (int)num_or(o, "shards", 1),
                    .rank = (int)num_or(o, "rank", 0), .ranks = (int)num_or(o, "ranks", 1),
                    .items = (int)num_or(o, "items", 0), .total = (int)num_or(o, "total", 0), .time = t};
    snprintf(s.file, sizeof s.file, "%s", file);
    for (int i = 0; i < st->nstarts; i++)
      if (!strcmp(st->starts[i].file, file)) {
        if (t >= st->starts[i].time) st->starts[i] = s;
        return;
      }
    st->starts = realloc(st->starts, (size_t)(st->nstarts + 1) * sizeof *st->starts);
    TSR_ASSERT(st->starts, "out of memory");
    st->starts[st->nstarts++] = s;
    return;
  }
  if (strcmp(event, "item")) return;
  double idx = num_or(o, "index", -1);
  if (idx < 0 || idx > 1e8) return;
  int i = (int)idx;
  if (i >= st->nitems) {
    st->items = realloc(st->items, (size_t)(i + 1) * sizeof *st->items);
    TSR_ASSERT(st->items, "out of memory");
    memset(st->items + st->nitems, 0, (size_t)(i + 1 - st->nitems) * sizeof *st->items);
    st->nitems = i + 1;
  }
  ItemRecord *rec = &st->items[i];
  ItemStatus s = status_from(str_or(o, "status", ""));
  if (s == ITEM_RUNNING) rec->runs++;
  if (rec->status != ITEM_PENDING && t < rec->time) return;  // an older record
  rec->status = s;
  rec->time = t;
  rec->line = (int)num_or(o, "line", 0);
  snprintf(rec->key, sizeof rec->key, "%s", str_or(o, "key", ""));
  snprintf(rec->output, sizeof rec->output, "%s", str_or(o, "output", ""));
  snprintf(rec->error, sizeof rec->error, "%s", str_or(o, "error", ""));
  rec->fnv1a64 = strtoull(str_or(o, "fnv1a64", "0"), NULL, 16);
}

static void load_file(ManifestState *st, const char *path, const char *name) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  st->nfiles++;
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, f)) > 0) {
    if (line[len - 1] != '\n') { st->bad_lines++; break; }  // torn last line of a killed writer
    JsonObject o;
    char err[128];
    if (json_parse_object(line, (size_t)len, &o, err, sizeof err)) { st->bad_lines++; continue; }
    fold_record(st, &o, name);
    json_object_free(&o);
  }
  free(line);
  fclose(f);
}

void manifest_load(const char *dir, ManifestState *st) {
  memset(st, 0, sizeof *st);
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (strncmp(e->d_name, "manifest-", 9) || n < 15 || strcmp(e->d_name + n - 6, ".jsonl")) continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    load_file(st, path, e->d_name);
  }
  closedir(d);
}

void manifest_state_free(ManifestState *st) {
  free(st->items);
  free(st->starts);
  memset(st, 0, sizeof *st);
}

int manifest_open(Manifest *m, const char *dir, int shard, int shards, int rank, char *err, int errlen) {
  snprintf(m->path, sizeof m->path, "%s/manifest-shard%dof%d-rank%d.jsonl", dir, shard, shards, rank);
  m->fd = open(m->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (m->fd < 0) {
    snprintf(err, (size_t)errlen, "%s: cannot open for appending: %s", m->path, strerror(errno));
    return -1;
  }
  return 0;
}

int manifest_append(Manifest *m, const char *members) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  StrBuf b = {0};
  sb_printf(&b, "{\"time\":%.6f,%s}\n", (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec, members);
  // One write of the whole line: O_APPEND makes it land after every earlier
  // record; a kill can tear only this last line.
  size_t off = 0;
  while (off < b.n) {
    ssize_t k = write(m->fd, b.s + off, b.n - off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) { sb_free(&b); return -1; }
    off += (size_t)k;
  }
  sb_free(&b);
  return fdatasync(m->fd) == 0 || errno == EINVAL ? 0 : -1;
}

void manifest_close(Manifest *m) {
  if (m->fd >= 0) close(m->fd);
  m->fd = -1;
}
