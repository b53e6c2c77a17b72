#include "core/h5io.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

hid_t h5_create(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) tsr_fatal(__FILE__, __LINE__, "HDF5", "cannot create %s", path);
  return f;
}

hid_t h5_open_read(const char *path, TsrErr *err) {
  htri_t ok;
  H5E_BEGIN_TRY { ok = H5Fis_hdf5(path); } H5E_END_TRY;
  if (ok <= 0) return tsr_err(err, "%s: cannot open: expected an existing HDF5 file", path);
  hid_t f;
  H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0) return tsr_err(err, "%s: cannot open: the HDF5 file is truncated or corrupt", path);
  return f;
}

void h5_close(hid_t f) { H5_CHECK(H5Fclose(f)); }

herr_t h5_close_all(hid_t f) {
  herr_t rc = 0;
  H5E_BEGIN_TRY {
    ssize_t n = H5Fget_obj_count(f, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL);
    if (n > 0) {
      hid_t *ids = malloc((size_t)n * sizeof *ids);
      TSR_ASSERT(ids, "out of memory");
      n = H5Fget_obj_ids(f, H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL,
                         (size_t)n, ids);
      for (ssize_t i = 0; i < n; i++) {
        switch (H5Iget_type(ids[i])) {
          case H5I_DATASET: H5Dclose(ids[i]); break;
          case H5I_GROUP: H5Gclose(ids[i]); break;
          case H5I_DATATYPE: H5Tclose(ids[i]); break;
          case H5I_ATTR: H5Aclose(ids[i]); break;
          default: break;
        }
      }
      free(ids);
    }
    rc = H5Fclose(f);
  } H5E_END_TRY;
  return rc;
}

void h5_write_checked(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims,
                      int checksum) {
  hsize_t hd[8];
  TSR_ASSERT(ndim >= 1 && ndim <= 8, "h5_write %s: ndim %d", name, ndim);
  for (int i = 0; i < ndim; i++) hd[i] = (hsize_t)dims[i];
  hid_t space = H5Screate_simple(ndim, hd, NULL);
  H5_CHECK(space);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5_CHECK(H5Pset_create_intermediate_group(lcpl, 1));
  if (checksum) {  // fletcher32 needs a chunked layout: one chunk, the whole dataset
    H5_CHECK(H5Pset_chunk(dcpl, ndim, hd));
    H5_CHECK(H5Pset_fletcher32(dcpl));
  }
  hid_t ds = H5Dcreate2(f, name, type, space, lcpl, dcpl, H5P_DEFAULT);
  H5_CHECK(ds);
  H5_CHECK(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5_CHECK(H5Dclose(ds));
  H5_CHECK(H5Pclose(dcpl));
  H5_CHECK(H5Pclose(lcpl));
  H5_CHECK(H5Sclose(space));
}

void h5_write(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims) {
  h5_write_checked(f, name, type, data, ndim, dims, 0);
}

int h5_exists(hid_t f, const char *name) {
  htri_t e;
  H5E_BEGIN_TRY { e = H5Lexists(f, name, H5P_DEFAULT); } H5E_END_TRY;
  return e > 0;
}

int h5_read(hid_t f, const char *file_label, const char *name, hid_t type, void *data, int64_t n, TsrErr *err) {
  if (!h5_exists(f, name)) return tsr_err(err, "%s: %s: missing dataset", file_label, name);
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  H5_CHECK(ds);
  hid_t space = H5Dget_space(ds);
  H5_CHECK(space);
  hssize_t have = H5Sget_simple_extent_npoints(space);
  H5_CHECK(H5Sclose(space));
  if (have != n) {
    H5_CHECK(H5Dclose(ds));
    return tsr_err(err, "%s: %s: expected %lld elements, found %lld", file_label, name, (long long)n, (long long)have);
  }
  H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5_CHECK(H5Dclose(ds));
  return 0;
}

// The attribute writers return a negative value on failure (a full disk):
// callers that clean up after themselves use the _try forms.
static herr_t attr_write(hid_t f, const char *name, hid_t type, hid_t space, const void *value) {
  hid_t a = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return -1;
  herr_t rc = H5Awrite(a, type, value);
  return H5Aclose(a) < 0 ? -1 : rc;
}

herr_t h5_attr_str_try(hid_t f, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5_CHECK(type);
  H5_CHECK(H5Tset_size(type, strlen(value) + 1));
  H5_CHECK(H5Tset_cset(type, H5T_CSET_UTF8));
  hid_t space = H5Screate(H5S_SCALAR);
  herr_t rc = attr_write(f, name, type, space, value);
  H5_CHECK(H5Sclose(space));
  H5_CHECK(H5Tclose(type));
  return rc;
}

herr_t h5_attr_ints_try(hid_t f, const char *name, const int64_t *values, int n) {
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
  H5_CHECK(space);
  herr_t rc = attr_write(f, name, H5T_NATIVE_INT64, space, values);
  H5_CHECK(H5Sclose(space));
  return rc;
}

void h5_attr_str(hid_t f, const char *name, const char *value) { H5_CHECK(h5_attr_str_try(f, name, value)); }

void h5_attr_double(hid_t f, const char *name, double value) {
  hid_t space = H5Screate(H5S_SCALAR);
  H5_CHECK(attr_write(f, name, H5T_NATIVE_DOUBLE, space, &value));
  H5_CHECK(H5Sclose(space));
}

void h5_attr_int(hid_t f, const char *name, int64_t value) { H5_CHECK(h5_attr_ints_try(f, name, &value, 1)); }

#include <pthread.h>
static pthread_mutex_t g_h5_mutex = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int t_h5_held;  // this thread holds g_h5_mutex
void h5_lock(void) {
  pthread_mutex_lock(&g_h5_mutex);
  t_h5_held = 1;
}
void h5_unlock(void) {
  t_h5_held = 0;
  pthread_mutex_unlock(&g_h5_mutex);
}
void h5_unlock_if_held(void) {
  if (t_h5_held) h5_unlock();
}
int h5_lock_held(void) { return t_h5_held; }

H5Quiet h5_quiet_begin(void) {
  H5Quiet q;
  H5Eget_auto2(H5E_DEFAULT, &q.fn, &q.data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return q;
}

static herr_t find_errno(unsigned n, const H5E_error2_t *e, void *out) {
  const char *at = e->desc ? strstr(e->desc, "errno = ") : NULL;
  if (at && *(int *)out == 0) *(int *)out = atoi(at + 8);
  return 0;
}

int h5_stack_errno(void) {
  int e = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_errno, &e);
  return e;
}

void h5_quiet_end(H5Quiet q) { H5Eset_auto2(H5E_DEFAULT, q.fn, q.data); }

// ---------------------------------------------------------------- checked reading

__attribute__((format(printf, 2, 3))) static int fail(char *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, H5_ERR, fmt, ap);
  va_end(ap);
  return -1;
}

void h5_type_name(hid_t t, char *out, size_t n) {
  const size_t bits = 8 * H5Tget_size(t);
  switch (H5Tget_class(t)) {
    case H5T_INTEGER: snprintf(out, n, "%s%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "uint" : "int", bits); break;
    case H5T_FLOAT: snprintf(out, n, "float%zu", bits); break;
    case H5T_STRING:
      snprintf(out, n, "a %s string", H5Tis_variable_str(t) > 0 ? "variable-length" : "fixed-length");
      break;
    case H5T_VLEN: snprintf(out, n, "a variable-length sequence"); break;
    case H5T_COMPOUND: case H5T_ENUM: case H5T_ARRAY: case H5T_OPAQUE: case H5T_BITFIELD: case H5T_REFERENCE:
      snprintf(out, n, "a compound, enum, array, opaque, bitfield or reference type");
      break;
    default: snprintf(out, n, "an unreadable type"); break;
  }
}

// Attribute `name` open, with its type and the number of its elements; or -1.
static hid_t attr_open(hid_t loc, const char *name, hid_t *type, hssize_t *count, char *err) {
  htri_t e;
  H5E_BEGIN_TRY { e = H5Aexists(loc, name); } H5E_END_TRY;
  if (e == 0) return fail(err, "attribute %s missing", name);
  hid_t a = -1, sp = -1;
  *type = -1;
  H5E_BEGIN_TRY {
    if (e > 0) a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a >= 0) *type = H5Aget_type(a), sp = H5Aget_space(a);
    *count = sp >= 0 && H5Sget_simple_extent_type(sp) != H5S_NULL ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
  } H5E_END_TRY;
  if (a < 0 || *type < 0 || *count < 0) {
    H5E_BEGIN_TRY { if (*type >= 0) H5Tclose(*type); if (a >= 0) H5Aclose(a); } H5E_END_TRY;
    return fail(err, "attribute %s unreadable (corrupt file?)", name);
  }
  return a;
}

static int attr_done(hid_t a, hid_t type, herr_t read_rc, const char *name, char *err) {
  herr_t rc;
  H5E_BEGIN_TRY { rc = H5Tclose(type) | H5Aclose(a); } H5E_END_TRY;
  return read_rc < 0 || rc < 0 ? fail(err, "attribute %s unreadable (corrupt file?)", name) : 0;
}

int h5_attr_read_ints(hid_t loc, const char *name, int n, int64_t *out, char *err) {
  hid_t type;
  hssize_t count;
  hid_t a = attr_open(loc, name, &type, &count, err);
  if (a < 0) return -1;
  if (H5Tget_class(type) != H5T_INTEGER || H5Tget_size(type) > 8 || count != n) {
    char found[96];
    h5_type_name(type, found, sizeof found);
    attr_done(a, type, 0, name, err);
    return fail(err, "attribute %s: expected %d integer%s, found %lld value%s of %s", name, n, n == 1 ? "" : "s",
                (long long)count, count == 1 ? "" : "s", found);
  }
  herr_t rc;
  H5E_BEGIN_TRY { rc = H5Aread(a, H5T_NATIVE_INT64, out); } H5E_END_TRY;
  return attr_done(a, type, rc, name, err);
}

int h5_attr_read_str(hid_t loc, const char *name, size_t max, char **out, char *err) {
  *out = NULL;
  hid_t type;
  hssize_t count;
  hid_t a = attr_open(loc, name, &type, &count, err);
  if (a < 0) return -1;
  const size_t size = H5Tget_size(type);
  const int fixed = H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) == 0 && count == 1;
  if (!fixed || size == 0 || size > max) {
    char found[96];
    h5_type_name(type, found, sizeof found);
    attr_done(a, type, 0, name, err);
    if (fixed) return fail(err, "attribute %s: expected a string of at most %zu bytes, found %zu", name, max, size);
    return fail(err, "attribute %s: expected a fixed-length string, found %s%s", name, count == 1 ? "" : "several of ",
                found);
  }
  // Read as it is stored: fixed-length to fixed-length of the same size and
  // character set (HDF5 converts between none).
  hid_t mem = H5Tcopy(H5T_C_S1);
  char *s = calloc(size + 1, 1);
  herr_t rc = -1;
  H5E_BEGIN_TRY {
    if (mem >= 0 && s && H5Tset_size(mem, size) >= 0 && H5Tset_strpad(mem, H5T_STR_NULLPAD) >= 0 &&
        H5Tset_cset(mem, H5Tget_cset(type)) >= 0)
      rc = H5Aread(a, mem, s);
    if (mem >= 0) H5Tclose(mem);
  } H5E_END_TRY;
  if (attr_done(a, type, rc, name, err) < 0) {
    free(s);
    return -1;
  }
  *out = s;
  return 0;
}

hid_t h5_open_kind(hid_t loc, const char *name, H5I_type_t want, char *err) {
  const char *kind = want == H5I_GROUP ? "group" : "dataset";
  htri_t e;
  hid_t o = -1;
  H5E_BEGIN_TRY {
    e = H5Lexists(loc, name, H5P_DEFAULT);
    if (e > 0) o = H5Oopen(loc, name, H5P_DEFAULT);
  } H5E_END_TRY;
  if (e <= 0) return fail(err, "%s: missing (expected a %s)", name, kind);
  if (o < 0) return fail(err, "%s: cannot open (corrupt file?)", name);
  H5I_type_t have = H5Iget_type(o);
  if (have == want) return o;
  H5E_BEGIN_TRY { H5Oclose(o); } H5E_END_TRY;
  return fail(err, "%s: expected a %s, found a %s", name, kind,
              have == H5I_GROUP ? "group" : have == H5I_DATASET ? "dataset" : "named datatype");
}

int h5_check_dataset(hid_t ds, const char *name, hid_t want, int ndim, hsize_t *dims, char *err) {
  hid_t t, sp;
  H5E_BEGIN_TRY { t = H5Dget_type(ds), sp = H5Dget_space(ds); } H5E_END_TRY;
  int ok = t >= 0 && H5Tget_class(t) == H5Tget_class(want) && H5Tget_size(t) == H5Tget_size(want) &&
           (H5Tget_class(want) != H5T_INTEGER || H5Tget_sign(t) == H5Tget_sign(want));
  char found[96] = "an unreadable type", expected[96];
  if (t >= 0) h5_type_name(t, found, sizeof found);
  h5_type_name(want, expected, sizeof expected);
  hsize_t d[H5S_MAX_RANK];
  int nd = -1;
  H5E_BEGIN_TRY {
    if (sp >= 0 && H5Sget_simple_extent_type(sp) == H5S_SIMPLE) nd = H5Sget_simple_extent_ndims(sp);
    if (nd >= 0 && (nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, d, NULL) != nd)) nd = -1;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
  } H5E_END_TRY;
  if (!ok) return fail(err, "%s: expected %s, found %s", name, expected, found);
  if (nd < 0) return fail(err, "%s: cannot read its shape (corrupt file?)", name);
  if (ndim >= 0 && nd != ndim) return fail(err, "%s: expected %d dimension%s, found %d", name, ndim, ndim == 1 ? "" : "s", nd);
  if (dims) memcpy(dims, d, (size_t)nd * sizeof *d);
  return nd;
}

// ---------------------------------------------------------------- string columns

// loc/col/sub: a checksummed 1-D dataset of `type`, its length in *len.
static hid_t strcol_part(hid_t g, const char *col, const char *sub, hid_t type, hsize_t *len, char *err) {
  char name[512];
  snprintf(name, sizeof name, "%s/%s", col, sub);
  hid_t ds = h5_open_kind(g, sub, H5I_DATASET, err);
  if (ds < 0) {  // name the whole path in the message
    char inner[H5_ERR];
    snprintf(inner, sizeof inner, "%s", err);
    fail(err, "%s/%s", col, inner);
    return -1;
  }
  if (h5_check_dataset(ds, name, type, 1, len, err) < 0) {
    H5Dclose(ds);
    return -1;
  }
  hid_t dcpl;
  int sum = 0;
  H5E_BEGIN_TRY {
    dcpl = H5Dget_create_plist(ds);
    if (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED) {
      unsigned flags, cd[8], conf;
      size_t ncd = 8;
      sum = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &ncd, cd, 0, NULL, &conf) >= 0 &&
            H5Pall_filters_avail(dcpl) > 0;
    }
    if (dcpl >= 0) H5Pclose(dcpl);
  } H5E_END_TRY;
  if (!sum) {
    H5Dclose(ds);
    return fail(err, "%s: expected a checksum (chunked, HDF5 fletcher32 filter only), found none", name);
  }
  return ds;
}

static int strcol_load(hid_t ds, hid_t type, void *buf, const char *col, const char *sub, char *err) {
  herr_t rc;
  H5E_BEGIN_TRY { rc = H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf); } H5E_END_TRY;
  return rc < 0 ? fail(err, "%s/%s: read failed: the file is corrupt (a fletcher32 checksum mismatch or damaged metadata)", col, sub) : 0;
}

static int strcol_check(const uint64_t *off, int64_t n, uint64_t B, const char *bytes, size_t max_len,
                        const char *col, char *err) {
  if (off[0] != 0 || off[n] != B)
    return fail(err, "%s/offsets: expected entries from 0 to %llu (the bytes), found %llu to %llu", col,
                (unsigned long long)B, (unsigned long long)off[0], (unsigned long long)off[n]);
  for (int64_t i = 0; i < n; i++) {
    if (off[i + 1] < off[i] || off[i + 1] > B || off[i + 1] - off[i] > max_len)
      return fail(err, "%s/offsets: entry %lld: expected offsets in [0, %llu] increasing by at most %zu, found %llu and %llu",
                  col, (long long)i, (unsigned long long)B, max_len, (unsigned long long)off[i],
                  (unsigned long long)off[i + 1]);
    if (memchr(bytes + off[i], 0, off[i + 1] - off[i]))
      return fail(err, "%s: entry %lld holds a NUL byte (corrupt file?)", col, (long long)i);
  }
  return 0;
}

int h5_strings_read(hid_t loc, const char *name, int64_t max_n, size_t max_len, char ***out, int64_t *n, char *err) {
  *out = NULL;
  *n = 0;
  hid_t g = h5_open_kind(loc, name, H5I_GROUP, err);
  if (g < 0) {
    if (strstr(err, "found a dataset")) fail(err, "%s: expected a group (bytes, offsets), found a dataset", name);
    return -1;
  }
  hsize_t B = 0, no = 0, fsize = 0;
  hid_t bytes = strcol_part(g, name, "bytes", H5T_NATIVE_UINT8, &B, err);
  hid_t offs = bytes < 0 ? -1 : strcol_part(g, name, "offsets", H5T_NATIVE_UINT64, &no, err);
  H5E_BEGIN_TRY {
    hid_t f = H5Iget_file_id(g);
    if (f < 0 || H5Fget_filesize(f, &fsize) < 0) fsize = 0;
    if (f >= 0) H5Fclose(f);
  } H5E_END_TRY;
  int rc = offs < 0 ? -1 : 0;
  // Declared sizes against what the file can hold: nothing unbounded is allocated.
  if (rc == 0 && (no < 1 || no - 1 > (hsize_t)max_n || no > fsize / 8 || B > fsize))
    rc = fail(err, "%s: declares %llu entries and %llu bytes: expected 1 to %lld entries that fit in the file "
              "(%llu bytes; truncated or corrupt?)", name, (unsigned long long)(no ? no - 1 : 0),
              (unsigned long long)B, (long long)max_n, (unsigned long long)fsize);
  uint64_t *off = rc == 0 ? malloc(no * sizeof *off) : NULL;
  char *buf = rc == 0 ? malloc(B + 1) : NULL;
  if (rc == 0 && (!off || !buf)) rc = fail(err, "%s: out of memory", name);
  if (rc == 0) rc = strcol_load(offs, H5T_NATIVE_UINT64, off, name, "offsets", err);
  if (rc == 0 && B) rc = strcol_load(bytes, H5T_NATIVE_UINT8, buf, name, "bytes", err);
  if (rc == 0) rc = strcol_check(off, (int64_t)no - 1, B, buf, max_len, name, err);
  if (rc == 0) {
    *n = (int64_t)no - 1;
    *out = malloc((size_t)(*n ? *n : 1) * sizeof **out);
    for (int64_t i = 0; *out && i < *n; i++) {
      (*out)[i] = strndup(buf + off[i], off[i + 1] - off[i]);
      if (!(*out)[i]) rc = fail(err, "%s: out of memory", name);
    }
    if (!*out) rc = fail(err, "%s: out of memory", name);
  }
  free(off);
  free(buf);
  H5E_BEGIN_TRY {
    if (offs >= 0) H5Dclose(offs);
    if (bytes >= 0) H5Dclose(bytes);
    H5Oclose(g);
  } H5E_END_TRY;
  return rc;
}

// One checksummed 1-D dataset (chunks of at most 64 Ki elements; an empty one
// is allowed: the extent is unlimited, so the chunk may exceed it).
static herr_t strcol_write(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *data) {
  hsize_t chunk = n < 1 ? 1 : n > 65536 ? 65536 : n, maxn = H5S_UNLIMITED;
  hid_t space = H5Screate_simple(1, &n, &maxn), lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  herr_t rc = space < 0 || lcpl < 0 || dcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0 ||
                      H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_fletcher32(dcpl) < 0 ? -1 : 0;
  hid_t ds = rc < 0 ? -1 : H5Dcreate2(loc, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
  if (ds < 0 || (n && H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)) rc = -1;
  if (ds >= 0 && H5Dclose(ds) < 0) rc = -1;
  if (dcpl >= 0) H5Pclose(dcpl);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  return rc;
}

herr_t h5_strings_write(hid_t loc, const char *name, char *const *s, int64_t n) {
  uint64_t *off = malloc((size_t)(n + 1) * sizeof *off);
  if (!off) return -1;
  off[0] = 0;
  for (int64_t i = 0; i < n; i++) off[i + 1] = off[i] + strlen(s[i]);
  char *bytes = malloc(off[n] ? off[n] : 1);
  if (!bytes) {
    free(off);
    return -1;
  }
  for (int64_t i = 0; i < n; i++) memcpy(bytes + off[i], s[i], off[i + 1] - off[i]);
  char path[512];
  snprintf(path, sizeof path, "%s/bytes", name);
  herr_t rc = strcol_write(loc, path, H5T_STD_U8LE, H5T_NATIVE_UINT8, off[n], bytes);
  snprintf(path, sizeof path, "%s/offsets", name);
  if (rc >= 0) rc = strcol_write(loc, path, H5T_STD_U64LE, H5T_NATIVE_UINT64, (hsize_t)n + 1, off);
  free(bytes);
  free(off);
  return rc;
}
