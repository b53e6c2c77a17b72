#include "infer/sampler.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/rectified_flow.h"

void sampler_timesteps(const SamplerOptions *o, float *t) {
  for (int i = 0; i <= o->steps; i++) {
    float u = o->t0 * (1.0f - (float)i / (float)o->steps);
    t[i] = rf_shift(u, o->shift);
  }
}

// Guided velocity at time t for the B samples in x -> v, on this rank's
// tokens. The model batch is [cond B | uncond B], or under CFG-parallel this
// rank's branch only (the pair then swaps their halves).
typedef struct {
  Model *m;
  const SamplerOptions *o;
  int B, N, n0, Nf, P, L, gt;  // N tokens on this rank (global n0 ..) of Nf
  Batch batch;                 // inputs for the model's batch
  int guided;
  int branch;                  // CFG-parallel: 0 conditional, 1 unconditional; -1: both here
  float *pair;                 // CFG-parallel: [2, B*N*P] both branches' velocities
  float *out;                  // guided: the model's output, read back to the host ([Bm, N, P])
} Ctx;

static void velocity(Ctx *c, const float *x, float t, float *v) {
  const size_t n = (size_t)c->B * c->N * c->P;  // this rank's share of the samples
  const int both = c->guided && c->branch < 0, Bm = both ? 2 * c->B : c->B;
  memcpy(c->batch.x, x, n * sizeof(float));
  if (both) memcpy(c->batch.x + n, x, n * sizeof(float));
  for (int s = 0; s < Bm; s++) c->batch.t[s] = t;
  c->batch.B = Bm;
  model_forward(c->m, &c->batch);
  const float g = c->o->cfg;
  if (!c->guided) {
    model_read_output(c->m, v, Bm);
  } else {
    const float *out = c->out;
    model_read_output(c->m, c->out, Bm);
    if (!both) {  // the pair's outputs, conditional first
      comm_allgather(c->o->cfg_group, out, c->pair, n, COMM_F32);
      out = c->pair;
    }
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) v[i] = out[n + i] + g * (out[i] - out[n + i]);
  }
  // x-prediction: the (guided) output is the clean video; v = (x - x0)/t.
  // Guidance is linear, so guiding x0 and converting equals guiding v.
  if (c->m->cfg.predict_x) {
    const float inv = rf_x_to_v_scale(t);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) v[i] = (x[i] - v[i]) * inv;
  }
}

// Conditioned frames stay exactly x_src (x and x_src: this rank's tokens).
static void clamp_conditioned(const Ctx *c, const uint8_t *cond, const float *x_src, float *x) {
  if (!cond) return;
  const int frame_tokens = c->Nf / c->gt;
  for (int s = 0; s < c->B; s++)
    for (int n = 0; n < c->N; n++)
      if (cond[s * c->gt + (c->n0 + n) / frame_tokens]) {
        size_t off = ((size_t)s * c->N + n) * c->P;
        memcpy(x + off, x_src + off, (size_t)c->P * sizeof(float));
      }
}

// full[B,Nf,P] <-> this rank's tokens [B,N,P]
static void take_slice(const Ctx *c, const float *full, float *mine) {
  for (int s = 0; s < c->B; s++)
    memcpy(mine + (size_t)s * c->N * c->P, full + ((size_t)s * c->Nf + c->n0) * c->P, (size_t)c->N * c->P * sizeof(float));
}

static void gather_slices(const Ctx *c, const float *mine, float *full) {
  const int sp = c->m->layout.sp;
  const size_t n = (size_t)c->B * c->N * c->P;
  if (sp == 1) {
    memcpy(full, mine, n * sizeof(float));
    return;
  }
  float *all = tsr_calloc((size_t)sp * n, sizeof(float));
  comm_allgather(c->m->layout.sp_group, mine, all, n, COMM_F32);
  for (int j = 0; j < sp; j++)
    for (int s = 0; s < c->B; s++)
      memcpy(full + ((size_t)s * c->Nf + (size_t)j * c->N) * c->P, all + ((size_t)j * c->B + s) * c->N * c->P,
             (size_t)c->N * c->P * sizeof(float));
  tsr_free(all);
}

void sample_flow(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                 const uint8_t *cond, const float *x_src, float *out) {
  const ModelConfig *mc = &m->cfg;
  const int sp = m->layout.sp;
  Ctx c = {.m = m, .o = o, .B = B, .Nf = mc->tokens, .N = mc->tokens / sp, .n0 = m->layout.sp_rank * (mc->tokens / sp),
           .P = mc->patch_dim, .L = mc->text_length, .gt = mc->grid_t, .guided = o->cfg != 1.0f, .branch = -1};
  if (c.guided && o->cfg_group) {
    TSR_ASSERT(o->cfg_group->size == 2, "CFG-parallel needs a pair of ranks, got %d", o->cfg_group->size);
    c.branch = o->cfg_group->rank;
  }
  const int Bm = c.guided && c.branch < 0 ? 2 * B : B;
  TSR_ASSERT(Bm <= m->max_batch, "sampler needs activations for %d samples, model has %d", Bm, m->max_batch);
  TSR_ASSERT(o->steps >= 1 && o->t0 > 0.0f && o->t0 <= 1.0f, "sampler: steps %d, t0 %g", o->steps, o->t0);
  const size_t NP = (size_t)c.N * c.P, n = (size_t)B * NP;
  // Inputs for [cond | uncond]: the unconditional half gets the null caption
  // (BOS only). CFG-parallel: the unconditional rank's whole batch does.
  c.batch.x = tsr_calloc((size_t)Bm * NP, sizeof(float));
  c.batch.t = tsr_calloc((size_t)Bm, sizeof(float));
  c.batch.tokens = tsr_calloc((size_t)Bm * c.L, sizeof(int32_t));
  c.batch.ntokens = tsr_calloc((size_t)Bm, sizeof(int32_t));
  c.batch.cond = tsr_calloc((size_t)Bm * c.gt, 1);
  const int first_null = c.branch == 1 ? 0 : B;
  if (first_null > 0) {
    memcpy(c.batch.tokens, tokens, (size_t)B * c.L * sizeof(int32_t));
    memcpy(c.batch.ntokens, ntokens, (size_t)B * sizeof(int32_t));
  }
  for (int s = first_null; s < Bm; s++) {
    if (o->text) {  // the pretrained encoder's null caption: the empty text
      text_cond_null(o->text, c.batch.tokens + (size_t)s * c.L, &c.batch.ntokens[s]);
    } else {
      c.batch.tokens[(size_t)s * c.L] = 1;
      c.batch.ntokens[s] = 1;
    }
  }
  if (o->text) {  // the states of every row, once: they do not change over the steps
    TsrErr err;
    c.batch.text_states = tsr_calloc((size_t)Bm * c.L * text_cond_width(o->text), sizeof(float));
    if (text_cond_states(o->text, c.batch.tokens, c.batch.ntokens, Bm, c.batch.text_states, &err) != 0)
      tsr_user_error("sampler: text encoder: %s", err.msg);
  }
  if (cond)
    for (int k = 0; k < Bm / B; k++) memcpy(c.batch.cond + (size_t)k * B * c.gt, cond, (size_t)B * c.gt);
  if (c.branch >= 0) c.pair = tsr_calloc(2 * n, sizeof(float));
  if (c.guided) c.out = tsr_calloc((size_t)Bm * NP, sizeof(float));

  float *t = tsr_calloc((size_t)o->steps + 1, sizeof(float));
  sampler_timesteps(o, t);
  // the state x and the source: this rank's tokens
  float *x = tsr_calloc(n, sizeof(float)), *xs = x_src ? tsr_calloc(n, sizeof(float)) : NULL;
  if (xs) take_slice(&c, x_src, xs);
  float *v = tsr_calloc(n, sizeof(float)), *v2 = o->heun ? tsr_calloc(n, sizeof(float)) : NULL;
  float *xe = o->heun ? tsr_calloc(n, sizeof(float)) : NULL;
  // noise keyed by the global token index: every layout starts from the same x
  for (int s = 0; s < B; s++)
#pragma omp parallel for schedule(static)
    for (int k = 0; k < c.N; k++)
      for (int p = 0; p < c.P; p++) {
        size_t i = ((size_t)s * c.N + k) * c.P + p;
        float eps = rng_normal(o->seed, RNG_SAMPLE, (uint32_t)s, (uint32_t)(c.n0 + k), (uint32_t)p);
        x[i] = o->t0 < 1.0f ? rf_noised(xs[i], eps, o->t0) : eps;
      }
  clamp_conditioned(&c, cond, xs, x);
  for (int i = 0; i < o->steps; i++) {
    float dt = t[i + 1] - t[i];
    velocity(&c, x, t[i], v);
    if (o->heun && t[i + 1] > 0.0f) {
      for (size_t k = 0; k < n; k++) xe[k] = x[k] + dt * v[k];
      clamp_conditioned(&c, cond, xs, xe);
      velocity(&c, xe, t[i + 1], v2);
      for (size_t k = 0; k < n; k++) x[k] += dt * 0.5f * (v[k] + v2[k]);
    } else {
      for (size_t k = 0; k < n; k++) x[k] += dt * v[k];
    }
    clamp_conditioned(&c, cond, xs, x);
    if (o->progress) o->progress(i + 1, o->steps, o->progress_ctx);
  }
  gather_slices(&c, x, out);
  tsr_free(t);
  tsr_free(x);
  tsr_free(xs);
  tsr_free(v);
  tsr_free(v2);
  tsr_free(xe);
  tsr_free(c.pair);
  tsr_free(c.out);
  tsr_free(c.batch.x);
  tsr_free(c.batch.t);
  tsr_free(c.batch.tokens);
  tsr_free(c.batch.ntokens);
  tsr_free(c.batch.cond);
  tsr_free(c.batch.text_states);
}
