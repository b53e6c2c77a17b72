// Small HDF5 helpers (serial access): whole datasets by path, attributes.
// Paths may hold '.' (parameter names); intermediate groups are created.
#pragma once
#include <hdf5.h>
#include <stdint.h>

hid_t h5_create(const char *path);  // truncates; fatal on failure
hid_t h5_open_read(const char *path);  // user error (exit 2) if missing or not HDF5
void h5_close(hid_t f);
// Write a dataset of `type` (H5T_NATIVE_FLOAT, H5T_NATIVE_INT32, H5T_NATIVE_UINT8).
void h5_write(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims);
// The same with checksum != 0: one chunk with a fletcher32 checksum, so a
// corrupted file fails on read instead of returning wrong numbers.
void h5_write_checked(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims,
                      int checksum);
// Read a whole dataset; its element count must equal n (user error otherwise).
void h5_read(hid_t f, const char *file_label, const char *name, hid_t type, void *data, int64_t n);
int h5_exists(hid_t f, const char *name);
void h5_attr_str(hid_t f, const char *name, const char *value);
void h5_attr_double(hid_t f, const char *name, double value);
void h5_attr_int(hid_t f, const char *name, int64_t value);
// The same returning a negative value on failure instead of aborting (n
// integers: a scalar when n = 1, else a 1-D array).
herr_t h5_attr_str_try(hid_t f, const char *name, const char *value);
herr_t h5_attr_ints_try(hid_t f, const char *name, const int64_t *values, int n);

// Debian's parallel HDF5 is not built thread-safe: every HDF5 call made while
// another thread may be in HDF5 (the loader's prefetch thread) is wrapped in
// this process-wide lock.
void h5_lock(void);
void h5_unlock(void);
// Release the lock if this thread holds it (an error path leaving HDF5 work
// half done: a thread that must finish its own HDF5 calls can then go on).
void h5_unlock_if_held(void);

// Switch HDF5's automatic error-stack printing off (we print one line of our
// own) and back to what it was.
typedef struct {
  H5E_auto2_t fn;
  void *data;
} H5Quiet;
H5Quiet h5_quiet_begin(void);
void h5_quiet_end(H5Quiet q);
// The system errno HDF5 recorded on its current error stack (its file
// drivers note "errno = N" when a read or write fails), or 0.
int h5_stack_errno(void);
