// Rectified-flow samplers (Euler, Heun) with classifier-free guidance,
// time shift and per-frame conditioning (DESIGN.md "Sampling").
//
// Timesteps: u_i = t0 (1 - i/steps), t_i = s u_i / (1 + (s-1) u_i), i = 0..steps.
// Start: x = t0 eps + (1 - t0) x_src  (t0 = 1: pure noise; t0 < 1: remix of x_src).
// Step:  x <- x + (t_{i+1} - t_i) v(x, t_i)  (Euler; Heun averages with the
//        slope at the Euler point, except on the last step to t = 0).
// Guidance: v = v_u + g (v_c - v_u), the unconditional branch on the null caption.
// Conditioning: tokens of conditioned latent frames are x_src at every step
// and in the output (they enter clean, t = 0, as in training).
// Noise eps is keyed by (seed, RNG_SAMPLE, sample, token, channel), the token
// index global: every layout starts from the same noise.
// Distributed (docs/model_parallel.md): the denoiser runs the model on each
// rank's token slice under sp and gathers the velocity, so every rank steps
// the whole clip; with cfg_group the conditional branch runs on the pair's
// rank 0 and the unconditional on its rank 1, and each step swaps the two.
#pragma once
#include <stdint.h>

#include "comm/comm.h"
#include "model/model.h"
#include "text/text_cond.h"

typedef struct {
  int steps;
  float cfg;      // guidance scale g (1: no guidance, no unconditional pass)
  float shift;    // time shift s (1: none)
  int heun;       // 0 Euler, 1 Heun
  uint64_t seed;
  float t0;       // starting time (1: generate; < 1: remix strength)
  // Called after each step (may be NULL): step i of n.
  void (*progress)(int i, int n, void *ctx);
  void *progress_ctx;
  CommGroup *cfg_group;  // CFG-parallel pair (size 2), or NULL: both branches on this rank
  TextCond *text;        // model.text.encoder minilm: the encoder whose states the model reads (NULL otherwise)
} SamplerOptions;

// The model as the sampler sees it: the velocity v(x, t) of whole clips x
// [B,N,P] (infer/denoiser.h: guidance, text, sequence parallelism).
typedef void (*VelocityFn)(void *ctx, const float *x, float t, float *v);
typedef struct {
  int B, N, P;  // clips, tokens of a clip, patch values
  int gt;       // latent frames (cond has gt flags per clip; a frame is N/gt tokens)
} SampleShape;

// The flow integrated from t0 to 0 (steps, shift, heun, seed, t0 of o):
// out [B,N,P] starts as noise (or x_src noised to t0), conditioned frames
// (cond [B,gt], may be NULL) kept at x_src. Knows no model and no layout.
void sample_flow_fn(VelocityFn velocity, void *ctx, const SamplerOptions *o, const SampleShape *sh,
                    const uint8_t *cond, const float *x_src, float *out);

// The same with the model (through a Denoiser). Model forwards needed per sample: steps * (cfg != 1 ? 2 : 1) * (heun ? ~2 : 1).
// m must hold activations for 2*B samples when cfg != 1 (B under CFG-parallel).
// tokens/ntokens [B,L]/[B]: the prompts. cond [B,gt] (may be NULL) and x_src
// [B,N,P] (clean patches; needed when cond has a 1 or t0 < 1). out [B,N,P]:
// the whole clip on every rank (x_src too), whatever the layout.
void sample_flow(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                 const uint8_t *cond, const float *x_src, float *out);
// The shifted time grid t_0..t_steps (for tests and docs).
void sampler_timesteps(const SamplerOptions *o, float *t);
