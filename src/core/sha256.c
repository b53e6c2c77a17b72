#include "core/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>

#include "core/error.h"

#define EVP_CHECK(call) \
  do { if ((call) != 1) tsr_fatal(__FILE__, __LINE__, "libcrypto", "%s failed", #call); } while (0)

void sha256_init(Sha256 *s) {
  s->ctx = EVP_MD_CTX_new();
  if (!s->ctx) tsr_fatal(__FILE__, __LINE__, "libcrypto", "EVP_MD_CTX_new failed");
  EVP_CHECK(EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL));
}

void sha256_update(Sha256 *s, const void *data, size_t n) { EVP_CHECK(EVP_DigestUpdate(s->ctx, data, n)); }

void sha256_final(Sha256 *s, uint8_t digest[32]) {
  unsigned int len = 0;
  EVP_CHECK(EVP_DigestFinal_ex(s->ctx, digest, &len));
  TSR_ASSERT(len == 32, "SHA-256 digest of %u bytes", len);
  EVP_MD_CTX_free(s->ctx);
  s->ctx = NULL;
}

void sha256_hex(const uint8_t digest[32], char hex[65]) {
  static const char digits[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++) hex[2 * i] = digits[digest[i] >> 4], hex[2 * i + 1] = digits[digest[i] & 15];
  hex[64] = 0;
}

void sha256_hex_of(const void *data, size_t n, char hex[65]) {
  uint8_t d[32];
  Sha256 s;
  sha256_init(&s);
  sha256_update(&s, data, n);
  sha256_final(&s, d);
  sha256_hex(d, hex);
}

int sha256_file(const char *path, char hex[65], long long *bytes) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  Sha256 s;
  sha256_init(&s);
  static _Thread_local uint8_t buf[1 << 16];
  size_t n;
  long long total = 0;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&s, buf, n), total += (long long)n;
  int bad = ferror(f);
  fclose(f);
  uint8_t d[32];
  sha256_final(&s, d);
  if (bad) {
    errno = EIO;
    return -1;
  }
  sha256_hex(d, hex);
  if (bytes) *bytes = total;
  return 0;
}
