#include "train/optimizer.h"

#include <math.h>

#include "core/error.h"
#include "kernels/ops.h"

void adamw_init(AdamW *o, const ParamTable *t) {
  o->m = tsr_calloc(t->total, sizeof(float));
  o->v = tsr_calloc(t->total, sizeof(float));
  o->step = 0;
}

void adamw_free(AdamW *o) {
  tsr_free(o->m);
  tsr_free(o->v);
  *o = (AdamW){0};
}

float lr_cosine(float lr, float min_lr, int warmup, int steps, int step) {
  if (warmup > 0 && step < warmup) return lr * (float)(step + 1) / (float)warmup;
  int decay_steps = steps - warmup;
  if (decay_steps <= 0) return lr;
  double progress = (double)(step - warmup) / decay_steps;
  if (progress > 1.0) progress = 1.0;
  return min_lr + 0.5f * (lr - min_lr) * (float)(1.0 + cos(M_PI * progress));
}

float lr_at(const TrainConfig *tc, int step) { return lr_cosine(tc->lr, tc->min_lr, tc->warmup, tc->steps, step); }

double grad_norm(const ParamTable *t) {
  double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (size_t i = 0; i < t->total; i++) sum += (double)t->grad[i] * t->grad[i];
  return sqrt(sum);
}

void adamw_step(AdamW *o, ParamTable *t, const TrainConfig *tc, float lr, double norm) {
  o->step++;
  if (tc->grad_clip > 0 && norm > tc->grad_clip) {
    float s = (float)(tc->grad_clip / norm);
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < t->total; i++) t->grad[i] *= s;
  }
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    if (p->frozen) continue;
    float wd = p->ndim >= 2 ? tc->weight_decay : 0.0f;
    adamw_update(t->data + p->offset, t->grad + p->offset, o->m + p->offset, o->v + p->offset, (int64_t)p->numel,
                 lr, tc->beta1, tc->beta2, tc->eps, wd, o->step);
  }
}
