#include "media/bytes.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void bytes_put(Bytes *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    TSR_ASSERT(p, "out of memory (%zu bytes)", cap);
    b->p = p;
    b->cap = cap;
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
}

void bytes_u8(Bytes *b, unsigned v) {
  uint8_t c = (uint8_t)v;
  bytes_put(b, &c, 1);
}

void bytes_be32(Bytes *b, uint32_t v) {
  uint8_t q[4];
  be32_put(q, v);
  bytes_put(b, q, 4);
}

void bytes_be64(Bytes *b, uint64_t v) {
  uint8_t q[8];
  be64_put(q, v);
  bytes_put(b, q, 8);
}

void bytes_free(Bytes *b) {
  free(b->p);
  *b = (Bytes){0};
}

uint32_t be32_at(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
uint64_t be64_at(const uint8_t *p) { return (uint64_t)be32_at(p) << 32 | be32_at(p + 4); }
void be32_put(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
void be64_put(uint8_t *p, uint64_t v) {
  be32_put(p, (uint32_t)(v >> 32));
  be32_put(p + 4, (uint32_t)v);
}
