// vae.h5: a checkpoint of the autoencoder, in the manner of the DiT's ckpt.h5
// (model/checkpoint.h, docs/vae.md "Checkpoints"): /params/<name> and
// /optim/m|v/<name> at full shape (state-dict names), each one chunk with a
// fletcher32 filter and a layout-independent `checksum` attribute
// (model/ckpt_sum.h); attributes format = "tessera-vae-ckpt", version, step,
// adam_step, seed, the data cursor, run_id and the config as YAML. Written
// to PATH.tmp, flushed, fsynced and renamed. Single process (a DP run's rank
// 0 writes; the VAE is not tensor-parallel). Every error is returned.
#pragma once
#include <stdint.h>

#include "core/error.h"
#include "vae/vae_train.h"

#define VAE_CKPT_FORMAT "tessera-vae-ckpt"
#define VAE_CKPT_VERSION 1

typedef struct {
  int64_t step;                  // training steps completed
  uint64_t seed;                 // the run's seed
  uint64_t cursor_epoch, cursor_position, cursor_batches;  // data loader cursor
  char run_id[40];
} VaeCkptState;

// opt may be NULL (no moments saved: an inference-only file).
int vae_ckpt_save(const char *path, const Vae *v, const VaeAdam *opt, const VaeCkptState *s, TsrErr *err);
// The config a checkpoint was trained with (to vae_build before vae_ckpt_load).
// A missing file, a foreign one (a DiT ckpt.h5), a corrupt one: -1, one line.
int vae_ckpt_read_config(const char *path, VaeConfig *cfg, TsrErr *err);
// Parameters into v (built from the same config), moments and the AdamW step
// into opt when it is not NULL, attributes into s (may be NULL). Every tensor
// is checked: present, float32 at its shape, its checksum, finite values.
int vae_ckpt_load(const char *path, Vae *v, VaeAdam *opt, VaeCkptState *s, TsrErr *err);
