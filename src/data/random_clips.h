// Random training data for smoke runs and benchmarks: a fixed pool of random
// clips (patches uniform in [-1,1]) with random captions, drawn from the
// counter RNG by clip index. Stand-in until corpora on disk exist.
#pragma once
#include <stdint.h>

#include "core/config.h"

// Fill sample s of a batch (global index first_sample + s) from clip
// (first_sample + s) % pool: x0 [B,N,P], tokens [B,L] (>= 4, after the
// reserved ids 0 pad, 1 BOS, 2 unk, 3 eos), ntokens [B].
void random_clips_fill(float *x0, int32_t *tokens, int32_t *ntokens, const ModelConfig *mc, int B, uint64_t seed,
                       uint64_t first_sample, int pool);
