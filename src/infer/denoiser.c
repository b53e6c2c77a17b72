#include "infer/denoiser.h"

#include <string.h>

#include "core/error.h"
#include "model/rectified_flow.h"

struct Denoiser {
  Model *m;
  float cfg;
  CommGroup *cfg_group;
  int B, N, n0, Nf, P, L, gt;  // this rank's N tokens (global n0 ..) of the Nf of a clip
  Batch batch;                 // inputs for the model's batch: [cond B | uncond B], or one branch
  int guided;
  int branch;                  // CFG-parallel: 0 conditional, 1 unconditional; -1: both here
  float *pair;                 // CFG-parallel: [2, B*N*P] both branches' outputs
  float *out;                  // guided: the model's output, read back to the host ([Bm, N, P])
  float *xl, *v;               // sp > 1: [B,N,P] this rank's tokens of x, and their velocity
  float *all;                  // sp > 1: [sp, B*N*P] every rank's velocity
};

Denoiser *denoiser_open(Model *m, const SamplerOptions *o, int B, const int32_t *tokens, const int32_t *ntokens,
                        const uint8_t *cond) {
  const ModelConfig *mc = &m->cfg;
  const int sp = m->layout.sp;
  Denoiser *d = tsr_calloc(1, sizeof *d);
  *d = (Denoiser){.m = m, .cfg = o->cfg, .cfg_group = o->cfg_group, .B = B, .Nf = mc->tokens, .N = mc->tokens / sp,
                  .n0 = m->layout.sp_rank * (mc->tokens / sp), .P = mc->patch_dim, .L = mc->text_length,
                  .gt = mc->grid_t, .guided = o->cfg != 1.0f, .branch = -1};
  if (d->guided && o->cfg_group) {
    TSR_ASSERT(o->cfg_group->size == 2, "CFG-parallel needs a pair of ranks, got %d", o->cfg_group->size);
    d->branch = o->cfg_group->rank;
  }
  const int Bm = d->guided && d->branch < 0 ? 2 * B : B;
  TSR_ASSERT(Bm <= m->max_batch, "sampler needs activations for %d samples, model has %d", Bm, m->max_batch);
  const size_t NP = (size_t)d->N * d->P, n = (size_t)B * NP;
  // Inputs for [cond | uncond]: the unconditional half gets the null caption
  // (BOS only). CFG-parallel: the unconditional rank's whole batch does.
  d->batch.x = tsr_calloc((size_t)Bm * NP, sizeof(float));
  d->batch.t = tsr_calloc((size_t)Bm, sizeof(float));
  d->batch.tokens = tsr_calloc((size_t)Bm * d->L, sizeof(int32_t));
  d->batch.ntokens = tsr_calloc((size_t)Bm, sizeof(int32_t));
  d->batch.cond = tsr_calloc((size_t)Bm * d->gt, 1);
  const int first_null = d->branch == 1 ? 0 : B;
  if (first_null > 0) {
    memcpy(d->batch.tokens, tokens, (size_t)B * d->L * sizeof(int32_t));
    memcpy(d->batch.ntokens, ntokens, (size_t)B * sizeof(int32_t));
  }
  for (int s = first_null; s < Bm; s++) {
    if (o->text) {  // the pretrained encoder's null caption: the empty text
      text_cond_null(o->text, d->batch.tokens + (size_t)s * d->L, &d->batch.ntokens[s]);
    } else {
      d->batch.tokens[(size_t)s * d->L] = 1;
      d->batch.ntokens[s] = 1;
    }
  }
  if (o->text) {  // the states of every row, once: they do not change over the steps
    TsrErr err;
    d->batch.text_states = tsr_calloc((size_t)Bm * d->L * text_cond_width(o->text), sizeof(float));
    if (text_cond_states(o->text, d->batch.tokens, d->batch.ntokens, Bm, d->batch.text_states, &err) != 0)
      tsr_fatal(__FILE__, __LINE__, "text", "sampler: text encoder: %s", err.msg);  // prompts were encoded before
  }
  if (cond)
    for (int k = 0; k < Bm / B; k++) memcpy(d->batch.cond + (size_t)k * B * d->gt, cond, (size_t)B * d->gt);
  if (d->branch >= 0) d->pair = tsr_calloc(2 * n, sizeof(float));
  if (d->guided) d->out = tsr_calloc((size_t)Bm * NP, sizeof(float));
  if (sp > 1) {
    d->xl = tsr_calloc(n, sizeof(float));
    d->v = tsr_calloc(n, sizeof(float));
    d->all = tsr_calloc((size_t)sp * n, sizeof(float));
  }
  return d;
}

// This rank's guided velocity at time t for its tokens xl [B,N,P] -> v [B,N,P].
static void local_velocity(Denoiser *d, const float *xl, float t, float *v) {
  const size_t n = (size_t)d->B * d->N * d->P;
  const int both = d->guided && d->branch < 0, Bm = both ? 2 * d->B : d->B;
  memcpy(d->batch.x, xl, n * sizeof(float));
  if (both) memcpy(d->batch.x + n, xl, n * sizeof(float));
  for (int s = 0; s < Bm; s++) d->batch.t[s] = t;
  d->batch.B = Bm;
  model_forward(d->m, &d->batch);
  const float g = d->cfg;
  if (!d->guided) {
    model_read_output(d->m, v, Bm);
  } else {
    const float *out = d->out;
    model_read_output(d->m, d->out, Bm);
    if (!both) {  // the pair's outputs, conditional first
      comm_allgather(d->cfg_group, out, d->pair, n, COMM_F32);
      out = d->pair;
    }
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) v[i] = out[n + i] + g * (out[i] - out[n + i]);
  }
  // x-prediction: the (guided) output is the clean video; v = (x - x0)/t.
  // Guidance is linear, so guiding x0 and converting equals guiding v.
  if (d->m->cfg.predict_x) {
    const float inv = rf_x_to_v_scale(t);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) v[i] = (xl[i] - v[i]) * inv;
  }
}

void denoiser_velocity(void *ctx, const float *x, float t, float *v) {
  Denoiser *d = ctx;
  const int sp = d->m->layout.sp;
  if (sp == 1) {
    local_velocity(d, x, t, v);
    return;
  }
  const size_t slice = (size_t)d->N * d->P, n = (size_t)d->B * slice;
  for (int s = 0; s < d->B; s++)  // this rank's tokens of every clip
    memcpy(d->xl + (size_t)s * slice, x + ((size_t)s * d->Nf + d->n0) * d->P, slice * sizeof(float));
  local_velocity(d, d->xl, t, d->v);
  comm_allgather(d->m->layout.sp_group, d->v, d->all, n, COMM_F32);
  for (int j = 0; j < sp; j++)
    for (int s = 0; s < d->B; s++)
      memcpy(v + ((size_t)s * d->Nf + (size_t)j * d->N) * d->P, d->all + ((size_t)j * d->B + s) * slice,
             slice * sizeof(float));
}

void denoiser_close(Denoiser *d) {
  if (!d) return;
  tsr_free(d->pair);
  tsr_free(d->out);
  tsr_free(d->xl);
  tsr_free(d->v);
  tsr_free(d->all);
  tsr_free(d->batch.x);
  tsr_free(d->batch.t);
  tsr_free(d->batch.tokens);
  tsr_free(d->batch.ntokens);
  tsr_free(d->batch.cond);
  tsr_free(d->batch.text_states);
  tsr_free(d);
}
