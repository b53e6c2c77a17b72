// Checks the corpus reader makes on HDF5 objects before it reads a byte of
// their data (used by corpus_read.c only). Each returns 0 (or a handle), or
// -1 with one line "FILE: ITEM: what was expected, what was found" in err,
// having closed whatever it opened. Callers switch HDF5's error printing off
// around them (h5_quiet_begin).
//
// The format (corpus.h) never asks HDF5 to follow a pointer stored in the file's
// data: no variable-length types (their global-heap reads crash inside
// libhdf5 on corrupt files), so every type is checked here before a read.
#pragma once
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef enum { DT_UINT8, DT_INT32, DT_UINT64, DT_NUMBER, DT_FLOAT16 } CorpusDtype;

// loc/name as a group or dataset (want = H5I_GROUP or H5I_DATASET); -1 on error.
hid_t cc_open(const char *file, hid_t loc, const char *item, const char *name, H5I_type_t want, TsrErr *err);
int cc_dtype(const char *file, const char *item, hid_t ds, CorpusDtype want, TsrErr *err);
// Rank ndim and dims (want[i] < 0: any); the dims found go to got (may be NULL).
int cc_shape(const char *file, const char *item, hid_t ds, int ndim, const int64_t *want, const char *legend,
             hsize_t *got, TsrErr *err);
// Chunked with HDF5's fletcher32 checksum filter, every chunk of the declared
// extent stored (so a small file cannot declare a huge dataset); chunk0 > 0:
// the first dimension's chunk must be exactly that (1 for patches: one clip per chunk).
int cc_checksummed(const char *file, const char *item, hid_t ds, hsize_t chunk0, TsrErr *err);
// Integer attribute of n values (n = 0: one value).
int cc_attr_ints(const char *file, hid_t loc, const char *item, const char *name, int n, int64_t *out, TsrErr *err);
int cc_attr_int(const char *file, hid_t loc, const char *item, const char *name, int64_t *out, TsrErr *err);
// Fixed-length string attribute (at most 255 bytes) into out[256]; returns 1,
// 0 when it is a variable-length string (not read), -1 on error.
int cc_attr_fixed_string(const char *file, hid_t loc, const char *item, const char *name, char out[256], TsrErr *err);
// After a failed read: did HDF5 report a checksum mismatch (data or metadata)?
int cc_checksum_failed(void);
