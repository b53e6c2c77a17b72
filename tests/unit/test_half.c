// core/half.h against the compiler's _Float16 (GCC 12 on x86: IEEE binary16,
// round to nearest even), the independent answer:
//  - f16_to_f32 for all 65,536 bit patterns;
//  - f32_to_f16 for 44 million floats spread over every exponent, and for the
//    exact midpoint between each pair of neighbouring halves (the ties), and
//    just above and below it.
#include <math.h>
#include <string.h>

#include "core/half.h"
#include "testlib.h"

static int same_half(float f) {
  _Float16 want = (_Float16)f;
  uint16_t w, got = f32_to_f16(f);
  memcpy(&w, &want, 2);
  if (isnan(f)) return (got & 0x7c00) == 0x7c00 && (got & 0x3ff) && (got >> 15) == (w >> 15);
  return got == w;
}

int main(void) {
  int bad = 0;
  for (uint32_t h = 0; h < 65536; h++) {
    _Float16 x;
    uint16_t bits = (uint16_t)h;
    memcpy(&x, &bits, 2);
    float want = (float)x, got = f16_to_f32(bits);
    if (!(got == want || (isnan(got) && isnan(want))) || signbit(got) != signbit(want)) bad++;
  }
  EXPECT(!bad, "f16_to_f32: %d of 65536 bit patterns differ from _Float16 -> float", bad);

  bad = 0;
  long n = 0;
  for (uint64_t x = 0; x < (1ull << 32); x += 97, n++) {
    float f;
    uint32_t b = (uint32_t)x;
    memcpy(&f, &b, 4);
    if (!same_half(f)) bad++;
  }
  EXPECT(!bad, "f32_to_f16: %d of %ld floats differ from (_Float16)", bad, n);

  bad = 0;
  for (uint32_t h = 0; h < 0x7c00; h++) {  // each finite positive half and the next one up
    double a = f16_to_f32((uint16_t)h), b = f16_to_f32((uint16_t)(h + 1)), mid = 0.5 * (a + b);
    float m = (float)mid;  // exact: a half's midpoint needs 12 significant bits
    if (!same_half(m) || !same_half(-m) || !same_half(nextafterf(m, 0)) || !same_half(nextafterf(m, INFINITY))) bad++;
  }
  EXPECT(!bad, "f32_to_f16: %d ties (or their neighbours) round differently from (_Float16)", bad);
  EXPECT(same_half(65520.0f) && same_half(65519.99f) && same_half(1e-8f) && same_half(NAN) && same_half(-INFINITY),
         "overflow to inf, underflow to zero, nan, inf");
  return tl_finish("test_half");
}
