#include "core/utf8.h"

int utf8_encode(uint32_t cp, char out[4]) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  int n = cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  static const unsigned char lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  for (int k = n - 1; k > 0; k--, cp >>= 6) out[k] = (char)(0x80 | (cp & 0x3F));
  out[0] = (char)(lead[n] | cp);
  return n;
}

uint32_t utf8_decode(const unsigned char *s, int len) {
  static const unsigned char mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t cp = s[0] & mask[len];
  for (int k = 1; k < len; k++) cp = cp << 6 | (s[k] & 0x3F);
  return cp;
}
