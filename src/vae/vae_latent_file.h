// L.h5: the latent of one video (`tessera vae encode`, read by `vae decode`):
//   attrs /: format = "tessera-vae-latent", version = 1, frames T, height H,
//            width W (the pixel clip it encodes), fps, vae_sha256 (the
//            checkpoint's SHA-256), vae_config (YAML)
//   /latent  float32 [T', H', W', Z] (fletcher32), the posterior mean
// Written to PATH.tmp, fsynced, renamed.
#pragma once
#include "core/error.h"
#include "vae/vae_config.h"

#define VAE_LATENT_FORMAT "tessera-vae-latent"

typedef struct {
  int T, H, W;        // pixel clip
  int t, h, w, z;     // latent grid
  float fps;
  char vae_sha256[65];
  float *latent;      // [t, h, w, z] (malloc'ed by the reader; free())
} VaeLatentFile;

int vae_latent_write(const char *path, const VaeLatentFile *l, const VaeConfig *cfg, TsrErr *err);
// Reads and checks: format, shapes against cfg (channels, compression of
// T x H x W), every value finite.
int vae_latent_read(const char *path, const VaeConfig *cfg, VaeLatentFile *l, TsrErr *err);
