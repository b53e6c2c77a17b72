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

static const char *str_or(const JsonObject *o, const char *key, const char *dflt) {
  const JsonField *f = json_get(o, key);
  return f && f->kind == JSON_STRING ? f->text : dflt;
}

// An integer field in [lo, hi] -> *out; else why is set.
static int int_field(const JsonObject *o, const char *key, double lo, double hi, int *out, char *why, int whylen) {
  const JsonField *f = json_get(o, key);
  if (!f || f->kind != JSON_NUMBER || f->num != floor(f->num) || f->num < lo || f->num > hi) {
    snprintf(why, (size_t)whylen, "\"%s\": expected an integer in [%.0f, %.0f], got %s", key, lo, hi, f ? f->text : "nothing");
    return -1;
  }
  *out = (int)f->num;
  return 0;
}

static int time_field(const JsonObject *o, double *t, char *why, int whylen) {
  const JsonField *f = json_get(o, "time");
  if (!f || f->kind != JSON_NUMBER || !isfinite(f->num) || f->num < 0) {
    snprintf(why, (size_t)whylen, "\"time\": expected seconds since 1970");
    return -1;
  }
  *t = f->num;
  return 0;
}

// A string field of 16 hex digits (an FNV-1a 64 key or checksum) -> out[17].
static int hex_field(const JsonObject *o, const char *key, char out[17], char *why, int whylen) {
  const char *v = str_or(o, key, "");
  int ok = strlen(v) == 16;
  for (int i = 0; ok && i < 16; i++) ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
  if (!ok) {
    snprintf(why, (size_t)whylen, "\"%s\": expected 16 hex digits", key);
    return -1;
  }
  memcpy(out, v, 17);
  return 0;
}

static int start_record(const JsonObject *o, const char *file, ShardStart *s, char *why, int whylen) {
  memset(s, 0, sizeof *s);
  if (time_field(o, &s->time, why, whylen) || int_field(o, "shards", 1, MANIFEST_MAX_SHARDS, &s->shards, why, whylen) ||
      int_field(o, "shard", 0, s->shards - 1, &s->shard, why, whylen) ||
      int_field(o, "total", 1, MANIFEST_MAX_ITEMS, &s->total, why, whylen) ||
      int_field(o, "items", 0, s->total, &s->items, why, whylen) ||
      int_field(o, "ranks", 1, 1 << 24, &s->ranks, why, whylen) ||
      int_field(o, "rank", 0, s->ranks - 1, &s->rank, why, whylen))
    return -1;
  snprintf(s->file, sizeof s->file, "%s", file);
  return 0;
}

static int item_record(const JsonObject *o, ItemRecord *r, char *why, int whylen) {
  static const char *const names[] = {"running", "done", "failed"};
  memset(r, 0, sizeof *r);
  if (time_field(o, &r->time, why, whylen) || int_field(o, "index", 0, 2147483647.0, &r->index, why, whylen) ||
      int_field(o, "line", 1, 2147483647.0, &r->line, why, whylen) || hex_field(o, "key", r->key, why, whylen))
    return -1;
  const char *status = str_or(o, "status", "");
  for (int k = 0; k < 3; k++)
    if (!strcmp(status, names[k])) r->status = (ItemStatus)(ITEM_RUNNING + k);
  if (r->status == ITEM_PENDING) {
    snprintf(why, (size_t)whylen, "\"status\": expected running, done or failed");
    return -1;
  }
  const char *output = str_or(o, "output", ""), *error = str_or(o, "error", "");
  if (strlen(output) >= sizeof r->output) {
    snprintf(why, (size_t)whylen, "\"output\": longer than %zu bytes", sizeof r->output - 1);
    return -1;
  }
  snprintf(r->output, sizeof r->output, "%s", output);
  snprintf(r->error, sizeof r->error, "%s", error);
  if (r->status == ITEM_DONE) {
    char sum[17];
    if (!r->output[0]) {
      snprintf(why, (size_t)whylen, "\"output\": a done record names its output");
      return -1;
    }
    if (hex_field(o, "fnv1a64", sum, why, whylen)) return -1;
    r->fnv1a64 = strtoull(sum, NULL, 16);
  }
  return 0;
}

__attribute__((format(printf, 4, 5))) static void ignore_line(ManifestState *st, const char *file, long line,
                                                             const char *fmt, ...) {
  if (!st->bad_lines++) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(st->first_bad, sizeof st->first_bad, "%s:%ld: %s", file, line, why);
  }
}

static void add_start(ManifestState *st, const ShardStart *s) {
  for (int i = 0; i < st->nstarts; i++)
    if (!strcmp(st->starts[i].file, s->file)) {
      if (s->time >= st->starts[i].time) st->starts[i] = *s;
      return;
    }
  st->starts = realloc(st->starts, (size_t)(st->nstarts + 1) * sizeof *st->starts);
  TSR_ASSERT(st->starts, "out of memory");
  st->starts[st->nstarts++] = *s;
}

// Item records of every file, in reading order (folded once all are read),
// with where each came from.
typedef struct {
  ItemRecord r;
  const char *file;  // the manifest's path (owned by Records.files)
  long line;
} Rec;

typedef struct {
  Rec *v;
  long n, cap;
  char **files;
  int nfiles;
} Records;

static void load_file(ManifestState *st, Records *recs, const char *path, const char *name) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  st->nfiles++;
  recs->files = realloc(recs->files, (size_t)(recs->nfiles + 1) * sizeof *recs->files);
  TSR_ASSERT(recs->files && (recs->files[recs->nfiles] = strdup(path)), "out of memory");
  const char *file = recs->files[recs->nfiles++];
  char *line = NULL, why[400];
  size_t cap = 0;
  ssize_t len;
  for (long lineno = 1; (len = getline(&line, &cap, f)) > 0; lineno++) {
    if (line[len - 1] != '\n') {  // the torn last line of a killed writer
      st->torn++;
      break;
    }
    JsonObject o;
    if (json_parse_object(line, (size_t)len, &o, why, sizeof why)) {
      ignore_line(st, path, lineno, "not a JSON object: %s", why);
      continue;
    }
    const char *event = str_or(&o, "event", "");
    ShardStart s;
    if (!strcmp(event, "start")) {
      if (start_record(&o, name, &s, why, sizeof why)) ignore_line(st, path, lineno, "start record: %s", why);
      else add_start(st, &s);
    } else if (!strcmp(event, "item")) {
      if (recs->n == recs->cap) {
        recs->cap = recs->cap ? 2 * recs->cap : 64;
        recs->v = realloc(recs->v, (size_t)recs->cap * sizeof *recs->v);
        TSR_ASSERT(recs->v, "out of memory");
      }
      Rec *r = &recs->v[recs->n];
      if (item_record(&o, &r->r, why, sizeof why)) ignore_line(st, path, lineno, "item record: %s", why);
      else r->r.seq = recs->n++, r->file = file, r->line = lineno;
    } else {
      ignore_line(st, path, lineno, "\"event\": expected start or item");
    }
    json_object_free(&o);
  }
  free(line);
  fclose(f);
}

static int by_index_then_time(const void *a, const void *b) {
  const ItemRecord *x = &((const Rec *)a)->r, *y = &((const Rec *)b)->r;
  if (x->index != y->index) return x->index < y->index ? -1 : 1;
  if (x->time != y->time) return x->time < y->time ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void manifest_load(const char *dir, int total, ManifestState *st) {
  memset(st, 0, sizeof *st);
  Records recs = {0};
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      size_t n = strlen(e->d_name);
      if (strncmp(e->d_name, "manifest-", 9) || n < 15 || strcmp(e->d_name + n - 6, ".jsonl")) continue;
      char path[2048];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      load_file(st, &recs, path, e->d_name);
    }
    closedir(d);
  }
  if (total <= 0) {  // --status: the list as the latest start record describes it
    const ShardStart *latest = NULL;
    for (int i = 0; i < st->nstarts; i++)
      if (!latest || st->starts[i].time > latest->time) latest = &st->starts[i];
    total = latest ? latest->total : 0;
  }
  st->total = total;
  // Fold: per index, the latest record; "running" records counted.
  qsort(recs.v, (size_t)recs.n, sizeof *recs.v, by_index_then_time);
  st->items = calloc((size_t)recs.n + 1, sizeof *st->items);
  TSR_ASSERT(st->items, "out of memory");
  for (long i = 0; i < recs.n; i++) {
    ItemRecord *r = &recs.v[i].r;
    if (r->index >= total) {
      ignore_line(st, recs.v[i].file, recs.v[i].line, "item record: \"index\": %d is not an item of the list (%d items)",
                  r->index, total);
      continue;
    }
    const int started = r->status == ITEM_RUNNING;
    if (st->nitems && st->items[st->nitems - 1].index == r->index) {
      ItemRecord *prev = &st->items[st->nitems - 1];
      r->runs = prev->runs + started;
      *prev = *r;
    } else {
      r->runs = started;
      st->items[st->nitems++] = *r;
    }
  }
  free(recs.v);
  for (int i = 0; i < recs.nfiles; i++) free(recs.files[i]);
  free(recs.files);
}

const ItemRecord *manifest_item(const ManifestState *st, int index) {
  int lo = 0, hi = st->nitems - 1;
  while (lo <= hi) {
    int mid = lo + (hi - lo) / 2;
    if (st->items[mid].index == index) return &st->items[mid];
    if (st->items[mid].index < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

void manifest_state_free(ManifestState *st) {
  free(st->items);
  free(st->starts);
  memset(st, 0, sizeof *st);
}

// Truncate fd after its last newline (records are short: the tail is enough).
static int cut_torn_line(int fd) {
  char tail[1 << 16];
  off_t size = lseek(fd, 0, SEEK_END);
  if (size <= 0) return size < 0 ? -1 : 0;
  off_t from = size > (off_t)sizeof tail ? size - (off_t)sizeof tail : 0;
  ssize_t n = pread(fd, tail, (size_t)(size - from), from);
  if (n != size - from) return -1;
  if (tail[n - 1] == '\n') return 0;
  ssize_t k = n - 1;
  while (k >= 0 && tail[k] != '\n') k--;
  if (k < 0 && from > 0) return write(fd, "\n", 1) == 1 ? 0 : -1;  // a torn line longer than any record
  return ftruncate(fd, from + k + 1);
}

int manifest_open(Manifest *m, const char *dir, int shard, int shards, int rank, char *err, int errlen) {
  snprintf(m->path, sizeof m->path, "%s/manifest-shard%dof%d-rank%d.jsonl", dir, shard, shards, rank);
  m->fd = open(m->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (m->fd < 0) {
    snprintf(err, (size_t)errlen, "%s: cannot open for appending: %s", m->path, strerror(errno));
    return -1;
  }
  // A writer killed mid-record left a torn last line: cut it off, so that
  // the next record starts a line of its own instead of being glued to it.
  if (cut_torn_line(m->fd) != 0) {
    snprintf(err, (size_t)errlen, "%s: cannot cut its torn last line: %s", m->path, strerror(errno));
    close(m->fd);
    m->fd = -1;
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
