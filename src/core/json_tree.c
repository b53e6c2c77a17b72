// Recursive descent over the RFC 8259 grammar; every value is checked as it
// is read, so a failure names the first byte that does not fit.
#include "core/json_tree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/parse.h"
#include "core/utf8.h"

typedef struct {
  const unsigned char *s;
  size_t pos, len;
  char *err;
  size_t errlen;
} Cursor;

static int fail_at(Cursor *c, const char *what) {
  snprintf(c->err, c->errlen, "%s at byte %zu", what, c->pos);
  return -1;
}

static int peek(const Cursor *c) { return c->pos < c->len ? c->s[c->pos] : -1; }

static void skip_space(Cursor *c) {
  while (c->pos < c->len && strchr(" \t\r\n", c->s[c->pos]) && c->s[c->pos]) c->pos++;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  TSR_ASSERT(p, "out of memory");
  return p;
}

// Four hex digits of a \u escape.
static int read_hex4(Cursor *c, uint32_t *u) {
  *u = 0;
  for (int k = 0; k < 4; k++, c->pos++) {
    int h = peek(c);
    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
    if (d < 0) return fail_at(c, "expected 4 hex digits after \\u");
    *u = *u << 4 | (uint32_t)d;
  }
  return 0;
}

static int read_escape(Cursor *c, char *out, size_t *n) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  int e = peek(c);
  const char *k = e > 0 ? strchr(from, e) : NULL;
  if (k && *k) { out[(*n)++] = to[k - from]; c->pos++; return 0; }
  if (e != 'u') return fail_at(c, "invalid escape in a string");
  c->pos++;
  uint32_t u;
  if (read_hex4(c, &u)) return -1;
  if (u >= 0xDC00 && u <= 0xDFFF) return fail_at(c, "unpaired UTF-16 surrogate");
  if (u >= 0xD800 && u <= 0xDBFF) {
    uint32_t lo;
    if (peek(c) != '\\' || c->pos + 1 >= c->len || c->s[c->pos + 1] != 'u') return fail_at(c, "unpaired UTF-16 surrogate");
    c->pos += 2;
    if (read_hex4(c, &lo)) return -1;
    if (lo < 0xDC00 || lo > 0xDFFF) return fail_at(c, "unpaired UTF-16 surrogate");
    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
  }
  if (u == 0) return fail_at(c, "\\u0000 (NUL) in a string");
  *n += (size_t)utf8_encode(u, out + *n);
  return 0;
}

static int read_string(Cursor *c, char **out) {
  if (peek(c) != '"') return fail_at(c, "expected a string");
  c->pos++;
  char *buf = xrealloc(NULL, c->len - c->pos + 1);  // decoding never lengthens
  size_t n = 0;
  for (;;) {
    int ch = peek(c);
    if (ch < 0) { free(buf); return fail_at(c, "unterminated string"); }
    if (ch == '"') break;
    if (ch < 0x20) { free(buf); return fail_at(c, "unescaped control character in a string"); }
    if (ch == '\\') {
      c->pos++;
      if (read_escape(c, buf, &n)) { free(buf); return -1; }
      continue;
    }
    int k = utf8_seq_len(c->s + c->pos, c->len - c->pos);
    if (!k) { free(buf); return fail_at(c, "invalid UTF-8 in a string"); }
    memcpy(buf + n, c->s + c->pos, (size_t)k);
    n += (size_t)k, c->pos += (size_t)k;
  }
  c->pos++;
  buf[n] = 0;
  *out = buf;
  return 0;
}

static size_t skip_digits(Cursor *c) {
  size_t b = c->pos;
  while (peek(c) >= '0' && peek(c) <= '9') c->pos++;
  return c->pos - b;
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written.
static int read_number(Cursor *c, JtValue *v) {
  size_t b = c->pos;
  if (peek(c) == '-') c->pos++;
  if (peek(c) == '0') c->pos++;
  else if (!skip_digits(c)) return fail_at(c, "expected a value");
  if (peek(c) == '.') {
    c->pos++;
    if (!skip_digits(c)) return fail_at(c, "expected a digit after '.'");
  }
  if (peek(c) == 'e' || peek(c) == 'E') {
    c->pos++;
    if (peek(c) == '+' || peek(c) == '-') c->pos++;
    if (!skip_digits(c)) return fail_at(c, "expected a digit in the exponent");
  }
  v->kind = JT_NUMBER;
  v->text = strndup((const char *)c->s + b, c->pos - b);
  TSR_ASSERT(v->text, "out of memory");
  return 0;
}

static int read_value(Cursor *c, JtValue *v, int depth);

// The elements of an array or the members of an object, after its opening bracket.
static int read_items(Cursor *c, JtValue *v, int depth) {
  const int obj = v->kind == JT_OBJECT;
  const int close = obj ? '}' : ']';
  int cap = 0;
  skip_space(c);
  if (peek(c) == close) { c->pos++; return 0; }
  for (;;) {
    if (v->n == cap) cap = cap ? 2 * cap : 8, v->items = xrealloc(v->items, (size_t)cap * sizeof *v->items);
    JtValue *it = &v->items[v->n];
    memset(it, 0, sizeof *it);
    skip_space(c);
    if (obj) {
      size_t at = c->pos;
      if (read_string(c, &it->key)) return -1;
      if (jt_member(v, it->key)) { free(it->key); c->pos = at; return fail_at(c, "duplicate key"); }
      skip_space(c);
      if (peek(c) != ':') { free(it->key); return fail_at(c, "expected ':'"); }
      c->pos++;
    }
    char *key = it->key;
    if (read_value(c, it, depth + 1)) {  // free what the failed value had built
      free(key);
      jt_free(it);
      return -1;
    }
    it->key = key;
    v->n++;
    skip_space(c);
    if (peek(c) == ',') { c->pos++; continue; }
    if (peek(c) == close) { c->pos++; return 0; }
    return fail_at(c, obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

static int read_value(Cursor *c, JtValue *v, int depth) {
  if (depth > JT_MAX_DEPTH) return fail_at(c, "nesting deeper than 32");
  skip_space(c);
  int ch = peek(c);
  memset(v, 0, sizeof *v);
  if (ch == '{' || ch == '[') {
    c->pos++;
    v->kind = ch == '{' ? JT_OBJECT : JT_ARRAY;
    return read_items(c, v, depth);
  }
  if (ch == '"') {
    v->kind = JT_STRING;
    return read_string(c, &v->text);
  }
  static const struct { const char *word; JtKind kind; } lit[] = {{"true", JT_TRUE}, {"false", JT_FALSE}, {"null", JT_NULL}};
  for (int k = 0; k < 3; k++) {
    size_t n = strlen(lit[k].word);
    if (c->len - c->pos >= n && !memcmp(c->s + c->pos, lit[k].word, n)) {
      c->pos += n;
      v->kind = lit[k].kind;
      return 0;
    }
  }
  return read_number(c, v);
}

int jt_parse(const char *text, size_t len, JtValue *root, char *err, size_t errlen) {
  Cursor c = {(const unsigned char *)text, 0, len, err, errlen};
  if (read_value(&c, root, 0)) { jt_free(root); return -1; }
  skip_space(&c);
  if (c.pos != c.len) { jt_free(root); return fail_at(&c, "unexpected text after the value"); }
  return 0;
}

void jt_free(JtValue *v) {
  for (int i = 0; i < v->n; i++) {
    free(v->items[i].key);
    v->items[i].key = NULL;
    jt_free(&v->items[i]);
  }
  free(v->items);
  free(v->text);
  memset(v, 0, sizeof *v);
}

const JtValue *jt_member(const JtValue *v, const char *key) {
  if (v->kind != JT_OBJECT) return NULL;
  for (int i = 0; i < v->n; i++)
    if (v->items[i].key && !strcmp(v->items[i].key, key)) return &v->items[i];
  return NULL;
}

int jt_int64(const JtValue *v, int64_t *out) {
  if (v->kind != JT_NUMBER || strpbrk(v->text, ".eE")) return -1;
  errno = 0;
  char *end;
  long long x = strtoll(v->text, &end, 10);
  if (errno || *end) return -1;
  *out = x;
  return 0;
}

int jt_double(const JtValue *v, double *out) {
  if (v->kind != JT_NUMBER) return -1;
  *out = strtod(v->text, NULL);
  return 0;
}

const char *jt_kind_name(JtKind k) {
  static const char *const names[] = {"null", "false", "true", "number", "string", "array", "object"};
  return names[k];
}
