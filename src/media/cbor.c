#include "media/cbor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void head(Bytes *b, int major, uint64_t v) {
  uint8_t m = (uint8_t)(major << 5);
  if (v < 24) {
    bytes_u8(b, m | (uint8_t)v);
  } else if (v <= 0xff) {
    bytes_u8(b, m | 24);
    bytes_u8(b, (unsigned)v);
  } else if (v <= 0xffff) {
    bytes_u8(b, m | 25);
    bytes_u8(b, (unsigned)(v >> 8));
    bytes_u8(b, (unsigned)v & 0xff);
  } else if (v <= 0xffffffffu) {
    bytes_u8(b, m | 26);
    bytes_be32(b, (uint32_t)v);
  } else {
    bytes_u8(b, m | 27);
    bytes_be64(b, v);
  }
}

void cbor_uint(Bytes *b, uint64_t v) { head(b, CBOR_UINT, v); }
void cbor_int(Bytes *b, int64_t v) {
  if (v >= 0) head(b, CBOR_UINT, (uint64_t)v);
  else head(b, CBOR_NINT, (uint64_t)(-1 - v));
}
void cbor_bstr(Bytes *b, const void *p, size_t n) {
  head(b, CBOR_BSTR, n);
  bytes_put(b, p, n);
}
void cbor_tstr(Bytes *b, const char *s) {
  size_t n = strlen(s);
  head(b, CBOR_TSTR, n);
  bytes_put(b, s, n);
}
void cbor_array(Bytes *b, size_t n) { head(b, CBOR_ARRAY, n); }
void cbor_map(Bytes *b, size_t n) { head(b, CBOR_MAP, n); }
void cbor_tag(Bytes *b, uint64_t tag) { head(b, CBOR_TAG, tag); }
void cbor_null(Bytes *b) { bytes_u8(b, 0xf6); }

static double half_to_double(unsigned h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return h & 0x8000 ? -v : v;
}

int cbor_next(CborReader *r, CborItem *it) {
  if (r->pos >= r->n) return -1;
  uint8_t c = r->p[r->pos++];
  int ai = c & 31;
  it->major = c >> 5;
  it->p = NULL;
  it->f = 0;
  uint64_t v = (uint64_t)ai;
  int extra = ai == 24 ? 1 : ai == 25 ? 2 : ai == 26 ? 4 : ai == 27 ? 8 : 0;
  if (ai > 27) return -1;  // indefinite lengths and reserved values: not in the subset
  if (r->n - r->pos < (size_t)extra) return -1;
  if (extra) {
    v = 0;
    for (int i = 0; i < extra; i++) v = v << 8 | r->p[r->pos + (size_t)i];
    r->pos += (size_t)extra;
  }
  it->len = v;
  if (it->major == CBOR_BSTR || it->major == CBOR_TSTR) {
    if (v > r->n - r->pos) return -1;
    it->p = r->p + r->pos;
    r->pos += (size_t)v;
  } else if (it->major == CBOR_SIMPLE && extra) {
    if (extra == 2) it->f = half_to_double((unsigned)v);
    else if (extra == 4) {
      float f;
      uint32_t u = (uint32_t)v;
      memcpy(&f, &u, 4);
      it->f = f;
    } else if (extra == 8) memcpy(&it->f, &v, 8);
    it->len = 0;
  }
  return 0;
}

static int skip_depth(CborReader *r, int depth) {
  CborItem it;
  if (depth > 32 || cbor_next(r, &it) != 0) return -1;
  if (it.major == CBOR_TAG) return skip_depth(r, depth + 1);
  if (it.major == CBOR_ARRAY || it.major == CBOR_MAP) {
    uint64_t k = it.major == CBOR_MAP ? 2 : 1;
    if (it.len > r->n) return -1;  // more items than bytes left: malformed
    for (uint64_t i = 0; i < it.len * k; i++)
      if (skip_depth(r, depth + 1) != 0) return -1;
  }
  return 0;
}

int cbor_skip(CborReader *r) { return skip_depth(r, 0); }

int cbor_map_find(CborReader *r, const char *key) {
  CborReader q = *r;
  CborItem m, k;
  if (cbor_next(&q, &m) != 0 || m.major != CBOR_MAP) return -1;
  size_t kl = strlen(key);
  for (uint64_t i = 0; i < m.len; i++) {
    if (cbor_next(&q, &k) != 0) return -1;
    if (k.major == CBOR_TSTR && k.len == kl && !memcmp(k.p, key, kl)) {
      *r = q;
      return 0;
    }
    if (k.major == CBOR_ARRAY || k.major == CBOR_MAP || k.major == CBOR_TAG) return -1;  // keys are scalars here
    if (cbor_skip(&q) != 0) return -1;
  }
  return -1;
}

static json_t *to_json(CborReader *r, int depth) {
  CborItem it;
  if (depth > 32 || cbor_next(r, &it) != 0) return NULL;
  switch (it.major) {
  case CBOR_UINT: return json_integer((json_int_t)it.len);
  case CBOR_NINT: return json_integer(-1 - (json_int_t)it.len);
  case CBOR_TSTR: return json_stringn((const char *)it.p, (size_t)it.len);
  case CBOR_BSTR: {
    char *hex = malloc(2 * (size_t)it.len + 1);
    if (!hex) return NULL;
    for (uint64_t i = 0; i < it.len; i++) snprintf(hex + 2 * i, 3, "%02x", it.p[i]);
    hex[2 * it.len] = 0;
    json_t *s = json_string(hex);
    free(hex);
    return s;
  }
  case CBOR_TAG: return to_json(r, depth + 1);
  case CBOR_SIMPLE:
    if (it.len == 20) return json_false();
    if (it.len == 21) return json_true();
    if (it.len == 22 || it.len == 23) return json_null();
    return json_real(it.f);
  case CBOR_ARRAY: {
    if (it.len > r->n) return NULL;
    json_t *a = json_array();
    for (uint64_t i = 0; i < it.len; i++) {
      json_t *v = to_json(r, depth + 1);
      if (!v) { json_decref(a); return NULL; }
      json_array_append_new(a, v);
    }
    return a;
  }
  default: {  // map: text keys kept, other keys written as text
    if (it.len > r->n) return NULL;
    json_t *o = json_object();
    for (uint64_t i = 0; i < it.len; i++) {
      json_t *k = to_json(r, depth + 1), *v = k ? to_json(r, depth + 1) : NULL;
      if (!v) { json_decref(k); json_decref(o); return NULL; }
      char num[32];
      const char *ks = json_is_string(k) ? json_string_value(k) : num;
      if (!json_is_string(k)) snprintf(num, sizeof num, "%lld", json_is_integer(k) ? (long long)json_integer_value(k) : 0LL);
      json_object_set_new(o, ks, v);
      json_decref(k);
    }
    return o;
  }
  }
}

json_t *cbor_to_json(CborReader *r) { return to_json(r, 0); }
