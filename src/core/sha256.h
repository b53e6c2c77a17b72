// SHA-256 (FIPS 180-4): the hash recorded for files tessera reads but does not
// write (pretrained weights, vocabularies), checked when they are loaded.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint64_t nbytes;
  uint8_t block[64];
  size_t fill;
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t digest[32]);
// digest as 64 lower-case hex digits and a NUL
void sha256_hex(const uint8_t digest[32], char hex[65]);
// The hash of n bytes in memory, as hex.
void sha256_hex_of(const void *data, size_t n, char hex[65]);
// The hash of a whole file, as hex: 0, or -1 (errno set) when it cannot be read.
int sha256_file(const char *path, char hex[65]);
