// Counter-based random numbers (Philox4x32-10). A draw is a pure function of
// (seed, purpose, sample, token, channel): no state, so any sharding of
// samples or tokens over ranks or threads draws identical numbers, and a
// resumed run draws what the uninterrupted run would have drawn.
#pragma once
#include <stdint.h>

enum RngPurpose {
  RNG_INIT = 1,      // parameter init: sample=param index, token/channel=element index hi/lo
  RNG_NOISE = 2,     // flow-matching noise epsilon
  RNG_TIME = 3,      // per-sample timestep
  RNG_DROPOUT = 4,   // caption dropout / caption choice
  RNG_COND = 5,      // conditioning-mask choice
  RNG_DATA = 6,      // synthetic data
  RNG_SAMPLE = 7,    // sampler noise at generation
  RNG_VAE = 8,       // the autoencoder's posterior sample: sample=clip, token=latent site, channel
  RNG_TEST = 100,
};

// Raw Philox4x32-10: key = seed, counter = (purpose, sample, token, channel).
void philox4x32(uint64_t seed, const uint32_t ctr[4], uint32_t out[4]);
// Uniform in (0,1), never exactly 0 or 1.
float rng_uniform(uint64_t seed, uint32_t purpose, uint32_t sample, uint32_t token, uint32_t channel);
// Standard normal (Box-Muller on one Philox block).
float rng_normal(uint64_t seed, uint32_t purpose, uint32_t sample, uint32_t token, uint32_t channel);
// out[i] = rng_normal(seed, purpose, sample, token, channel0 + i) for i < n.
void rng_normal_fill(float *out, int n, uint64_t seed, uint32_t purpose, uint32_t sample,
                     uint32_t token, uint32_t channel0);
