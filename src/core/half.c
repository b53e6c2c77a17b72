#include "core/half.h"

#include <string.h>

float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, bits;
  if (e == 31) bits = sign | 0x7F800000u | m << 13;  // inf, nan
  else if (e) bits = sign | (e + 112) << 23 | m << 13;
  else if (!m) bits = sign;
  else {  // subnormal: normalise
    int s = 0;
    while (!(m & 1024)) m <<= 1, s++;
    bits = sign | (uint32_t)(113 - s) << 23 | (m & 1023) << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

// Drops the low `shift` bits of m, rounding to nearest, ties to even.
static uint32_t round_shift(uint32_t m, int shift) {
  uint32_t kept = m >> shift, rem = m & ((1u << shift) - 1), mid = 1u << (shift - 1);
  return kept + (rem > mid || (rem == mid && (kept & 1)));
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000, e = (x >> 23) & 0xff, m = x & 0x7fffff;
  if (e == 255) return (uint16_t)(sign | 0x7c00 | (m ? 0x200 | (m >> 13) : 0));  // inf; nan stays a (quiet) nan
  const int he = (int)e - 127 + 15;
  if (he >= 31) return (uint16_t)(sign | 0x7c00);  // too large: inf
  if (he <= 0) {                                   // a half subnormal, or zero
    if (he < -10) return (uint16_t)sign;           // below half the smallest subnormal
    return (uint16_t)(sign | round_shift(m | 0x800000, 14 - he));
  }
  // a carry out of the mantissa moves into the exponent (up to inf): still right
  return (uint16_t)(sign | (round_shift(((uint32_t)he << 23) | m, 13)));
}

float bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
