// Which space a DiT works in (docs/vae.md "Latent corpora and the latent
// DiT"): pixels, or the latent space of the VAE checkpoint its model config
// names (`model.vae: path/to/vae.h5`, as Open-Sora's config names its VAE's
// weights). A latent model's video is the latent grid: video.channels = the
// VAE's latent channels, frames/height/width = the latent T', H', W'.
#pragma once
#include "core/config.h"
#include "core/error.h"

// The model config (cfg_path names it) against the VAE and the corpus
// `data` ("" : none): a latent corpus given to a pixel model or the reverse,
// a corpus made by another VAE (SHA-256), latent channels or compression
// that differ. 0, or -1 with one line naming the file, the item and what was
// expected. Holds h5_lock around its HDF5 reads.
int latent_space_check(const char *cfg_path, const ModelConfig *m, const char *data, TsrErr *err);
