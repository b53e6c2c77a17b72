// Rectified-flow training batches: timesteps, noise, conditioning masks and
// caption dropout, all drawn from the counter RNG by global sample index so a
// resumed or re-sharded run draws the same numbers.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "model/model.h"

// Buffers for one batch of up to max_batch samples (allocated once).
typedef struct {
  Batch b;
  float *x0;  // [B,N,P] clean patches
} FlowBatch;

void flow_batch_alloc(FlowBatch *fb, const ModelConfig *mc, int max_batch);
void flow_batch_free(FlowBatch *fb);
// Given fb->x0 and captions already in fb->b.tokens/ntokens, draw for sample s
// (global index first_sample + s): t ~ logit-normal, eps ~ N(0,1) per
// (token, channel), a conditioning mask (none / first / prefix / ends / random,
// by the train config's probabilities), caption dropout to the null caption
// with p_drop; then x_t = (1-t) x0 + t eps (conditioned frames keep x0) and
// target = eps - x0.
void flow_prepare(FlowBatch *fb, const ModelConfig *mc, const TrainConfig *tc, float p_drop, uint64_t seed,
                  uint64_t first_sample);
