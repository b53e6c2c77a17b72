// `tessera vae train`: the autoencoder's training loop with the trainer's
// conventions (docs/vae.md "Commands"): a run directory with vae.h5
// (vae/vae_ckpt.h, every ckpt_every steps and at the end), metrics.jsonl,
// loss.png, "step N | loss X" lines, a clean stop on SIGINT/SIGTERM/SIGUSR1
// (a checkpoint, then return), bit-exact resume. Data parallel over every
// rank of the job (mpirun -np R): train.batch is the global batch, AdamW runs
// with ZeRO-1 (train/zero.h), rank 0 writes the run directory.
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
  int warmup;  // train.warmup: linear warm-up steps, then cosine decay from lr to min_lr at steps
  int frames, height, width;  // clip.*: 0 = the corpus's first bucket / the synth default
  float lr, weight_decay;
  float min_lr;  // train.min_lr: < 0 = lr / 10
  uint64_t seed;
} VaeTrainOpts;

void vae_train_opts_default(VaeTrainOpts *o);
// One `key=value`; -1 with "KEY: expected ..., got 'V'" (or the valid keys) in err.
int vae_train_opts_set(VaeTrainOpts *o, const char *kv, TsrErr *err);
// Trains; 0 (finished or stopped by a signal, with its checkpoint), or -1 with err.
int vae_train_run(const VaeConfig *cfg, const VaeTrainOpts *o, const Backend *be, TsrErr *err);
