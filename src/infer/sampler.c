#include "infer/sampler.h"

#include <string.h>

#include "core/error.h"
#include "core/rng.h"

void sampler_timesteps(const SamplerOptions *o, float *t) {
  for (int i = 0; i <= o->steps; i++) {
    float u = o->t0 * (1.0f - (float)i / (float)o->steps);
    t[i] = o->shift * u / (1.0f + (o->shift - 1.0f) * u);
  }
}

// Guided velocity at time t for the B samples in x -> v. The model batch is
// [cond B | uncond B]; ws holds the model input.
typedef struct {
  Model *m;
  const SamplerOptions *o;
  int B, N, P, L, gt;
  Batch batch;       // 2B-sized inputs
  int guided;
} Ctx;

static void velocity(Ctx *c, const float *x, float t, float *v) {
  const size_t NP = (size_t)c->N * c->P;
  const int Bm = c->guided ? 2 * c->B : c->B;
  memcpy(c->batch.x, x, (size_t)c->B * NP * sizeof(float));
  if (c->guided) memcpy(c->batch.x + (size_t)c->B * NP, x, (size_t)c->B * NP * sizeof(float));
  for (int s = 0; s < Bm; s++) c->batch.t[s] = t;
  c->batch.B = Bm;
  model_forward(c->m, &c->batch);
  const float *out = c->m->out, g = c->o->cfg;
  if (!c->guided) {
    memcpy(v, out, (size_t)c->B * NP * sizeof(float));
    return;
  }
  const size_t n = (size_t)c->B * NP;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < n; i++) v[i] = out[n + i] + g * (out[i] - out[n + i]);
}

// Conditioned frames stay exactly x_src.
static void clamp_conditioned(const Ctx *c, const uint8_t *cond, const float *x_src, float *x) {
  if (!cond) return;
  const int frame_tokens = c->N / c->gt;
  for (int s = 0; s < c->B; s++)
    for (int f = 0; f < c->gt; f++)
      if (cond[s * c->gt + f]) {
        size_t off = ((size_t)s * c->N + (size_t)f * frame_tokens) * c->P;
        memcpy(x + off, x_src + off, (size_t)frame_tokens * c->P * sizeof(float));
      }
}

void sample_flow(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                 const uint8_t *cond, const float *x_src, float *out) {
  const ModelConfig *mc = &m->cfg;
  Ctx c = {.m = m, .o = o, .B = B, .N = mc->tokens, .P = mc->patch_dim, .L = mc->text_length, .gt = mc->grid_t,
           .guided = o->cfg != 1.0f};
  const int Bm = c.guided ? 2 * B : B;
  TSR_ASSERT(Bm <= m->max_batch, "sampler needs activations for %d samples, model has %d", Bm, m->max_batch);
  TSR_ASSERT(o->steps >= 1 && o->t0 > 0.0f && o->t0 <= 1.0f, "sampler: steps %d, t0 %g", o->steps, o->t0);
  const size_t NP = (size_t)c.N * c.P;
  // Inputs for [cond | uncond]: the unconditional half gets the null caption (BOS only).
  c.batch.x = tsr_calloc((size_t)Bm * NP, sizeof(float));
  c.batch.t = tsr_calloc((size_t)Bm, sizeof(float));
  c.batch.tokens = tsr_calloc((size_t)Bm * c.L, sizeof(int32_t));
  c.batch.ntokens = tsr_calloc((size_t)Bm, sizeof(int32_t));
  c.batch.cond = tsr_calloc((size_t)Bm * c.gt, 1);
  memcpy(c.batch.tokens, tokens, (size_t)B * c.L * sizeof(int32_t));
  memcpy(c.batch.ntokens, ntokens, (size_t)B * sizeof(int32_t));
  for (int s = B; s < Bm; s++) {
    c.batch.tokens[(size_t)s * c.L] = 1;
    c.batch.ntokens[s] = 1;
  }
  if (cond)
    for (int k = 0; k < Bm / B; k++) memcpy(c.batch.cond + (size_t)k * B * c.gt, cond, (size_t)B * c.gt);

  float *t = tsr_calloc((size_t)o->steps + 1, sizeof(float));
  sampler_timesteps(o, t);
  float *v = tsr_calloc((size_t)B * NP, sizeof(float)), *v2 = o->heun ? tsr_calloc((size_t)B * NP, sizeof(float)) : NULL;
  float *xe = o->heun ? tsr_calloc((size_t)B * NP, sizeof(float)) : NULL;
  for (int s = 0; s < B; s++)
#pragma omp parallel for schedule(static)
    for (int n = 0; n < c.N; n++)
      for (int p = 0; p < c.P; p++) {
        size_t i = ((size_t)s * c.N + n) * c.P + p;
        float eps = rng_normal(o->seed, RNG_SAMPLE, (uint32_t)s, (uint32_t)n, (uint32_t)p);
        out[i] = o->t0 < 1.0f ? o->t0 * eps + (1.0f - o->t0) * x_src[i] : eps;
      }
  clamp_conditioned(&c, cond, x_src, out);
  const size_t n = (size_t)B * NP;
  for (int i = 0; i < o->steps; i++) {
    float dt = t[i + 1] - t[i];
    velocity(&c, out, t[i], v);
    if (o->heun && t[i + 1] > 0.0f) {
      for (size_t k = 0; k < n; k++) xe[k] = out[k] + dt * v[k];
      clamp_conditioned(&c, cond, x_src, xe);
      velocity(&c, xe, t[i + 1], v2);
      for (size_t k = 0; k < n; k++) out[k] += dt * 0.5f * (v[k] + v2[k]);
    } else {
      for (size_t k = 0; k < n; k++) out[k] += dt * v[k];
    }
    clamp_conditioned(&c, cond, x_src, out);
    if (o->progress) o->progress(i + 1, o->steps, o->progress_ctx);
  }
  tsr_free(t);
  tsr_free(v);
  tsr_free(v2);
  tsr_free(xe);
  tsr_free(c.batch.x);
  tsr_free(c.batch.t);
  tsr_free(c.batch.tokens);
  tsr_free(c.batch.ntokens);
  tsr_free(c.batch.cond);
}
