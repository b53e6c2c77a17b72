// AdamW over the whole parameter table on the host (the single-rank reference
// of train/zero.c and bench's peer step), learning-rate schedule, gradient clipping.
#pragma once
#include "core/config.h"
#include "core/params.h"

typedef struct {
  float *m, *v;  // moments, one float per parameter (same offsets as the table)
  int step;      // updates done so far
} AdamW;

void adamw_init(AdamW *o, const ParamTable *t);
void adamw_free(AdamW *o);
// Linear warm-up to lr over `warmup` steps, then cosine decay to min_lr at
// `steps` (min_lr after it); `step` counts the updates done before this one.
float lr_cosine(float lr, float min_lr, int warmup, int steps, int step);
// lr_cosine with the schedule of a TrainConfig.
float lr_at(const TrainConfig *tc, int step);
// Global L2 norm of the gradient.
double grad_norm(const ParamTable *t);
// One update with learning rate lr; weight decay only on parameters of 2+ dims.
// Gradients are first scaled by clip/norm when norm > clip > 0.
void adamw_step(AdamW *o, ParamTable *t, const TrainConfig *tc, float lr, double norm);
