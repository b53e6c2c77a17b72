#include "text/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/half.h"
#include "core/jsonx.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads little-endian tensors with memcpy: port st_read_f32 to this byte order"
#endif

#define ST_MAX_HEADER (100u << 20)  // the format's own limit on the JSON header

static const struct {
  const char *name;
  int bytes;
} DTYPES[] = {{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2},
              {"I8", 1},  {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E4M3", 1},
              {"F8_E5M2", 1}};

static int dtype_bytes(const char *name) {
  for (size_t i = 0; i < sizeof DTYPES / sizeof *DTYPES; i++)
    if (!strcmp(DTYPES[i].name, name)) return DTYPES[i].bytes;
  return 0;
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
  size_t k = (size_t)snprintf(buf, len, "[");
  for (int d = 0; d < ndim && k < len; d++) k += (size_t)snprintf(buf + k, len - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
  if (k < len) snprintf(buf + k, len - k, "]");
}

// A non-negative integer array of at most `max` entries.
static int int_array(const json_t *v, int max, int64_t *out, int *n) {
  if (!json_is_array(v) || json_array_size(v) > (size_t)max) return -1;
  size_t i;
  json_t *x;
  json_array_foreach(v, i, x) {
    if (!json_is_integer(x) || json_integer_value(x) < 0) return -1;
    out[i] = json_integer_value(x);
  }
  *n = (int)json_array_size(v);
  return 0;
}

// One header entry -> t, checked against the data section's size.
static int read_entry(const SafeTensors *st, const char *name, const json_t *e, StTensor *t, TsrErr *err) {
  const char *p = st->path;
  if (!json_is_object(e))
    return tsr_err(err, "%s: tensor '%s': header entry is a JSON %s, expected an object {dtype, shape, data_offsets}", p,
                     name, jx_kind(e));
  const char *dt = jx_str(e, "dtype");
  if (!dt) return tsr_err(err, "%s: tensor '%s': 'dtype' missing or not a string, expected e.g. \"F32\"", p, name);
  if (!dtype_bytes(dt))
    return tsr_err(err, "%s: tensor '%s': dtype '%s' unknown, expected F32, F16, BF16 or another safetensors dtype", p,
                     name, dt);
  snprintf(t->dtype, sizeof t->dtype, "%s", dt);
  if (int_array(json_object_get(e, "shape"), ST_MAX_DIMS, t->shape, &t->ndim))
    return tsr_err(err, "%s: tensor '%s': 'shape' missing or not a list of at most %d non-negative integers", p, name,
                     ST_MAX_DIMS);
  int64_t off[2];
  int noff = 0;
  if (int_array(json_object_get(e, "data_offsets"), 2, off, &noff) || noff != 2 || off[0] > off[1])
    return tsr_err(err, "%s: tensor '%s': 'data_offsets' missing or not [begin, end] with 0 <= begin <= end", p, name);
  t->begin = (uint64_t)off[0], t->end = (uint64_t)off[1];
  char shp[160];
  shape_str(shp, sizeof shp, t->ndim, t->shape);
  unsigned __int128 want = (unsigned)dtype_bytes(t->dtype);
  for (int d = 0; d < t->ndim; d++) {
    want *= (uint64_t)t->shape[d];
    if (want >> 63) return tsr_err(err, "%s: tensor '%s': shape %s of %s is too large (2^63 bytes or more)", p, name, shp, t->dtype);
  }
  if (want != t->end - t->begin)
    return tsr_err(err, "%s: tensor '%s': data_offsets [%llu, %llu) hold %llu bytes, expected %llu for %s %s", p, name,
                     (unsigned long long)t->begin, (unsigned long long)t->end, (unsigned long long)(t->end - t->begin),
                     (unsigned long long)want, t->dtype, shp);
  if (t->end > st->data_size)
    return tsr_err(err, "%s: tensor '%s': bytes [%llu, %llu) run past the end of the data (%zu bytes): truncated file?",
                     p, name, (unsigned long long)t->begin, (unsigned long long)t->end, st->data_size);
  t->name = strdup(name);
  TSR_ASSERT(t->name, "out of memory");
  return 0;
}

static int read_header(SafeTensors *st, const char *json, size_t len, TsrErr *err) {
  char why[256];
  json_t *h = jx_parse(json, len, why, sizeof why);
  if (!h) return tsr_err(err, "%s: header is not valid JSON: %s (the header starts at byte 8)", st->path, why);
  int rc = 0;
  if (!json_is_object(h)) rc = tsr_err(err, "%s: header is a JSON %s, expected an object of tensors", st->path, jx_kind(h));
  st->t = tsr_calloc(json_is_object(h) ? json_object_size(h) + 1 : 1, sizeof *st->t);
  const char *key;
  json_t *e;
  if (!rc)
    json_object_foreach(h, key, e) {
      if (!strcmp(key, "__metadata__")) continue;
      if ((rc = read_entry(st, key, e, &st->t[st->n], err))) break;
      st->n++;
    }
  json_decref(h);
  return rc;
}

int st_open(SafeTensors *st, const char *path, TsrErr *err) {
  memset(st, 0, sizeof *st);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return tsr_err(err, "%s: cannot open (%s), expected a safetensors file", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return tsr_err(err, "%s: not a regular file, expected a safetensors file", path);
  }
  st->path = strdup(path);
  TSR_ASSERT(st->path, "out of memory");
  st->size = (size_t)sb.st_size;
  if (st->size < 8) {
    close(fd);
    tsr_err(err, "%s: truncated: %zu bytes, expected at least 8 (the header length)", path, st->size);
    st_close(st);
    return -1;
  }
  void *m = mmap(NULL, st->size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (m == MAP_FAILED) {
    tsr_err(err, "%s: cannot map (%s)", path, strerror(errno));
    st_close(st);
    return -1;
  }
  st->map = m;
  uint64_t hlen;
  memcpy(&hlen, st->map, 8);
  int rc;
  if (hlen > ST_MAX_HEADER || hlen > st->size - 8)
    rc = tsr_err(err, "%s: header length %llu runs past the end of the file (%zu bytes): truncated or not safetensors",
                   path, (unsigned long long)hlen, st->size);
  else {
    st->data = st->map + 8 + hlen;
    st->data_size = st->size - 8 - (size_t)hlen;
    rc = read_header(st, (const char *)st->map + 8, (size_t)hlen, err);
  }
  if (rc) st_close(st);
  return rc;
}

void st_close(SafeTensors *st) {
  for (int i = 0; i < st->n; i++) free(st->t[i].name);
  tsr_free(st->t);
  if (st->map) munmap((void *)st->map, st->size);
  free(st->path);
  memset(st, 0, sizeof *st);
}

const StTensor *st_find(const SafeTensors *st, const char *name) {
  for (int i = 0; i < st->n; i++)
    if (!strcmp(st->t[i].name, name)) return &st->t[i];
  return NULL;
}


int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, float *out, TsrErr *err) {
  const StTensor *t = st_find(st, name);
  char want[160], got[160];
  shape_str(want, sizeof want, ndim, shape);
  if (!t) return tsr_err(err, "%s: tensor '%s' missing, expected shape %s", st->path, name, want);
  shape_str(got, sizeof got, t->ndim, t->shape);
  if (t->ndim != ndim || memcmp(t->shape, shape, (size_t)ndim * sizeof *shape))
    return tsr_err(err, "%s: tensor '%s' has shape %s, expected %s", st->path, name, got, want);
  const uint8_t *src = st->data + t->begin;
  size_t n = (t->end - t->begin) / (size_t)dtype_bytes(t->dtype);
  if (!strcmp(t->dtype, "F32")) memcpy(out, src, n * 4);
  else if (!strcmp(t->dtype, "F16") || !strcmp(t->dtype, "BF16")) {
    float (*cvt)(uint16_t) = t->dtype[0] == 'F' ? f16_to_f32 : bf16_to_f32;
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, src + 2 * i, 2);
      out[i] = cvt(h);
    }
  } else
    return tsr_err(err, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16", st->path, name, t->dtype);
  return 0;
}
