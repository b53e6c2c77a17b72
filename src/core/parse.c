#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"

int parse_long(const char *s, long lo, long hi, long *out) {
  char *end;
  if (!*s || *s == ' ' || *s == '+') return -1;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int parse_dims(const char *s, int n, int *out) {
  const char *p = s;
  for (int i = 0; i < n; i++) {
    char *end;
    if (*p < '0' || *p > '9') return -1;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || v < 1 || v > 1 << 16) return -1;
    out[i] = (int)v;
    if (i < n - 1) {
      if (*end != 'x' && *end != 'X') return -1;
      p = end + 1;
    } else if (*end) {
      return -1;
    }
  }
  return 0;
}

int utf8_seq_len(const unsigned char *s, size_t n) {
  if (n == 0) return 0;
  const unsigned c = s[0];
  if (c < 0x80) return 1;
  int len;
  unsigned lo = 0x80, hi = 0xBF;  // the range of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
  else return 0;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
  if ((size_t)len > n || s[1] < lo || s[1] > hi) return 0;
  for (int k = 2; k < len; k++)
    if (s[k] < 0x80 || s[k] > 0xBF) return 0;
  return len;
}

long utf8_invalid_at(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    int k = utf8_seq_len(p + i, n - i);
    if (!k) return (long)i;
    i += (size_t)k;
  }
  return -1;
}

int text_check(const char *s, size_t n, int *line, char *why, int whylen) {
  const unsigned char *p = (const unsigned char *)s;
  size_t bol = 0;  // where the current line begins
  *line = 1;
  for (size_t i = 0; i < n;) {
    int k = p[i] ? utf8_seq_len(p + i, n - i) : 0;
    if (!k) {
      if (p[i]) snprintf(why, (size_t)whylen, "invalid UTF-8 (byte 0x%02x) at column %zu", p[i], i - bol + 1);
      else snprintf(why, (size_t)whylen, "a NUL byte at column %zu", i - bol + 1);
      return -1;
    }
    if (p[i] == '\n') ++*line, bol = i + 1;
    i += (size_t)k;
  }
  return 0;
}
