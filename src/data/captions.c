// Caption JSONL sidecar (captions.h), parsed line by line with libjansson.
#include "data/captions.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

static char *dup_str(const char *s) {
  char *d = strdup(s);
  TSR_ASSERT(d, "out of memory");
  return d;
}

// One line (no newline) into c; 0 for a blank line, 1 for an entry, -1 on error.
static int parse_line(const char *file, long lineno, const char *s, size_t n, Caption *c, TsrErr *err) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) i++;
  if (i == n) return 0;
  json_error_t je;
  json_t *root = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
  if (!root) {
    const char *what = json_error_code(&je) == json_error_invalid_utf8 ? "not valid UTF-8"
                       : "not a JSON object {\"path\": ..., \"caption\": ...}";
    return tsr_err(err, "%s:%ld: %s: %s at column %d", file, lineno, what, je.text, je.column);
  }
  int rc = -1;
  if (!json_is_object(root)) {
    tsr_err(err, "%s:%ld: not a JSON object {\"path\": ..., \"caption\": ...}: found a JSON array", file, lineno);
    goto done;
  }
  json_t *path = json_object_get(root, "path"), *caption = json_object_get(root, "caption");
  if ((path && !json_is_string(path)) || (caption && !json_is_string(caption))) {
    tsr_err(err, "%s:%ld: \"%s\": expected a string", file, lineno, path && !json_is_string(path) ? "path" : "caption");
    goto done;
  }
  if (!path || !caption) {
    tsr_err(err, "%s:%ld: expected the keys \"path\" and \"caption\" (strings); \"%s\" is missing", file, lineno,
            path ? "caption" : "path");
    goto done;
  }
  const char *p = strip_dot_slash(json_string_value(path));
  if (!*p || p[strlen(p) - 1] == '/') {
    tsr_err(err, "%s:%ld: \"path\": expected a file name, got \"%s\"", file, lineno, json_string_value(path));
    goto done;
  }
  c->path = dup_str(p);
  c->caption = dup_str(json_string_value(caption));
  // control characters (escaped newlines, tabs) become spaces
  for (char *q = c->caption; *q; q++)
    if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = ' ';
  rc = 1;
done:
  json_decref(root);
  return rc;
}

// seen: a JSON object used as a hash set, path -> the line that gave it.
static int add(const char *file, long lineno, Captions *cs, Caption c, json_t *seen, TsrErr *err) {
  json_t *first = json_object_get(seen, c.path);
  if (first) {
    tsr_err(err, "%s:%ld: path \"%s\" already has a caption (line %lld)", file, lineno, c.path,
            (long long)json_integer_value(first));
    free(c.path);
    free(c.caption);
    return -1;
  }
  if (json_object_set_new(seen, c.path, json_integer(lineno))) TSR_ASSERT(0, "out of memory");
  if (cs->n == cs->cap) {
    cs->cap = cs->cap ? 2 * cs->cap : 64;
    cs->v = realloc(cs->v, (size_t)cs->cap * sizeof *cs->v);
    TSR_ASSERT(cs->v, "out of memory");
  }
  cs->v[cs->n++] = c;
  return 0;
}

static int read_lines(const char *file, FILE *f, Captions *cs, TsrErr *err) {
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
    return tsr_err(err, "%s: cannot read captions: is a directory", file);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lineno = 0;
  int rc = 0;
  json_t *seen = json_object();
  TSR_ASSERT(seen, "out of memory");
  while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
    lineno++;
    size_t n = (size_t)len;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (memchr(line, 0, n)) {
      rc = tsr_err(err, "%s:%ld: not a JSON object: contains a NUL byte", file, lineno);
      break;
    }
    size_t start = 0;
    if (lineno == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) start = 3;  // UTF-8 byte order mark
    Caption c = {0};
    int got = parse_line(file, lineno, line + start, n - start, &c, err);
    if (got < 0) rc = -1;
    else if (got) {
      c.line = (int)lineno;
      rc = add(file, lineno, cs, c, seen, err);
    }
  }
  if (rc == 0 && ferror(f)) rc = tsr_err(err, "%s: read error: %s", file, strerror(errno));
  json_decref(seen);
  free(line);
  return rc;
}

int captions_load(const char *file, Captions *cs, TsrErr *err) {
  memset(cs, 0, sizeof *cs);
  FILE *f = fopen(file, "rb");
  if (!f) return tsr_err(err, "%s: cannot open: %s", file, strerror(errno));
  int rc = read_lines(file, f, cs, err);
  fclose(f);
  if (rc) captions_free(cs);
  return rc;
}

void captions_free(Captions *cs) {
  for (int k = 0; k < cs->n; k++) {
    free(cs->v[k].path);
    free(cs->v[k].caption);
  }
  free(cs->v);
  memset(cs, 0, sizeof *cs);
}

Caption *captions_find(Captions *cs, const char *name) {
  for (int k = 0; k < cs->n; k++)
    if (!strcmp(cs->v[k].path, name)) return &cs->v[k];
  for (int k = 0; k < cs->n; k++)
    if (!strcmp(base_name(cs->v[k].path), name)) return &cs->v[k];
  return NULL;
}
