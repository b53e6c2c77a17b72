#include "train/flow.h"

#include "model/rectified_flow.h"
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

void flow_batch_alloc(FlowBatch *fb, const ModelConfig *mc, int max_batch) {
  flow_batch_alloc_slice(fb, mc, max_batch, 0, mc->tokens);
}

void flow_batch_alloc_slice(FlowBatch *fb, const ModelConfig *mc, int max_batch, int n0, int nloc) {
  flow_batch_alloc_tokens(fb, mc, max_batch, (int64_t)max_batch * nloc, n0, nloc);
}

void flow_batch_alloc_tokens(FlowBatch *fb, const ModelConfig *mc, int max_batch, int64_t max_local, int n0,
                             int nloc) {
  TSR_ASSERT(n0 >= 0 && nloc >= 1 && n0 + nloc <= mc->tokens, "flow batch slice [%d, %d+%d) of %d tokens", n0, n0,
             nloc, mc->tokens);
  const size_t B = (size_t)max_batch, XP = (size_t)max_local * mc->patch_dim;
  memset(fb, 0, sizeof *fb);
  fb->n0 = n0, fb->nloc = nloc;
  fb->b.B = max_batch;
  fb->x0 = tsr_calloc(XP, sizeof(float));
  fb->b.x = tsr_calloc(XP, sizeof(float));
  fb->b.target = tsr_calloc(XP, sizeof(float));
  fb->b.t = tsr_calloc(B, sizeof(float));
  fb->b.tokens = tsr_calloc(B * (size_t)mc->text_length, sizeof(int32_t));
  fb->b.ntokens = tsr_calloc(B, sizeof(int32_t));
  fb->b.cond = tsr_calloc(B * (size_t)mc->grid_t, 1);
}

void flow_batch_free(FlowBatch *fb) {
  tsr_free(fb->x0);
  tsr_free(fb->b.x);
  tsr_free(fb->b.target);
  tsr_free(fb->b.t);
  tsr_free(fb->b.tokens);
  tsr_free(fb->b.ntokens);
  tsr_free(fb->b.cond);
  memset(fb, 0, sizeof *fb);
}

enum { COND_NONE, COND_FIRST, COND_PREFIX, COND_ENDS, COND_RANDOM };

// Conditioning mask over gt latent frames; frame 0 of a clip with gt == 1 is
// never conditioned (nothing would be left to learn). Returns the mode.
static int draw_cond(uint8_t *cond, int gt, const TrainConfig *tc, uint64_t seed, uint32_t sample) {
  memset(cond, 0, (size_t)gt);
  if (gt < 2) return COND_NONE;
  float p[5] = {tc->p_cond_none, tc->p_cond_first, tc->p_cond_prefix, tc->p_cond_ends, tc->p_cond_random};
  float total = p[0] + p[1] + p[2] + p[3] + p[4];
  float u = rng_uniform(seed, RNG_COND, sample, 0, 0) * total;
  int kind = 0;
  while (kind < 4 && u >= p[kind]) u -= p[kind++];
  switch (kind) {
    case 1: cond[0] = 1; break;                                   // image-to-video
    case 2: {                                                     // extension: first k frames
      int k = 1 + (int)(rng_uniform(seed, RNG_COND, sample, 1, 0) * (float)(gt - 1));
      for (int f = 0; f < k && f < gt - 1; f++) cond[f] = 1;
      break;
    }
    case 3: cond[0] = cond[gt - 1] = 1; if (gt == 2) cond[gt - 1] = 0; break;  // interpolation
    case 4:                                                       // random frames, one left free
      for (int f = 0; f < gt; f++) cond[f] = rng_uniform(seed, RNG_COND, sample, 2, (uint32_t)f) < 0.5f;
      cond[(int)(rng_uniform(seed, RNG_COND, sample, 3, 0) * (float)gt)] = 0;
      break;
    default: break;
  }
  return kind;
}

// The image modes (first: image-to-video; ends: interpolation between two
// images) condition on a still latent frame, as generate does with an image:
// its one video frame `keep` repeated over the pt frames of the patch (in place).
// The clip's own pt frames would show the motion that an image never shows
// (docs/model.md "Conditioning modes"; measured in docs/choices.md).
static void make_still(float *patch, int P, int pt, int keep) {
  const int slice = P / pt;
  for (int f = 0; f < pt; f++)
    if (f != keep) memcpy(patch + (size_t)f * slice, patch + (size_t)keep * slice, (size_t)slice * sizeof(float));
}

void flow_prepare(FlowBatch *fb, const ModelConfig *mc, const TrainConfig *tc, float p_drop, uint64_t seed,
                  uint64_t first_sample, uint64_t stride) {
  const int N = fb->nloc, n0 = fb->n0, P = mc->patch_dim, gt = mc->grid_t, frame_tokens = mc->grid_h * mc->grid_w;
  Batch *b = &fb->b;
  for (int s = 0; s < b->B; s++) {
    uint32_t gs = (uint32_t)(first_sample + (uint64_t)s * stride);
    float t = rf_logit_normal(tc->t_logit_mean, tc->t_logit_std, rng_normal(seed, RNG_TIME, gs, 0, 0));
    b->t[s] = t;
    uint8_t *cond = b->cond + (size_t)s * gt;
    int mode = draw_cond(cond, gt, tc, seed, gs);
    if (rng_uniform(seed, RNG_DROPOUT, gs, 0, 0) < p_drop) {  // null caption: BOS only
      memset(b->tokens + (size_t)s * mc->text_length, 0, (size_t)mc->text_length * sizeof(int32_t));
      b->tokens[(size_t)s * mc->text_length] = 1;
      b->ntokens[s] = 1;
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
      size_t base = ((size_t)s * N + n) * P;
      int frame = (n0 + n) / frame_tokens, clean = cond[frame];
      if (clean && mc->pt > 1 && (mode == COND_FIRST || mode == COND_ENDS))
        make_still(fb->x0 + base, P, mc->pt, frame == 0 ? 0 : mc->pt - 1);  // first image / last image
      for (int p = 0; p < P; p++) {
        float x0 = fb->x0[base + p];
        float eps = rng_normal(seed, RNG_NOISE, gs, (uint32_t)(n0 + n), (uint32_t)p);
        b->x[base + p] = clean ? x0 : rf_noised(x0, eps, t);
        b->target[base + p] = rf_target(x0, eps, mc->predict_x);  // docs/model.md "Prediction target"
      }
    }
  }
}

double flow_count_generated(const ModelConfig *mc, const TrainConfig *tc, uint64_t seed, uint64_t first_sample,
                            uint64_t stride, int count) {
  const int gt = mc->grid_t, frame_tokens = mc->grid_h * mc->grid_w;
  uint8_t cond[4096];  // model.video.frames <= 4096
  double n = 0.0;
  for (int j = 0; j < count; j++) {
    draw_cond(cond, gt, tc, seed, (uint32_t)(first_sample + (uint64_t)j * stride));
    for (int f = 0; f < gt; f++) n += cond[f] ? 0 : frame_tokens;
  }
  return n;
}
