// Reader of the safetensors format (Hugging Face): an unsigned 64-bit
// little-endian header length N, N bytes of JSON
//   {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [d0, d1],
//    "data_offsets": [begin, end]}, ...}
// then the raw little-endian tensors, each at [begin, end) of the bytes after
// the header. st_open checks the whole layout before any tensor is read
// (header inside the file, every tensor's bytes inside the data and of the
// size its dtype and shape give), so a truncated or damaged file is refused
// with a message naming the file and the tensor.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define ST_MAX_DIMS 8

typedef struct {
  char *name;
  char dtype[8];  // "F32", "F16", "BF16", "I64", ...
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  uint64_t begin, end;  // byte range in the data section
} StTensor;

typedef struct {
  char *path;
  const uint8_t *map;  // the whole file, mapped read-only
  size_t size;
  const uint8_t *data;  // the data section (after the header)
  size_t data_size;
  StTensor *t;
  int n;
} SafeTensors;

// Maps and checks `path`. 0, or -1 with the reason in err.
int st_open(SafeTensors *st, const char *path, TsrErr *err);
void st_close(SafeTensors *st);
// The tensor `name` (NULL when absent).
const StTensor *st_find(const SafeTensors *st, const char *name);
// Copies tensor `name` into out as float32 (F32 as is; F16 and BF16
// converted), after checking that it exists and has exactly the shape
// shape[0..ndim). 0, or -1 naming the file, the tensor and what was expected.
int st_read_f32(const SafeTensors *st, const char *name, int ndim, const int64_t *shape, float *out, TsrErr *err);
// Half-precision conversions (IEEE binary16 and bfloat16) to float.
