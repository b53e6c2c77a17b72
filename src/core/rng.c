#include "core/rng.h"

#include <math.h>

// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
  uint64_t p = (uint64_t)a * b;
  *hi = (uint32_t)(p >> 32);
  *lo = (uint32_t)p;
}

void philox4x32(uint64_t seed, const uint32_t ctr[4], uint32_t out[4]) {
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  for (int r = 0; r < 10; r++) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(PHILOX_M0, c0, &hi0, &lo0);
    mulhilo(PHILOX_M1, c2, &hi1, &lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

// 24 random bits -> (0,1), never 0 or 1.
static inline float to_unit(uint32_t x) { return ((float)(x >> 8) + 0.5f) * (1.0f / 16777216.0f); }

float rng_uniform(uint64_t seed, uint32_t purpose, uint32_t sample, uint32_t token, uint32_t channel) {
  uint32_t ctr[4] = {purpose, sample, token, channel}, out[4];
  philox4x32(seed, ctr, out);
  return to_unit(out[0]);
}

float rng_normal(uint64_t seed, uint32_t purpose, uint32_t sample, uint32_t token, uint32_t channel) {
  uint32_t ctr[4] = {purpose, sample, token, channel}, out[4];
  philox4x32(seed, ctr, out);
  float u1 = to_unit(out[0]), u2 = to_unit(out[1]);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

void rng_normal_fill(float *out, int n, uint64_t seed, uint32_t purpose, uint32_t sample,
                     uint32_t token, uint32_t channel0) {
  for (int i = 0; i < n; i++) out[i] = rng_normal(seed, purpose, sample, token, channel0 + (uint32_t)i);
}
