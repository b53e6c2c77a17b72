#include "core/jsonx.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "core/parse.h"

json_t *jx_string(const char *s) {
  json_t *v = json_string(s ? s : "");
  if (v) return v;
  // not valid UTF-8: copy valid sequences, replace the rest with U+FFFD (EF BF BD)
  size_t n = strlen(s), k = 0;
  char *o = tsr_calloc(3 * n + 1, 1);
  for (size_t i = 0; i < n;) {
    int len = utf8_seq_len((const unsigned char *)s + i, n - i);
    if (len > 0) memcpy(o + k, s + i, (size_t)len), k += (size_t)len, i += (size_t)len;
    else memcpy(o + k, "\xEF\xBF\xBD", 3), k += 3, i++;
  }
  v = json_stringn(o, k);
  tsr_free(o);
  TSR_ASSERT(v, "jx_string: could not make a JSON string");
  return v;
}

static json_t *number_of(const char *buf) {
  double r = strtod(buf, NULL);
  if (r == floor(r) && fabs(r) < 9.0e15 && !strpbrk(buf, ".e")) return json_integer((json_int_t)r);
  return json_real(r);
}

json_t *jx_round(double v, int digits) {
  if (!isfinite(v)) return json_null();
  char buf[64];
  snprintf(buf, sizeof buf, "%.*g", digits, v);
  return number_of(buf);
}

json_t *jx_fixed(double v, int decimals) {
  if (!isfinite(v)) return json_null();
  char buf[400];
  snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return number_of(buf);
}

json_t *jx_parse(const char *text, size_t len, char *why, size_t whylen) {
  json_error_t e;
  json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &e);
  if (!v) snprintf(why, whylen, "line %d, column %d: %s", e.line, e.column, e.text);
  return v;
}

char *jx_dump(const json_t *v) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
  TSR_ASSERT(s, "json_dumps failed (out of memory)");
  return s;
}

int jx_write_file(const json_t *v, const char *path, char *why, size_t whylen) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  char *s = json_dumps(v, JSON_INDENT(1) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9));
  TSR_ASSERT(s, "json_dumps failed (out of memory)");
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644), rc = -1;
  size_t n = strlen(s);
  if (fd < 0) {
    snprintf(why, whylen, "%s: cannot write: %s", path, strerror(errno));
    free(s);
    return -1;
  }
  if (write(fd, s, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0) rc = 0;
  int saved = errno;
  if (close(fd) != 0 && rc == 0) rc = -1, saved = errno;
  if (rc == 0 && rename(tmp, path) != 0) rc = -1, saved = errno;
  if (rc != 0) {
    unlink(tmp);
    snprintf(why, whylen, "%s: cannot write: %s", path, strerror(saved ? saved : EIO));
  }
  free(s);
  return rc;
}

int jx_int(const json_t *o, const char *key, long long *out) {
  const json_t *v = json_object_get(o, key);
  if (json_is_integer(v)) return *out = json_integer_value(v), 0;
  if (json_is_real(v)) {
    double d = json_real_value(v);
    if (d == floor(d) && fabs(d) < 9.0e18) return *out = (long long)d, 0;
  }
  return -1;
}

int jx_real(const json_t *o, const char *key, double *out) {
  const json_t *v = json_object_get(o, key);
  if (!json_is_number(v)) return -1;
  *out = json_number_value(v);
  return 0;
}

const char *jx_str(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

const char *jx_kind(const json_t *v) {
  if (!v) return "nothing";
  switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
  }
  return "?";
}
