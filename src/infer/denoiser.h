// The model as the sampler sees it: a velocity v(x, t) over whole clips. The
// denoiser hides everything the sampler need not know (infer/sampler.h):
// classifier-free guidance (both branches in one batch, or one branch per rank
// of a CFG-parallel pair that swap their outputs), the unconditional branch's
// null caption, the pretrained encoder's text states, x-prediction turned
// into a velocity, and sequence parallelism (each rank runs the model on its
// token slice; the velocity is gathered so every rank sees the whole clip).
#pragma once
#include <stdint.h>

#include "infer/sampler.h"
#include "model/model.h"

typedef struct Denoiser Denoiser;

// For B prompts (tokens/ntokens [B,L]/[B]) and conditioning frames cond
// [B,gt] (may be NULL), with guidance o->cfg, o->cfg_group and o->text.
Denoiser *denoiser_open(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                        const uint8_t *cond);
// x, v: [B,N,P], the whole clips (N all of a clip's tokens). Collective over
// the model's sp group and the CFG pair. A VelocityFn (ctx: the Denoiser).
void denoiser_velocity(void *ctx, const float *x, float t, float *v);
void denoiser_close(Denoiser *d);
