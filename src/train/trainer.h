// The training loop (single rank for now): data -> flow batch -> forward ->
// backward -> clip -> AdamW, with progress lines on rank 0.
#pragma once
#include "core/config.h"
#include "core/error.h"

typedef struct {
  int overwrite;  // a fresh run may delete another run's checkpoints and metrics in train.out (--overwrite)
} TrainOptions;

// Trains; 0 with the last step's loss in *final_loss (may be NULL), or -1 on
// every rank with err set (on the ranks where it went wrong: err->code != 0;
// app_check prints the first one's message).
int train_run(const Config *cfg, const TrainOptions *opt, float *final_loss, TsrErr *err);
