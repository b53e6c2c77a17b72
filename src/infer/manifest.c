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
#include "core/jsonx.h"

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

// ================================================================== manifest
const char *item_status_name(ItemStatus s) {
  static const char *const names[] = {"pending", "running", "done", "failed", "refused"};
  return names[s];
}

static const char *str_or(const json_t *o, const char *key, const char *dflt) {
  const char *v = jx_str(o, key);
  return v ? v : dflt;
}

// An integer field in [lo, hi] -> *out; else why is set.
static int int_field(const json_t *o, const char *key, double lo, double hi, int *out, char *why, int whylen) {
  long long v;
  if (jx_int(o, key, &v) || v < lo || v > hi) {
    const json_t *f = json_object_get(o, key);
    snprintf(why, (size_t)whylen, "\"%s\": expected an integer in [%.0f, %.0f], got %s", key, lo, hi,
             f ? jx_kind(f) : "nothing");
    return -1;
  }
  *out = (int)v;
  return 0;
}

static int time_field(const json_t *o, double *t, char *why, int whylen) {
  if (jx_real(o, "time", t) || !isfinite(*t) || *t < 0) {
    snprintf(why, (size_t)whylen, "\"time\": expected seconds since 1970");
    return -1;
  }
  return 0;
}

// A string field of 64 hex digits (a SHA-256 key or checksum) -> out[65].
static int hex_field(const json_t *o, const char *key, char out[65], char *why, int whylen) {
  const char *v = str_or(o, key, "");
  int ok = strlen(v) == 64;
  for (int i = 0; ok && i < 64; i++) ok = (v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f');
  if (!ok) {
    snprintf(why, (size_t)whylen, "\"%s\": expected 64 hex digits (SHA-256)", key);
    return -1;
  }
  memcpy(out, v, 65);
  return 0;
}

static int start_record(const json_t *o, const char *file, ShardStart *s, char *why, int whylen) {
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

static int item_record(const json_t *o, ItemRecord *r, char *why, int whylen) {
  static const char *const names[] = {"running", "done", "failed", "refused"};
  memset(r, 0, sizeof *r);
  if (json_object_get(o, "fnv1a64") || strlen(str_or(o, "key", "")) == 16) {
    snprintf(why, (size_t)whylen, "a record of tessera before 0.2 (FNV-1a checksums; now SHA-256): its item is "
                                  "rendered again");
    return -1;
  }
  if (time_field(o, &r->time, why, whylen) || int_field(o, "index", 0, 2147483647.0, &r->index, why, whylen) ||
      int_field(o, "line", 1, 2147483647.0, &r->line, why, whylen) || hex_field(o, "key", r->key, why, whylen))
    return -1;
  const char *status = str_or(o, "status", "");
  for (int k = 0; k < 4; k++)
    if (!strcmp(status, names[k])) r->status = (ItemStatus)(ITEM_RUNNING + k);
  if (r->status == ITEM_PENDING) {
    snprintf(why, (size_t)whylen, "\"status\": expected running, done, failed or refused");
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
    if (!r->output[0]) {
      snprintf(why, (size_t)whylen, "\"output\": a done record names its output");
      return -1;
    }
    if (hex_field(o, "sha256", r->sha256, why, whylen)) return -1;
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
    json_t *o = jx_parse(line, (size_t)len, why, sizeof why);
    if (!o || !json_is_object(o)) {
      if (o) snprintf(why, sizeof why, "a JSON %s", jx_kind(o));
      ignore_line(st, path, lineno, "not a JSON object: %s", why);
      json_decref(o);
      continue;
    }
    const char *event = str_or(o, "event", "");
    ShardStart s;
    if (!strcmp(event, "start")) {
      if (start_record(o, name, &s, why, sizeof why)) ignore_line(st, path, lineno, "start record: %s", why);
      else add_start(st, &s);
    } else if (!strcmp(event, "item")) {
      if (recs->n == recs->cap) {
        recs->cap = recs->cap ? 2 * recs->cap : 64;
        recs->v = realloc(recs->v, (size_t)recs->cap * sizeof *recs->v);
        TSR_ASSERT(recs->v, "out of memory");
      }
      Rec *r = &recs->v[recs->n];
      if (item_record(o, &r->r, why, sizeof why)) ignore_line(st, path, lineno, "item record: %s", why);
      else r->r.seq = recs->n++, r->file = file, r->line = lineno;
    } else {
      ignore_line(st, path, lineno, "\"event\": expected start or item");
    }
    json_decref(o);
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
  if (recs.n) qsort(recs.v, (size_t)recs.n, sizeof *recs.v, by_index_then_time);
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

int manifest_append(Manifest *m, json_t *record) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  json_object_set_new(record, "time", json_real((double)tv.tv_sec + 1e-6 * (double)tv.tv_usec));
  char *line = jx_dump(record);
  StrBuf b = {0};
  sb_printf(&b, "%s\n", line);
  free(line);
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
