// Type, shape, checksum and attribute checks of the corpus reader (corpus_check.h).
#include "data/corpus_check.h"

#include <stdio.h>
#include <string.h>

#include "core/h5io.h"

static void dims_name(int ndim, const hsize_t *d, char *out, size_t n) {
  size_t o = (size_t)snprintf(out, n, "[");
  for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(out + o, n - o, "%s%llu", i ? ", " : "", (unsigned long long)d[i]);
  if (o < n) snprintf(out + o, n - o, "]");
}

hid_t cc_open(const char *file, hid_t loc, const char *item, const char *name, H5I_type_t want, TsrErr *err) {
  const char *what = want == H5I_GROUP ? "group" : "dataset";
  htri_t e = H5Lexists(loc, name, H5P_DEFAULT);
  if (e <= 0) return tsr_err(err, "%s: %s: missing (expected a %s)", file, item, what);
  hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
  if (o < 0) return tsr_err(err, "%s: %s: cannot open (corrupt file?)", file, item);
  if (H5Iget_type(o) != want) {
    H5Oclose(o);
    return tsr_err(err, "%s: %s: expected a %s, found a %s", file, item, what, want == H5I_GROUP ? "dataset" : "group");
  }
  return o;
}

int cc_shape(const char *file, const char *item, hid_t ds, int ndim, const int64_t *want, const char *legend,
             hsize_t *got, TsrErr *err) {
  hid_t sp = H5Dget_space(ds);
  if (sp < 0) return tsr_err(err, "%s: %s: cannot read its shape (corrupt file?)", file, item);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t d[H5S_MAX_RANK];
  int bad = nd < 0 || nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, d, NULL) < 0;
  H5Sclose(sp);
  if (bad) return tsr_err(err, "%s: %s: cannot read its shape (corrupt file?)", file, item);
  int ok = nd == ndim;
  for (int i = 0; ok && i < nd; i++) ok = want[i] < 0 || (hsize_t)want[i] == d[i];
  if (!ok) {
    char exp[128], found[128];
    size_t o = (size_t)snprintf(exp, sizeof exp, "[");
    for (int i = 0; i < ndim; i++) {
      if (want[i] < 0) o += (size_t)snprintf(exp + o, sizeof exp - o, "%s*", i ? ", " : "");
      else o += (size_t)snprintf(exp + o, sizeof exp - o, "%s%lld", i ? ", " : "", (long long)want[i]);
    }
    snprintf(exp + o, sizeof exp - o, "]");
    dims_name(nd, d, found, sizeof found);
    return tsr_err(err, "%s: %s: expected shape %s %s, found %s", file, item, exp, legend, found);
  }
  if (got)
    for (int i = 0; i < nd; i++) got[i] = d[i];
  return 0;
}

int cc_dtype(const char *file, const char *item, hid_t ds, CorpusDtype want, TsrErr *err) {
  hid_t t = H5Dget_type(ds);
  if (t < 0) return tsr_err(err, "%s: %s: cannot read its type (corrupt file?)", file, item);
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  int ok = 0;
  const char *exp = "";
  switch (want) {
    case DT_UINT8: ok = cls == H5T_INTEGER && size == 1 && H5Tget_sign(t) == H5T_SGN_NONE; exp = "uint8"; break;
    case DT_INT32: ok = cls == H5T_INTEGER && size == 4 && H5Tget_sign(t) == H5T_SGN_2; exp = "int32"; break;
    case DT_UINT64: ok = cls == H5T_INTEGER && size == 8 && H5Tget_sign(t) == H5T_SGN_NONE; exp = "uint64"; break;
    case DT_NUMBER:
      ok = (cls == H5T_FLOAT && (size == 4 || size == 8)) || (cls == H5T_INTEGER && size <= 8);
      exp = "numbers (float32)";
      break;
    case DT_FLOAT16:  // IEEE binary16 (latent corpora)
      ok = cls == H5T_FLOAT && size == 2 && H5Tget_ebias(t) == 15;
      exp = "float16";
      break;
  }
  char found[64] = "";
  if (!ok) h5_type_name(t, found, sizeof found);
  H5Tclose(t);
  if (!ok) return tsr_err(err, "%s: %s: expected %s, found %s", file, item, exp, found);
  return 0;
}

// The checks of cc_checksummed on the open property list and dataspace.
static int checksummed(const char *file, const char *item, hid_t ds, hid_t dcpl, hid_t sp, hsize_t chunk0, TsrErr *err) {
  unsigned flags = 0, cd[8];
  size_t ncd = 8;
  unsigned cfg = 0;
  int none = 0;
  H5E_BEGIN_TRY {
    none = H5Pget_layout(dcpl) != H5D_CHUNKED ||
           H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &ncd, cd, 0, NULL, &cfg) < 0;
  } H5E_END_TRY;
  if (none)
    return tsr_err(err, "%s: %s: expected a checksum (chunked, HDF5 fletcher32 filter), found none", file, item);
  if (H5Pall_filters_avail(dcpl) <= 0) return tsr_err(err, "%s: %s: compressed with a filter this HDF5 lacks", file, item);
  hsize_t d[H5S_MAX_RANK], ch[H5S_MAX_RANK];
  int nd = H5Sget_simple_extent_ndims(sp);
  if (nd < 1 || nd > H5S_MAX_RANK || H5Sget_simple_extent_dims(sp, d, NULL) < 0 || H5Pget_chunk(dcpl, nd, ch) != nd)
    return tsr_err(err, "%s: %s: cannot read its layout (corrupt file?)", file, item);
  if (chunk0 && ch[0] != chunk0)
    return tsr_err(err, "%s: %s: expected %llu row%s per chunk, found %llu", file, item, (unsigned long long)chunk0,
                   chunk0 == 1 ? "" : "s", (unsigned long long)ch[0]);
  // The declared extent must be stored: chunks expected = prod ceil(d / ch).
  hsize_t want = 1;
  for (int i = 0; i < nd; i++) {
    if (ch[i] == 0) return tsr_err(err, "%s: %s: cannot read its layout (corrupt file?)", file, item);
    hsize_t k = d[i] / ch[i] + (d[i] % ch[i] != 0);
    want = k && want > UINT64_MAX / k ? UINT64_MAX : want * k;
  }
  hsize_t have = 0;
  if (H5Dget_num_chunks(ds, sp, &have) < 0)
    return tsr_err(err, "%s: %s: cannot read its chunk index (corrupt file?)", file, item);
  if (have != want) {
    char shape[128];
    dims_name(nd, d, shape, sizeof shape);
    return tsr_err(err, "%s: %s: declares shape %s (%llu chunks) but stores %llu chunks (truncated or corrupt file?)",
                   file, item, shape, (unsigned long long)want, (unsigned long long)have);
  }
  return 0;
}

int cc_checksummed(const char *file, const char *item, hid_t ds, hsize_t chunk0, TsrErr *err) {
  hid_t dcpl = H5Dget_create_plist(ds), sp = H5Dget_space(ds);
  int rc = dcpl < 0 || sp < 0 ? tsr_err(err, "%s: %s: cannot read its layout (corrupt file?)", file, item)
                              : checksummed(file, item, ds, dcpl, sp, chunk0, err);
  if (sp >= 0) H5Sclose(sp);
  if (dcpl >= 0) H5Pclose(dcpl);
  return rc;
}

// The attribute loc/name opened (-1 with the message when missing or unreadable).
static hid_t attr_open(const char *file, hid_t loc, const char *item, const char *name, TsrErr *err) {
  if (H5Aexists(loc, name) <= 0) return tsr_err(err, "%s: %s: attribute '%s' missing", file, item, name);
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return tsr_err(err, "%s: %s: attribute '%s' unreadable (corrupt file?)", file, item, name);
  return a;
}

static void attr_close(hid_t a, hid_t t, hid_t sp) {
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  H5Aclose(a);
}

int cc_attr_ints(const char *file, hid_t loc, const char *item, const char *name, int n, int64_t *out, TsrErr *err) {
  hid_t a = attr_open(file, loc, item, name, err);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  hssize_t np = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  int want = n ? n : 1, rc = 0;
  if (t < 0 || H5Tget_class(t) != H5T_INTEGER || H5Tget_size(t) > 8 || np != want) {
    char found[64] = "an unreadable type";
    if (t >= 0) h5_type_name(t, found, sizeof found);
    rc = tsr_err(err, "%s: %s: attribute '%s': expected %d integer%s, found %lld value%s of %s", file, item, name, want,
                 want > 1 ? "s" : "", (long long)np, np == 1 ? "" : "s", found);
  } else if (H5Aread(a, H5T_NATIVE_INT64, out) < 0) {
    rc = tsr_err(err, "%s: %s: attribute '%s' unreadable", file, item, name);
  }
  attr_close(a, t, sp);
  return rc;
}

int cc_attr_int(const char *file, hid_t loc, const char *item, const char *name, int64_t *out, TsrErr *err) {
  return cc_attr_ints(file, loc, item, name, 0, out, err);
}

int cc_attr_fixed_string(const char *file, hid_t loc, const char *item, const char *name, char out[256], TsrErr *err) {
  hid_t a = attr_open(file, loc, item, name, err);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  int rc;
  if (t < 0 || sp < 0 || H5Tget_class(t) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1) {
    char found[64] = "an unreadable type";
    if (t >= 0) h5_type_name(t, found, sizeof found);
    rc = tsr_err(err, "%s: %s: attribute '%s': expected a string, found %s", file, item, name, found);
  } else if (H5Tis_variable_str(t) != 0) {
    rc = 0;
  } else {
    size_t sz = H5Tget_size(t);
    rc = 1;
    if (sz == 0 || sz > 255) {
      rc = tsr_err(err, "%s: %s: attribute '%s': expected a string of at most 255 bytes", file, item, name);
    } else {
      hid_t mt = H5Tcopy(H5T_C_S1);
      memset(out, 0, 256);
      if (mt < 0 || H5Tset_size(mt, sz) < 0 || H5Tset_strpad(mt, H5T_STR_NULLPAD) < 0 ||
          H5Tset_cset(mt, H5Tget_cset(t)) < 0 || H5Aread(a, mt, out) < 0)
        rc = tsr_err(err, "%s: %s: attribute '%s' unreadable", file, item, name);
      if (mt >= 0) H5Tclose(mt);
    }
  }
  attr_close(a, t, sp);
  return rc;
}

static herr_t find_checksum(unsigned n, const H5E_error2_t *e, void *found) {
  (void)n;
  if (e->desc && (strstr(e->desc, "checksum") || strstr(e->desc, "Checksum"))) *(int *)found = 1;
  return 0;
}

int cc_checksum_failed(void) {
  int found = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_checksum, &found);
  return found;
}
