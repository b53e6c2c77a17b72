// The autoencoder's configuration (configs/vae/*.yaml, docs/vae.md):
//   vae:
//     name: demo
//     in_channels: 3
//     base_channels: 32
//     channel_mult: [1, 2, 4]   # one level each; a 2x spatial down-sampling between levels
//     temporal_down: [1, 1]     # per down-sampling (levels - 1 entries): 1 also halves time
//     res_blocks: 1             # residual blocks per level (encoder and decoder)
//     latent_channels: 4
//     groups: 8                 # GroupNorm groups (every level's channels divisible by it)
//     kl_weight: 1.0e-6         # beta of the loss recon + beta KL
//     loss: l2                  # reconstruction loss (l2: mean squared error)
// Compression: spatial 2^(levels-1), temporal 2^(sum temporal_down); a clip
// of T frames (T = 1 + k ct) has 1 + (T-1)/ct latent frames.
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "core/error.h"

#define VAE_MAX_LEVELS 6

typedef struct {
  char name[64];
  int in_channels, base_channels;
  int levels;                       // entries of channel_mult
  int channel_mult[VAE_MAX_LEVELS];
  int temporal_down[VAE_MAX_LEVELS];  // n_temporal_down (= levels - 1) entries
  int n_temporal_down;
  int res_blocks, latent_channels, groups;
  float kl_weight;
  char loss[8];  // "l2"
  // derived (vae_config_finalize)
  int ct, cs;  // temporal and spatial compression
} VaeConfig;

// Reads `path` (a file whose top-level `vae:` mapping holds the keys above),
// checks every key against the schema and the constraints between them.
// Returns 0, or -1 with "FILE:LINE:COL: vae.KEY: expected ..., got ..." (or
// "FILE: vae.KEY: expected ..., missing") in e.
int vae_config_load(VaeConfig *c, const char *path, TsrErr *e);
// The same from text[0..len) (a checkpoint's stored config); `path` names it in messages.
int vae_config_load_text(VaeConfig *c, const char *text, size_t len, const char *path, TsrErr *e);
// The config as YAML that vae_config_load_text reads back to the same values.
void vae_config_write(const VaeConfig *c, FILE *out);
// Derives ct, cs and checks the constraints of a hand-built config (tests);
// `what` names it in the message.
int vae_config_finalize(VaeConfig *c, const char *what, TsrErr *e);
// Checks that a clip of T x H x W fits the compression: (T-1) % ct == 0,
// H % cs == 0, W % cs == 0. `what` names the clip in the message.
int vae_check_clip(const VaeConfig *c, int T, int H, int W, const char *what, TsrErr *e);
// Latent size of a T x H x W clip.
static inline int vae_latent_t(const VaeConfig *c, int T) { return 1 + (T - 1) / c->ct; }
