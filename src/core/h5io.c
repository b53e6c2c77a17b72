#include "core/h5io.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

hid_t h5_create(const char *path) {
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) tsr_fatal(__FILE__, __LINE__, "HDF5", "cannot create %s", path);
  return f;
}

hid_t h5_open_read(const char *path) {
  htri_t ok;
  H5E_BEGIN_TRY { ok = H5Fis_hdf5(path); } H5E_END_TRY;
  if (ok <= 0) tsr_user_error("%s: cannot open: expected an existing HDF5 file", path);
  hid_t f;
  H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (f < 0) tsr_user_error("%s: cannot open: the HDF5 file is truncated or corrupt", path);
  return f;
}

void h5_close(hid_t f) { H5_CHECK(H5Fclose(f)); }

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

void h5_read(hid_t f, const char *file_label, const char *name, hid_t type, void *data, int64_t n) {
  if (!h5_exists(f, name)) tsr_user_error("%s: %s: missing dataset", file_label, name);
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  H5_CHECK(ds);
  hid_t space = H5Dget_space(ds);
  H5_CHECK(space);
  hssize_t have = H5Sget_simple_extent_npoints(space);
  if (have != n) tsr_user_error("%s: %s: expected %lld elements, found %lld", file_label, name, (long long)n, (long long)have);
  H5_CHECK(H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data));
  H5_CHECK(H5Sclose(space));
  H5_CHECK(H5Dclose(ds));
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
