#include "core/parse.h"

#include <errno.h>
#include <math.h>
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

float parse_flag_float(const char *cmd, const char *flag, const char *v, float lo, float hi) {
  char *end;
  float x = strtof(v, &end);
  if (end == v || *end || !isfinite(x) || x < lo || x > hi)
    tsr_user_error("%s: %s: expected a number in [%g, %g], got '%s'", cmd, flag, lo, hi, v);
  return x;
}

int parse_flag_int(const char *cmd, const char *flag, const char *v, long lo, long hi) {
  long x;
  if (parse_long(v, lo, hi, &x)) tsr_user_error("%s: %s: expected an integer in [%ld, %ld], got '%s'", cmd, flag, lo, hi, v);
  return (int)x;
}
