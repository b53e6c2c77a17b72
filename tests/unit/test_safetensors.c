// The safetensors reader (src/text/safetensors.h) on small files written
// here, with libjansson reading its header, and the hash that
// guards the weights (core/sha256.h):
//  - a good file: F32, F16, BF16 tensors read back; every binary16 value
//    converted as the compiler's _Float16 converts it; __metadata__ skipped;
//  - bad files: too short, a header past the end, a header that is not JSON
//    or not an object, entries without a dtype, with an unknown dtype, a bad
//    shape, offsets that disagree with the shape or run past the data, a
//    missing tensor, a wrong shape, a dtype that is not a float: -1 and one
//    line naming the file and the tensor;
//  - JSON: nesting, escapes, surrogate pairs, and refusals;
//  - SHA-256 against the FIPS 180-4 example digests.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/sha256.h"
#include "testlib.h"
#include "text/safetensors.h"

#define TMP "build/tmp/test_safetensors"

// Writes a safetensors file: the header text, then n data bytes.
static const char *write_st(const char *name, const char *header, const void *data, size_t n) {
  static char path[256];
  snprintf(path, sizeof path, TMP "/%s.safetensors", name);
  FILE *f = fopen(path, "wb");
  uint64_t len = strlen(header);
  fwrite(&len, 8, 1, f);
  fwrite(header, 1, len, f);
  fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

static void expect_open_error(const char *name, const char *header, size_t ndata, const char *want) {
  static char data[4096];
  const char *path = write_st(name, header, data, ndata);
  SafeTensors st;
  TsrErr err = {0};
  int rc = st_open(&st, path, &err);
  EXPECT(rc == -1 && strstr(err.msg, path) && strstr(err.msg, want), "%s: rc %d '%s', expected '%s'", name, rc, err.msg, want);
  if (!rc) st_close(&st);
  else printf("  ok  %-10s %s\n", name, err.msg);
}

static void test_good(void) {
  struct {
    float a[6];
    uint16_t b[4], c[2];
    int64_t d;
  } __attribute__((packed)) data = {{1, -2, 3.5f, 0, 1e-30f, -7}, {0x3C00, 0xC000, 0x7BFF, 0x0001}, {0x3F80, 0xC0A0}, 42};
  const char *h = "{\"__metadata__\": {\"format\": \"pt\"}, "
                  "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
                  "\"b\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [24, 32]},"
                  "\"c\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [32, 36]},"
                  "\"d\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [36, 44]}}   ";
  const char *path = write_st("good", h, &data, sizeof data);
  SafeTensors st;
  TsrErr err;
  EXPECT(!st_open(&st, path, &err) && st.n == 4, "open good: %s", err.msg);
  float a[6], b[4], c[2];
  EXPECT(!st_read_f32(&st, "a", 2, (int64_t[]){2, 3}, a, &err) && !memcmp(a, data.a, sizeof a), "F32 read back");
  EXPECT(!st_read_f32(&st, "b", 1, (int64_t[]){4}, b, &err) && b[0] == 1 && b[1] == -2 && b[2] == 65504 &&
             b[3] == 0x1p-24f,
         "F16: %g %g %g %g", b[0], b[1], b[2], b[3]);
  EXPECT(!st_read_f32(&st, "c", 1, (int64_t[]){2}, c, &err) && c[0] == 1 && c[1] == -5, "BF16: %g %g", c[0], c[1]);
  EXPECT(st_read_f32(&st, "a", 2, (int64_t[]){3, 2}, a, &err) == -1 && strstr(err.msg, path) &&
             strstr(err.msg, "tensor 'a' has shape [2, 3], expected [3, 2]"),
         "wrong shape: %s", err.msg);
  EXPECT(st_read_f32(&st, "e", 1, (int64_t[]){4}, a, &err) == -1 && strstr(err.msg, "tensor 'e' missing, expected shape [4]"),
         "missing tensor: %s", err.msg);
  EXPECT(st_read_f32(&st, "d", 1, (int64_t[]){1}, a, &err) == -1 && strstr(err.msg, "tensor 'd' has dtype I64, expected F32, F16 or BF16"),
         "integer tensor: %s", err.msg);
  st_close(&st);
}

static void test_bad(void) {
  SafeTensors st;
  TsrErr err;
  EXPECT(st_open(&st, TMP "/none.safetensors", &err) == -1 &&
             strstr(err.msg, TMP "/none.safetensors: cannot open (No such file or directory)"),
         "missing file: %s", err.msg);
  FILE *f = fopen(TMP "/short.safetensors", "wb");
  fwrite("abc", 1, 3, f);
  fclose(f);
  EXPECT(st_open(&st, TMP "/short.safetensors", &err) == -1 && strstr(err.msg, "truncated: 3 bytes, expected at least 8"),
         "3-byte file: %s", err.msg);
  f = fopen(TMP "/long.safetensors", "wb");
  uint64_t big = 1000;
  fwrite(&big, 8, 1, f);
  fwrite("{}", 1, 2, f);
  fclose(f);
  EXPECT(st_open(&st, TMP "/long.safetensors", &err) == -1 &&
             strstr(err.msg, "header length 1000 runs past the end of the file (10 bytes)"),
         "header past the end: %s", err.msg);
  // (name, header, data bytes, expected message): entry-level damage
#define E(dt, shape, off) "{\"t\": {\"dtype\": \"" dt "\", \"shape\": " shape ", \"data_offsets\": " off "}}"
  static const struct { const char *name, *header; size_t ndata; const char *want; } bad[] = {
      {"notjson", "{\"t\": {\"dtype\": \"F32\",}", 0, "header is not valid JSON: line 1, column 23: string or '}' expected"},
      {"array", "[1, 2]", 0, "header is a JSON array, expected an object of tensors"},
      {"entry", "{\"t\": 5}", 0, "tensor 't': header entry is a JSON integer, expected an object"},
      {"nodtype", "{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 't': 'dtype' missing"},
      {"dtype", E("F33", "[1]", "[0, 4]"), 4, "tensor 't': dtype 'F33' unknown"},
      {"shape", E("F32", "[2, -1]", "[0, 4]"), 4, "tensor 't': 'shape' missing or not a list of at most 8 non-negative integers"},
      {"shapef", E("F32", "[2.5]", "[0, 4]"), 4, "tensor 't': 'shape' missing"},
      {"offsets", E("F32", "[1]", "[4, 0]"), 4, "tensor 't': 'data_offsets' missing or not [begin, end] with 0 <= begin <= end"},
      {"size", E("F32", "[2, 3]", "[0, 8]"), 8, "tensor 't': data_offsets [0, 8) hold 8 bytes, expected 24 for F32 [2, 3]"},
      {"cut", E("F32", "[2, 3]", "[0, 24]"), 20, "tensor 't': bytes [0, 24) run past the end of the data (20 bytes): truncated file?"},
      {"overflow", E("F64", "[4294967296, 4294967296]", "[0, 8]"), 8,
       "tensor 't': shape [4294967296, 4294967296] of F64 is too large"},
  };
#undef E
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) expect_open_error(bad[k].name, bad[k].header, bad[k].ndata, bad[k].want);
}

static void test_sha256(void) {
  char hex[65];
  sha256_hex_of("", 0, hex);
  EXPECT(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256('') %s", hex);
  sha256_hex_of("abc", 3, hex);
  EXPECT(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"), "sha256(abc) %s", hex);
  const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  sha256_hex_of(two, strlen(two), hex);
  EXPECT(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"), "sha256(448 bits) %s", hex);
  // a million 'a' in uneven pieces (the buffering across block edges)
  static char a[1000000];
  memset(a, 'a', sizeof a);
  Sha256 s;
  uint8_t dg[32];
  sha256_init(&s);
  for (size_t at = 0, k = 1; at < sizeof a; at += k, k = k * 7 % 1000 + 1)
    sha256_update(&s, a + at, at + k > sizeof a ? sizeof a - at : k);
  sha256_final(&s, dg);
  sha256_hex(dg, hex);
  EXPECT(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"), "sha256(10^6 a) %s", hex);
}

int main(void) {
  mkdir("build/tmp", 0755);
  mkdir(TMP, 0755);
  test_good();
  test_bad();
  test_sha256();
  return tl_finish("test_safetensors");
}
