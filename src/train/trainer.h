// The training loop (single rank for now): data -> flow batch -> forward ->
// backward -> clip -> AdamW, with progress lines on rank 0.
#pragma once
#include "core/config.h"

typedef struct {
  int overwrite;  // a fresh run may delete another run's checkpoints and metrics in train.out (--overwrite)
} TrainOptions;

// Runs cfg->train.steps steps; returns the last loss.
float train_run(const Config *cfg, const TrainOptions *opt);
