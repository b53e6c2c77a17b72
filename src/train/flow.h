// Rectified-flow training batches: timesteps, noise, conditioning masks and
// caption dropout, all drawn from the counter RNG by global sample index so a
// resumed or re-sharded run draws the same numbers.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "model/model.h"

// Buffers for one batch of up to max_batch samples (allocated once). Under
// sequence parallelism a rank holds the token slice [n0, n0 + nloc) of every
// sample (x0, b.x, b.target are [B, nloc, P]); cond and captions are whole.
typedef struct {
  Batch b;
  float *x0;      // [B,nloc,P] clean patches
  int n0, nloc;   // this rank's tokens of the N of a clip
} FlowBatch;

void flow_batch_alloc(FlowBatch *fb, const ModelConfig *mc, int max_batch);  // all N tokens
void flow_batch_alloc_slice(FlowBatch *fb, const ModelConfig *mc, int max_batch, int n0, int nloc);
// Buffers for batches of any grid within mc's (data.buckets): up to max_batch
// samples and max_local tokens on this rank in all; n0, nloc: the slice of a
// clip at mc's own grid (the caller sets fb->b.B, n0, nloc per batch).
void flow_batch_alloc_tokens(FlowBatch *fb, const ModelConfig *mc, int max_batch, int64_t max_local, int n0,
                             int nloc);
void flow_batch_free(FlowBatch *fb);
// Given fb->x0 and captions already in fb->b.tokens/ntokens, draw for sample s
// (global index first_sample + s * stride): t ~ logit-normal, eps ~ N(0,1) per
// (global token, channel), a conditioning mask (none / first / prefix / ends /
// random, by the train config's probabilities), caption dropout to the null
// caption with p_drop; then x_t = (1-t) x0 + t eps (conditioned frames keep
// x0) and target = eps - x0 (x0 when the model predicts x). In the image modes,
// first and ends, a conditioned latent frame is made a still in fb->x0 itself:
// its first or last video frame repeated, as generate places an image. Every
// draw is keyed by the global sample and token index, so any dp/sp sharding of
// a batch sees the numbers one rank would.
void flow_prepare(FlowBatch *fb, const ModelConfig *mc, const TrainConfig *tc, float p_drop, uint64_t seed,
                  uint64_t first_sample, uint64_t stride);
// Generated (non-conditioned) tokens of `count` whole clips with global
// indices first_sample + j * stride (frame_tokens per free latent frame, the
// masks flow_prepare draws): a share of the loss denominator.
double flow_count_generated(const ModelConfig *mc, const TrainConfig *tc, uint64_t seed, uint64_t first_sample,
                            uint64_t stride, int count);
