// ISO-BMFF (MP4) boxes: walking the top level of a file held in memory,
// reading and writing whole files, and moving chunk offsets when a box is
// inserted in front of the media data.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

typedef struct {
  uint64_t off, size;  // where the box starts in the file and its whole size
  unsigned hdr;        // header bytes (8, 16 with a 64-bit size; +16 for a uuid box's user type)
  char type[5];
  uint8_t uuid[16];    // the user type of a 'uuid' box
} BmffBox;

// The boxes of p[0..n) (one level), at most max: 0, or -1 with
// "truncated or malformed MP4: ..." in err (a size past the end, a size
// below the header). `what` names the file in messages.
int bmff_boxes(const uint8_t *p, size_t n, uint64_t base, BmffBox *out, int max, int *count, const char *what,
               TsrErr *err);
// Adds delta to every chunk offset (stco, co64) under the moov box at
// p[0..n) (its header included): 0, or -1 with err.
int bmff_shift_chunk_offsets(uint8_t *moov, size_t n, int64_t delta, const char *what, TsrErr *err);
// Reads a whole file (at most 1 GiB): 0, or -1 with "PATH: cannot read: why".
int file_read_all(const char *path, uint8_t **data, size_t *n, TsrErr *err);
// Writes a whole file under PATH (PATH.tmp, fsync, rename): 0 or -1 with err.
int file_write_all(const char *path, const void *data, size_t n, TsrErr *err);
