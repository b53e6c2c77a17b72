// `tessera data ingest`: real videos into a corpus.h5 (datasets/ingest.md).
//
// Every regular, non-hidden file of DIR (sorted by name, not recursive) is
// tried with FFmpeg; each decodable video is resampled to --fps, cut into up
// to K non-overlapping clips of T frames from its start, scaled and centre-
// cropped to the size bucket closest to its aspect ratio, measured by the
// recaptioner and written through the CorpusWriter. Captions come from a
// JSONL sidecar ({"path": ..., "caption": ...}); a video without one gets a
// caption from the recaptioner. Bad sidecars and empty inputs are one-line
// errors (exit 2); a single undecodable or too-short video is a warning and a
// count in the summary.
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/parse.h"
#include "core/log.h"
#include "core/timer.h"
#include "app/commands.h"
#include "data/corpus.h"
#include "data/recaption.h"
#include "media/video_io.h"

enum { MAX_BUCKETS = 32, RECAPTION_MAX = 4096 };

typedef struct {
  const char *videos, *captions, *out;
  int T;
  int nsizes;
  int size[MAX_BUCKETS][2];  // H, W
  float fps;
  int pt, ph, pw;
  int text_length;
  int clips_per_video;  // 0: as many as fit
} IngestOptions;

static void usage(FILE *f) {
  fprintf(f,
          "usage: tessera data ingest --videos DIR --out FILE --frames T --size HxW [options]\n"
          "Cuts every video FFmpeg can decode in DIR (sorted, not recursive, hidden files skipped)\n"
          "into clips of T frames, scales and centre-crops them to a size bucket, and writes a\n"
          "corpus.h5 with short captions and measured recaptions (datasets/ingest.md).\n"
          "  --videos DIR            directory of videos (required)\n"
          "  --captions F.jsonl      sidecar, one {\"path\": ..., \"caption\": ...} per line; videos\n"
          "                          without an entry get a caption from the recaptioner\n"
          "  --out FILE              corpus to write (required; FILE.tmp, then renamed)\n"
          "  --frames T              frames per clip (required; a multiple of the patch's t)\n"
          "  --size HxW              clip size (required); give it several times for aspect-ratio\n"
          "                          buckets: each video goes to the one closest to its aspect\n"
          "  --fps F                 frame rate clips are sampled at (8)\n"
          "  --patch TxHxW           spacetime patch (2x4x4)\n"
          "  --text-length L         caption tokens stored per clip (32)\n"
          "  --clips-per-video K     at most K clips per video, from its start (4; 0 = all)\n");
}

// ------------------------------------------------------------------ option parsing

static void parse_options(IngestOptions *o, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  o->fps = 8.0f;
  o->pt = 2, o->ph = 4, o->pw = 4;
  o->text_length = 32;
  o->clips_per_video = 4;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      exit(0);
    }
    if (strncmp(a, "--", 2))
      tsr_user_error("data ingest: unexpected argument '%s' (options start with --; see tessera data ingest --help)", a);
    char key[64];
    const char *v;
    const char *eq = strchr(a, '=');
    if (eq) {
      snprintf(key, sizeof key, "%.*s", (int)(eq - a), a);
      v = eq + 1;
    } else {
      snprintf(key, sizeof key, "%s", a);
      if (i + 1 >= argc) tsr_user_error("data ingest: %s: expected a value after it", key);
      v = argv[++i];
    }
    long n;
    if (!strcmp(key, "--videos")) {
      if (!*v) tsr_user_error("data ingest: --videos: expected a directory");
      o->videos = v;
    } else if (!strcmp(key, "--captions")) {
      if (!*v) tsr_user_error("data ingest: --captions: expected a JSONL file");
      o->captions = v;
    } else if (!strcmp(key, "--out")) {
      if (!*v) tsr_user_error("data ingest: --out: expected a file name");
      o->out = v;
    } else if (!strcmp(key, "--frames")) {
      if (parse_long(v, 1, 4096, &n)) tsr_user_error("data ingest: --frames '%s': expected an integer in 1..4096", v);
      o->T = (int)n;
    } else if (!strcmp(key, "--size")) {
      int d[2];
      if (parse_dims(v, 2, d) || d[0] > 8192 || d[1] > 8192)
        tsr_user_error("data ingest: --size '%s': expected HxW with H and W in 1..8192 (e.g. 32x32)", v);
      int dup = 0;
      for (int k = 0; k < o->nsizes; k++) dup |= o->size[k][0] == d[0] && o->size[k][1] == d[1];
      if (dup) continue;
      if (o->nsizes == MAX_BUCKETS) tsr_user_error("data ingest: --size '%s': at most %d sizes", v, MAX_BUCKETS);
      o->size[o->nsizes][0] = d[0];
      o->size[o->nsizes][1] = d[1];
      o->nsizes++;
    } else if (!strcmp(key, "--fps")) {
      char *end;
      errno = 0;
      float f = strtof(v, &end);
      if (errno || end == v || *end || !(f > 0.0f && f <= 1000.0f))
        tsr_user_error("data ingest: --fps '%s': expected a number in (0, 1000]", v);
      o->fps = f;
    } else if (!strcmp(key, "--patch")) {
      int d[3];
      if (parse_dims(v, 3, d) || d[0] > 64 || d[1] > 64 || d[2] > 64)
        tsr_user_error("data ingest: --patch '%s': expected TxHxW with each in 1..64 (e.g. 2x4x4)", v);
      o->pt = d[0], o->ph = d[1], o->pw = d[2];
    } else if (!strcmp(key, "--text-length")) {
      if (parse_long(v, 2, 4096, &n)) tsr_user_error("data ingest: --text-length '%s': expected an integer in 2..4096", v);
      o->text_length = (int)n;
    } else if (!strcmp(key, "--clips-per-video")) {
      if (parse_long(v, 0, 1 << 20, &n))
        tsr_user_error("data ingest: --clips-per-video '%s': expected an integer >= 0 (0 = all)", v);
      o->clips_per_video = (int)n;
    } else {
      tsr_user_error("data ingest: unknown option '%s' (see tessera data ingest --help)", key);
    }
  }
  if (!o->videos) tsr_user_error("data ingest: --videos DIR is required");
  if (!o->out) tsr_user_error("data ingest: --out FILE is required");
  if (!o->T) tsr_user_error("data ingest: --frames T is required");
  if (!o->nsizes) tsr_user_error("data ingest: --size HxW is required");
  if (o->T % o->pt)
    tsr_user_error("data ingest: --frames %d: expected a multiple of the patch's t (%d, --patch %dx%dx%d)", o->T, o->pt,
                   o->pt, o->ph, o->pw);
  for (int k = 0; k < o->nsizes; k++)
    if (o->size[k][0] % o->ph || o->size[k][1] % o->pw)
      tsr_user_error("data ingest: --size %dx%d: expected H and W multiples of the patch's h and w (%d, %d; --patch %dx%dx%d)",
                     o->size[k][0], o->size[k][1], o->ph, o->pw, o->pt, o->ph, o->pw);
}

// ------------------------------------------------------------------ JSONL sidecar

typedef struct {
  char *path;     // as given, "./" stripped
  char *caption;  // valid UTF-8; "" means none
  int line;
  int used;
} Caption;

typedef struct {
  Caption *v;
  int n, cap;
} Captions;

typedef struct {
  const unsigned char *s;
  size_t i, n;
  const char *file;
  long line;
} Json;

static _Noreturn void json_fail(const Json *j, const char *what) {
  tsr_user_error("%s:%ld: not a JSON object {\"path\": ..., \"caption\": ...}: %s at column %zu", j->file, j->line, what,
                 j->i + 1);
}

static void ws(Json *j) {
  while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\r' || j->s[j->i] == '\n')) j->i++;
}

// Length of the valid UTF-8 sequence at s[0..n) or 0.
static int utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  int len = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3 : (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
  if (!len || (size_t)len > n) return 0;
  for (int k = 1; k < len; k++)
    if ((s[k] & 0xC0) != 0x80) return 0;
  if (len == 3) {
    unsigned v = ((c & 0x0F) << 12) | ((s[1] & 0x3F) << 6);
    if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  }
  if (len == 4) {
    unsigned v = ((c & 0x07) << 18) | ((s[1] & 0x3F) << 12);
    if (v < 0x10000 || v > 0x10FFFF) return 0;
  }
  return len;
}

static void put_utf8(char *o, size_t *k, unsigned cp) {
  if (cp < 0x80) o[(*k)++] = (char)cp;
  else if (cp < 0x800) {
    o[(*k)++] = (char)(0xC0 | (cp >> 6));
    o[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    o[(*k)++] = (char)(0xE0 | (cp >> 12));
    o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    o[(*k)++] = (char)(0xF0 | (cp >> 18));
    o[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[(*k)++] = (char)(0x80 | (cp & 0x3F));
  }
}

static int hex4(Json *j, unsigned *out) {
  if (j->i + 4 > j->n) return -1;
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    unsigned c = j->s[j->i + k];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else return -1;
  }
  j->i += 4;
  *out = v;
  return 0;
}

// A JSON string at j->i (the opening quote) -> malloc'ed UTF-8 (when out != NULL).
// `field` names it in the UTF-8 error ("caption", "path" or "key").
static char *json_string(Json *j, const char *field, int keep) {
  if (j->i >= j->n || j->s[j->i] != '"') json_fail(j, "expected a string");
  j->i++;
  char *o = keep ? malloc(j->n - j->i + 1) : NULL;  // the decoded text is never longer than its source
  TSR_ASSERT(!keep || o, "out of memory");
  size_t k = 0;
  for (;;) {
    if (j->i >= j->n) json_fail(j, "unterminated string");
    unsigned c = j->s[j->i];
    if (c == '"') {
      j->i++;
      break;
    }
    if (c < 0x20) json_fail(j, "control character in a string (escape it)");
    if (c == '\\') {
      j->i++;
      if (j->i >= j->n) json_fail(j, "unterminated string");
      unsigned e = j->s[j->i++], cp;
      switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
          if (hex4(j, &cp)) json_fail(j, "expected 4 hex digits after \\u");
          if (cp >= 0xD800 && cp <= 0xDBFF) {  // surrogate pair
            unsigned lo;
            if (j->i + 2 > j->n || j->s[j->i] != '\\' || j->s[j->i + 1] != 'u') json_fail(j, "unpaired UTF-16 surrogate in \\u escape");
            j->i += 2;
            if (hex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) json_fail(j, "unpaired UTF-16 surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            json_fail(j, "unpaired UTF-16 surrogate in \\u escape");
          }
          if (cp == 0) json_fail(j, "\\u0000 (NUL) in a string");
          break;
        default:
          j->i--;
          json_fail(j, "invalid escape in a string");
      }
      if (o) put_utf8(o, &k, cp);
      continue;
    }
    int len = utf8_len(j->s + j->i, j->n - j->i);
    if (!len)
      tsr_user_error("%s:%ld: %s is not valid UTF-8 (byte 0x%02x at column %zu)", j->file, j->line, field, c, j->i + 1);
    if (o) memcpy(o + k, j->s + j->i, (size_t)len), k += (size_t)len;
    j->i += (size_t)len;
  }
  if (o) o[k] = 0;
  return o;
}

static void json_skip_value(Json *j, int depth);

static void json_skip_container(Json *j, int depth, char close) {
  j->i++;
  ws(j);
  if (j->i < j->n && j->s[j->i] == (unsigned char)close) {
    j->i++;
    return;
  }
  for (;;) {
    ws(j);
    if (close == '}') {
      json_string(j, "key", 0);
      ws(j);
      if (j->i >= j->n || j->s[j->i] != ':') json_fail(j, "expected ':'");
      j->i++;
      ws(j);
    }
    json_skip_value(j, depth + 1);
    ws(j);
    if (j->i < j->n && j->s[j->i] == ',') {
      j->i++;
      continue;
    }
    if (j->i < j->n && j->s[j->i] == (unsigned char)close) {
      j->i++;
      return;
    }
    json_fail(j, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static void json_skip_value(Json *j, int depth) {
  if (depth > 64) json_fail(j, "nested too deeply");
  if (j->i >= j->n) json_fail(j, "expected a value");
  unsigned c = j->s[j->i];
  if (c == '"') {
    json_string(j, "value", 0);
  } else if (c == '{') {
    json_skip_container(j, depth, '}');
  } else if (c == '[') {
    json_skip_container(j, depth, ']');
  } else if (!strncmp((const char *)j->s + j->i, "true", 4) && j->i + 4 <= j->n) {
    j->i += 4;
  } else if (!strncmp((const char *)j->s + j->i, "false", 5) && j->i + 5 <= j->n) {
    j->i += 5;
  } else if (!strncmp((const char *)j->s + j->i, "null", 4) && j->i + 4 <= j->n) {
    j->i += 4;
  } else if (c == '-' || (c >= '0' && c <= '9')) {  // JSON number grammar
    size_t i = j->i;
    if (j->s[i] == '-') i++;
    if (i < j->n && j->s[i] == '0') i++;
    else if (i < j->n && j->s[i] >= '1' && j->s[i] <= '9')
      while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
    else json_fail(j, "invalid number");
    if (i < j->n && j->s[i] == '.') {
      i++;
      if (i >= j->n || j->s[i] < '0' || j->s[i] > '9') json_fail(j, "invalid number");
      while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
    }
    if (i < j->n && (j->s[i] == 'e' || j->s[i] == 'E')) {
      i++;
      if (i < j->n && (j->s[i] == '+' || j->s[i] == '-')) i++;
      if (i >= j->n || j->s[i] < '0' || j->s[i] > '9') json_fail(j, "invalid number");
      while (i < j->n && j->s[i] >= '0' && j->s[i] <= '9') i++;
    }
    j->i = i;
  } else {
    json_fail(j, "expected a value");
  }
}

static const char *strip_dot_slash(const char *p) {
  while (p[0] == '.' && p[1] == '/') {
    p += 2;
    while (*p == '/') p++;
  }
  return p;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

// Parses one line (already stripped of its newline) into c; returns 0 for a blank line.
static int parse_line(Json *j, Caption *c) {
  ws(j);
  if (j->i == j->n) return 0;
  if (j->s[j->i] != '{') json_fail(j, "expected '{'");
  j->i++;
  char *path = NULL, *caption = NULL;
  ws(j);
  if (j->i < j->n && j->s[j->i] == '}') {
    j->i++;
  } else {
    for (;;) {
      ws(j);
      char *key = json_string(j, "key", 1);
      ws(j);
      if (j->i >= j->n || j->s[j->i] != ':') json_fail(j, "expected ':' after a key");
      j->i++;
      ws(j);
      int is_path = !strcmp(key, "path"), is_caption = !strcmp(key, "caption");
      if (is_path || is_caption) {
        if (j->i >= j->n || j->s[j->i] != '"')
          tsr_user_error("%s:%ld: \"%s\": expected a string", j->file, j->line, key);
        char **dst = is_path ? &path : &caption;
        if (*dst) tsr_user_error("%s:%ld: \"%s\" given twice", j->file, j->line, key);
        *dst = json_string(j, is_path ? "path" : "caption", 1);
      } else {
        json_skip_value(j, 1);  // other keys are allowed and ignored
      }
      free(key);
      ws(j);
      if (j->i < j->n && j->s[j->i] == ',') {
        j->i++;
        continue;
      }
      if (j->i < j->n && j->s[j->i] == '}') {
        j->i++;
        break;
      }
      json_fail(j, "expected ',' or '}'");
    }
  }
  ws(j);
  if (j->i != j->n) json_fail(j, "unexpected text after the object");
  if (!path || !caption)
    tsr_user_error("%s:%ld: expected the keys \"path\" and \"caption\" (strings); \"%s\" is missing", j->file, j->line,
                   path ? "caption" : "path");
  const char *p = strip_dot_slash(path);
  if (!*p || p[strlen(p) - 1] == '/') tsr_user_error("%s:%ld: \"path\": expected a file name, got \"%s\"", j->file, j->line, path);
  c->path = malloc(strlen(p) + 1);
  TSR_ASSERT(c->path, "out of memory");
  strcpy(c->path, p);
  free(path);
  // control characters (escaped newlines, tabs) become spaces
  for (char *q = caption; *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = ' ';
  c->caption = caption;
  return 1;
}

static void load_captions(const char *file, Captions *cs) {
  memset(cs, 0, sizeof *cs);
  FILE *f = fopen(file, "rb");
  if (!f) tsr_user_error("%s: cannot open: %s", file, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) tsr_user_error("%s: cannot read captions: is a directory", file);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lineno = 0;
  while ((len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    size_t n = (size_t)len;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (memchr(line, 0, n)) tsr_user_error("%s:%ld: not a JSON object: contains a NUL byte", file, lineno);
    size_t start = 0;
    if (lineno == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) start = 3;  // UTF-8 byte order mark
    Json j = {(const unsigned char *)line + start, 0, n - start, file, lineno};
    Caption c = {0};
    if (!parse_line(&j, &c)) continue;
    c.line = (int)lineno;
    for (int k = 0; k < cs->n; k++)
      if (!strcmp(cs->v[k].path, c.path))
        tsr_user_error("%s:%ld: path \"%s\" already has a caption (line %d)", file, lineno, c.path, cs->v[k].line);
    if (cs->n == cs->cap) {
      cs->cap = cs->cap ? 2 * cs->cap : 64;
      cs->v = realloc(cs->v, (size_t)cs->cap * sizeof *cs->v);
      TSR_ASSERT(cs->v, "out of memory");
    }
    cs->v[cs->n++] = c;
  }
  if (ferror(f)) tsr_user_error("%s: read error: %s", file, strerror(errno));
  free(line);
  fclose(f);
}

// The sidecar entry for file `name` of DIR: the same relative name, else the same base name.
static Caption *find_caption(Captions *cs, const char *name) {
  for (int k = 0; k < cs->n; k++)
    if (!strcmp(cs->v[k].path, name)) return &cs->v[k];
  for (int k = 0; k < cs->n; k++)
    if (!strcmp(base_name(cs->v[k].path), name)) return &cs->v[k];
  return NULL;
}

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ' ') return 0;
  return 1;
}

// ------------------------------------------------------------------ directory

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Files that are never videos (sidecars, corpora, notes), not even tried.
static int not_a_video(const char *name) {
  static const char *const ext[] = {".json", ".jsonl", ".txt", ".md", ".csv", ".tsv", ".yaml", ".yml", ".h5", ".hdf5", ".tmp"};
  size_t n = strlen(name);
  for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++) {
    size_t e = strlen(ext[k]);
    if (n > e && !strcasecmp(name + n - e, ext[k])) return 1;
  }
  return 0;
}

static char **list_videos(const IngestOptions *o, int *count, int *ignored) {
  DIR *d = opendir(o->videos);
  if (!d) tsr_user_error("%s: cannot open the video directory: %s", o->videos, strerror(errno));
  struct stat cst = {0};
  int have_cst = o->captions && stat(o->captions, &cst) == 0;
  char **names = NULL;
  int n = 0, cap = 0;
  *ignored = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;  // hidden files, . and ..
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", o->videos, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (have_cst && st.st_dev == cst.st_dev && st.st_ino == cst.st_ino) continue;  // the sidecar itself
    if (not_a_video(e->d_name)) {
      (*ignored)++;
      continue;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      names = realloc(names, (size_t)cap * sizeof *names);
      TSR_ASSERT(names, "out of memory");
    }
    names[n] = strdup(e->d_name);
    TSR_ASSERT(names[n], "out of memory");
    n++;
  }
  closedir(d);
  if (n > 1) qsort(names, (size_t)n, sizeof *names, cmp_str);
  *count = n;
  return names;
}

// The bucket whose aspect ratio (W/H) is closest to the video's, on a log scale; ties: the first given.
static int pick_bucket(const IngestOptions *o, int H, int W) {
  double a = log((double)W / H);
  int best = 0;
  double bd = 1e30;
  for (int k = 0; k < o->nsizes; k++) {
    double d = fabs(a - log((double)o->size[k][1] / o->size[k][0]));
    if (d < bd - 1e-12) bd = d, best = k;
  }
  return best;
}

// ------------------------------------------------------------------ the command

int data_cmd_ingest(int argc, char **argv) {
  IngestOptions o;
  parse_options(&o, argc, argv);
  const double t0 = timer_now();

  corpus_writer_check_path(o.out);  // first, so a long run does not end in "cannot create"

  Captions caps = {0};
  if (o.captions) load_captions(o.captions, &caps);
  struct stat vst;
  if (stat(o.videos, &vst) != 0) tsr_user_error("%s: cannot open the video directory: %s", o.videos, strerror(errno));
  if (!S_ISDIR(vst.st_mode)) tsr_user_error("%s: expected a directory of videos (--videos)", o.videos);
  int nfiles = 0, ignored = 0;
  char **names = list_videos(&o, &nfiles, &ignored);
  if (nfiles == 0)
    tsr_user_error("%s: no video files in the directory (%s)", o.videos,
                   ignored ? "only sidecar or data files" : "it is empty or holds only hidden files");

  CorpusWriter *w = NULL;
  const int K = o.clips_per_video;
  const int max_frames = K > 0 ? K * o.T : 0;
  int nvideos = 0, undecodable = 0, too_short = 0;
  long nclips = 0, nframes_out = 0, bucket_clips[MAX_BUCKETS] = {0};
  double decode_s = 0;
  char err[512], path[PATH_MAX], caption_buf[1024];
  char *recap = malloc(RECAPTION_MAX);
  TSR_ASSERT(recap, "out of memory");
  for (int f = 0; f < nfiles; f++) {
    snprintf(path, sizeof path, "%s/%s", o.videos, names[f]);
    Caption *c = find_caption(&caps, names[f]);
    if (c) c->used = 1;
    int vh = 0, vw = 0;
    double td = timer_now();
    if (video_probe(path, &vh, &vw, err, sizeof err)) {
      decode_s += timer_now() - td;
      log_warn("%s: skipped (undecodable): %s", path, err);
      undecodable++;
      continue;
    }
    // The bucket from the stream's frame size; frames are scaled while decoding (video_read_fit).
    const int b = pick_bucket(&o, vh, vw);
    const int bh = o.size[b][0], bw = o.size[b][1];
    VideoFrames v;
    int rc = video_read_fit(path, o.fps, max_frames, bh, bw, &v, err, sizeof err);
    decode_s += timer_now() - td;
    if (rc) {
      log_warn("%s: skipped (undecodable): %s", path, err);
      undecodable++;
      continue;
    }
    if (v.T < o.T) {
      log_warn("%s: skipped (too short): %d frames at %g fps, a clip needs %d", path, v.T, (double)o.fps, o.T);
      too_short++;
      video_frames_free(&v);
      continue;
    }
    int n = v.T / o.T;
    if (K > 0 && n > K) n = K;
    const int generated = !c || blank(c->caption);
    for (int k = 0; k < n; k++) {
      VideoFrames sub = {.T = o.T, .H = v.H, .W = v.W, .fps = v.fps,
                         .pixels = v.pixels + (size_t)k * o.T * v.H * v.W * 3};
      VideoFrames clip;
      video_resize_crop(&sub, bh, bw, &clip);
      ClipAttributes a;
      recaption_measure(clip.pixels, clip.T, clip.H, clip.W, &a);
      const char *caption;
      if (generated) {
        recaption_short(&a, caption_buf, sizeof caption_buf);
        caption = caption_buf;
      } else {
        caption = c->caption;
      }
      recaption_compose(caption, &a, recap, RECAPTION_MAX);
      if (!w) {
        w = corpus_writer_open(o.out, o.pt, o.ph, o.pw, 3, o.text_length);
      }
      CorpusClip cc = {.pixels = clip.pixels, .caption = caption, .recaption = recap, .source = names[f], .fps = v.fps};
      corpus_writer_add(w, o.T, bh, bw, &cc);
      video_frames_free(&clip);
    }
    log_info("  %s: %dx%d, %d frames at %g fps -> %d clip%s of %dx%dx%d%s", names[f], vw, vh, v.T, (double)v.fps, n,
             n == 1 ? "" : "s", o.T, bh, bw, generated ? " (generated caption)" : "");
    nvideos++;
    nclips += n;
    nframes_out += (long)n * o.T;
    bucket_clips[b] += n;
    video_frames_free(&v);
  }
  free(recap);

  if (!w) {
    tsr_user_error("%s: no decodable video long enough for a clip (%d file%s tried: %d undecodable, %d shorter than %d frames at %g fps)",
                   o.videos, nfiles, nfiles == 1 ? "" : "s", undecodable, too_short, o.T, (double)o.fps);
  }
  corpus_writer_close(w);

  int unused = 0, first_unused = -1;
  for (int k = 0; k < caps.n; k++)
    if (!caps.v[k].used) {
      unused++;
      if (first_unused < 0) first_unused = k;
    }
  if (unused)
    log_warn("%s: %d caption%s matched no video in %s (first: line %d, \"%s\")", o.captions, unused,
             unused == 1 ? "" : "s", o.videos, caps.v[first_unused].line, caps.v[first_unused].path);
  const double dt = timer_now() - t0;
  char skipped[160] = "";
  int nskip = undecodable + too_short;
  if (nskip) {
    if (undecodable && too_short)
      snprintf(skipped, sizeof skipped, "; skipped %d (%d undecodable, %d too short)", nskip, undecodable, too_short);
    else
      snprintf(skipped, sizeof skipped, "; skipped %d (%s)", nskip, undecodable ? "undecodable" : "too short");
  }
  char buckets[512] = "";
  for (int k = 0; k < o.nsizes; k++)
    if (bucket_clips[k])
      snprintf(buckets + strlen(buckets), sizeof buckets - strlen(buckets), "%s%dx%dx%d: %ld", buckets[0] ? ", " : "",
               o.T, o.size[k][0], o.size[k][1], bucket_clips[k]);
  log_info("ingested %d video%s, %ld clip%s%s -> %s [%s]", nvideos, nvideos == 1 ? "" : "s", nclips,
           nclips == 1 ? "" : "s", skipped, o.out, buckets);
  log_info("%.2f s (decoding %.2f s), %.0f frames/s", dt, decode_s, dt > 0 ? nframes_out / dt : 0.0);
  for (int k = 0; k < caps.n; k++) {
    free(caps.v[k].path);
    free(caps.v[k].caption);
  }
  free(caps.v);
  for (int f = 0; f < nfiles; f++) free(names[f]);
  free(names);
  return 0;
}
