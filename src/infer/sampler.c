#include "infer/sampler.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "infer/denoiser.h"
#include "model/rectified_flow.h"

void sampler_timesteps(const SamplerOptions *o, float *t) {
  for (int i = 0; i <= o->steps; i++) {
    float u = o->t0 * (1.0f - (float)i / (float)o->steps);
    t[i] = rf_shift(u, o->shift);
  }
}

// Conditioned frames stay exactly x_src (x, x_src: whole clips [B,N,P]).
static void clamp_conditioned(const SampleShape *sh, const uint8_t *cond, const float *x_src, float *x) {
  if (!cond) return;
  const int frame_tokens = sh->N / sh->gt;
  for (int s = 0; s < sh->B; s++)
    for (int n = 0; n < sh->N; n++)
      if (cond[s * sh->gt + n / frame_tokens]) {
        size_t off = ((size_t)s * sh->N + n) * sh->P;
        memcpy(x + off, x_src + off, (size_t)sh->P * sizeof(float));
      }
}

void sample_flow_fn(VelocityFn velocity, void *ctx, const SamplerOptions *o, const SampleShape *sh,
                    const uint8_t *cond, const float *x_src, float *out) {
  TSR_ASSERT(o->steps >= 1 && o->t0 > 0.0f && o->t0 <= 1.0f, "sampler: steps %d, t0 %g", o->steps, o->t0);
  const size_t n = (size_t)sh->B * sh->N * sh->P;
  float *t = tsr_calloc((size_t)o->steps + 1, sizeof(float));
  sampler_timesteps(o, t);
  float *x = out;
  float *v = tsr_calloc(n, sizeof(float)), *v2 = o->heun ? tsr_calloc(n, sizeof(float)) : NULL;
  float *xe = o->heun ? tsr_calloc(n, sizeof(float)) : NULL;
  // noise keyed by (sample, token, channel): every layout starts from the same x
  for (int s = 0; s < sh->B; s++)
#pragma omp parallel for schedule(static)
    for (int k = 0; k < sh->N; k++)
      for (int p = 0; p < sh->P; p++) {
        size_t i = ((size_t)s * sh->N + k) * sh->P + p;
        float eps = rng_normal(o->seed, RNG_SAMPLE, (uint32_t)s, (uint32_t)k, (uint32_t)p);
        x[i] = o->t0 < 1.0f ? rf_noised(x_src[i], eps, o->t0) : eps;
      }
  clamp_conditioned(sh, cond, x_src, x);
  for (int i = 0; i < o->steps; i++) {
    float dt = t[i + 1] - t[i];
    velocity(ctx, x, t[i], v);
    if (o->heun && t[i + 1] > 0.0f) {
      for (size_t k = 0; k < n; k++) xe[k] = x[k] + dt * v[k];
      clamp_conditioned(sh, cond, x_src, xe);
      velocity(ctx, xe, t[i + 1], v2);
      for (size_t k = 0; k < n; k++) x[k] += dt * 0.5f * (v[k] + v2[k]);
    } else {
      for (size_t k = 0; k < n; k++) x[k] += dt * v[k];
    }
    clamp_conditioned(sh, cond, x_src, x);
    if (o->progress) o->progress(i + 1, o->steps, o->progress_ctx);
  }
  tsr_free(t);
  tsr_free(v);
  tsr_free(v2);
  tsr_free(xe);
}

void sample_flow(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                 const uint8_t *cond, const float *x_src, float *out) {
  const ModelConfig *mc = &m->cfg;
  const SampleShape sh = {.B = B, .N = mc->tokens, .P = mc->patch_dim, .gt = mc->grid_t};
  Denoiser *d = denoiser_open(m, o, B, tokens, ntokens, cond);
  sample_flow_fn(denoiser_velocity, d, o, &sh, cond, x_src, out);
  denoiser_close(d);
}
