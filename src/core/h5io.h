// Small HDF5 helpers (serial access): whole datasets by path, attributes.
// Paths may hold '.' (parameter names); intermediate groups are created.
#pragma once
#include <hdf5.h>
#include <stdint.h>

#include "core/error.h"

hid_t h5_create(const char *path);  // truncates; fatal on failure
// Open an existing HDF5 file read-only; -1 with the message in err if it is
// missing or not HDF5.
hid_t h5_open_read(const char *path, TsrErr *err);
void h5_close(hid_t f);
// Close f and every dataset, group, datatype and attribute still open in it
// (an error path); HDF5 errors are not printed. Negative if the close failed.
herr_t h5_close_all(hid_t f);
// Write a dataset of `type` (H5T_NATIVE_FLOAT, H5T_NATIVE_INT32, H5T_NATIVE_UINT8).
void h5_write(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims);
// The same with checksum != 0: one chunk with a fletcher32 checksum, so a
// corrupted file fails on read instead of returning wrong numbers.
void h5_write_checked(hid_t f, const char *name, hid_t type, const void *data, int ndim, const int64_t *dims,
                      int checksum);
// Read a whole dataset; its element count must equal n (-1 with the message in err otherwise).
int h5_read(hid_t f, const char *file_label, const char *name, hid_t type, void *data, int64_t n, TsrErr *err);
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
// Whether this thread holds the lock (an error path releases it before it
// reports: h5_unlock from the caller's side).
int h5_lock_held(void);

// ---- Checked reading of untrusted files (checkpoints). Nothing is read before
// its class, size and extent are checked, and no variable-length data is ever
// read (HDF5 follows addresses from the file to read it, and crashes or hangs
// on corrupt ones). Each returns 0, or -1 with one phrase in err (size
// H5_ERR) that starts with the item: "attribute config: expected a
// fixed-length string, found a variable-length string", "/params/x: cannot
// open (corrupt file?)". Callers print "FILE: err".
#define H5_ERR 320
// A type in words: "float32", "uint8", "a variable-length string", ...
void h5_type_name(hid_t t, char *out, size_t n);
// Attribute `name` of loc: n integers (any integer type; a scalar when n = 1).
int h5_attr_read_ints(hid_t loc, const char *name, int n, int64_t *out, char *err);
// Attribute `name`: one fixed-length string of at most max bytes, into
// *out (malloc'ed, NUL-terminated).
int h5_attr_read_str(hid_t loc, const char *name, size_t max, char **out, char *err);
// The object loc/name, which must be of kind `want` (H5I_DATASET, H5I_GROUP); or -1.
hid_t h5_open_kind(hid_t loc, const char *name, H5I_type_t want, char *err);
// Dataset ds (named name in err): elements of the class, size and sign of
// `want` (e.g. H5T_NATIVE_FLOAT: float32), a simple extent of ndim
// dimensions (ndim < 0: any) into dims (H5S_MAX_RANK of them; may be NULL).
// Returns the number of dimensions, or -1.
int h5_check_dataset(hid_t ds, const char *name, hid_t want, int ndim, hsize_t *dims, char *err);
// A string column: group NAME with `bytes` (uint8 [B], the texts one after
// another) and `offsets` (uint64 [n+1]; entry i is bytes[offsets[i] :
// offsets[i+1]]), both chunked with a fletcher32 checksum. Reading checks
// types, extents (B and n against the file's size: nothing is allocated from
// a declared size alone), offsets (from 0, non-decreasing, to B), entries (at
// most max_len bytes, no NUL) and at most max_n entries; *out: malloc'ed array
// of malloc'ed strings.
int h5_strings_read(hid_t loc, const char *name, int64_t max_n, size_t max_len, char ***out, int64_t *n, char *err);
// Writing one (intermediate groups created); negative on failure.
herr_t h5_strings_write(hid_t loc, const char *name, char *const *s, int64_t n);
