#include "data/random_clips.h"

#include <string.h>

#include "core/rng.h"

void random_clips_fill(float *x0, int32_t *tokens, int32_t *ntokens, const ModelConfig *mc, int B, uint64_t seed,
                       uint64_t first_sample, int pool) {
  const int N = mc->tokens, P = mc->patch_dim, L = mc->text_length;
  for (int s = 0; s < B; s++) {
    uint32_t clip = (uint32_t)((first_sample + (uint64_t)s) % (uint64_t)pool);
    float *x = x0 + (size_t)s * N * P;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
      for (int p = 0; p < P; p++) x[(size_t)n * P + p] = 2.0f * rng_uniform(seed, RNG_DATA, clip, (uint32_t)n, (uint32_t)p) - 1.0f;
    int32_t *tok = tokens + (size_t)s * L;
    memset(tok, 0, (size_t)L * sizeof *tok);
    int len = 2 + (int)(rng_uniform(seed, RNG_DATA, clip, 0xFFFFFFFFu, 0) * (float)(L - 1));
    if (len > L) len = L;
    tok[0] = 1;
    for (int l = 1; l < len; l++)
      tok[l] = 4 + (int32_t)(rng_uniform(seed, RNG_DATA, clip, 0xFFFFFFFFu, (uint32_t)l) * (float)(mc->vocab - 4));
    ntokens[s] = len;
  }
}
