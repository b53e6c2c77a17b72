// SHA-256 through OpenSSL's libcrypto (EVP): the hash of every file tessera
// records or checks — checkpoints, pretrained weights, conditioning inputs,
// generated videos, render manifests.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
  void *ctx;  // EVP_MD_CTX*
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
// Writes the digest and frees the context.
void sha256_final(Sha256 *s, uint8_t digest[32]);
// digest as 64 lower-case hex digits and a NUL
void sha256_hex(const uint8_t digest[32], char hex[65]);
// The hash of n bytes in memory, as hex.
void sha256_hex_of(const void *data, size_t n, char hex[65]);
// The hash of a whole file, as hex, and its size (bytes may be NULL): 0, or
// -1 (errno set) when it cannot be read.
int sha256_file(const char *path, char hex[65], long long *bytes);
