// `tessera vae train`: the autoencoder's training loop with the trainer's
// conventions (docs/vae.md "Commands"): a run directory with vae.h5
// (vae/vae_ckpt.h, every ckpt_every steps and at the end), metrics.jsonl,
// loss.png, "step N | loss X" lines, a clean stop on SIGINT/SIGTERM/SIGUSR1
// (a checkpoint, then return), bit-exact resume. Single rank.
#pragma once
#include <stdint.h>

#include "core/error.h"
#include "kernels/backend.h"
#include "vae/vae_config.h"

typedef struct {
  char data_path[1024];  // data.path: corpus.h5, or "" / "synth" for shapes-world clips
  char out[1024];        // train.out: the run directory
  char resume[1024];     // train.resume: "" fresh, "auto" OUT/vae.h5 if present, or a checkpoint path
  int steps, batch, ckpt_every, log_every, overwrite;
  int frames, height, width;  // clip.*: 0 = the corpus's first bucket / the synth default
  float lr, weight_decay;
  uint64_t seed;
} VaeTrainOpts;

void vae_train_opts_default(VaeTrainOpts *o);
// One `key=value`; -1 with "KEY: expected ..., got 'V'" (or the valid keys) in err.
int vae_train_opts_set(VaeTrainOpts *o, const char *kv, TsrErr *err);
// Trains; 0 (finished or stopped by a signal, with its checkpoint), or -1 with err.
int vae_train_run(const VaeConfig *cfg, const VaeTrainOpts *o, const Backend *be, TsrErr *err);
