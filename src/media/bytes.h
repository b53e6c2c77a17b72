// A growable byte buffer, the output of the CBOR, JUMBF, BMFF and COSE writers.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint8_t *p;
  size_t n, cap;
} Bytes;

void bytes_put(Bytes *b, const void *data, size_t n);
void bytes_u8(Bytes *b, unsigned v);
void bytes_be32(Bytes *b, uint32_t v);
void bytes_be64(Bytes *b, uint64_t v);
void bytes_free(Bytes *b);
// Big-endian reads and an in-place write (a box size patched after its body).
uint32_t be32_at(const uint8_t *p);
uint64_t be64_at(const uint8_t *p);
void be32_put(uint8_t *p, uint32_t v);
void be64_put(uint8_t *p, uint64_t v);
