// Which space a DiT works in (docs/vae.md "Latent corpora and the latent
// DiT"): pixels, or the latent space of the VAE checkpoint its model config
// names (`model.vae: path/to/vae.h5`, as Open-Sora's config names its VAE's
// weights). A latent model's video is the latent grid: video.channels = the
// VAE's latent channels, frames/height/width = the latent T', H', W'.
#pragma once
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

// The model config (cfg_path names it) against the VAE and the corpus
// `data` ("" : none): a latent corpus given to a pixel model or the reverse,
// a corpus made by another VAE (SHA-256), latent channels or compression
// that differ. 0, or -1 with one line naming the file, the item and what was
// expected. Holds h5_lock around its HDF5 reads.
// spec (spec_size bytes; may be NULL) gets the latent space of a latent corpus
// in the text form below ("" otherwise): the trainer keeps it in its
// checkpoints, so generation de-normalises with the statistics it trained on.
int latent_space_check(const char *cfg_path, const ModelConfig *m, const char *data, char *spec, size_t spec_size,
                       TsrErr *err);

// A latent space as a checkpoint records it (attribute `latent_space`):
//   vae_sha256 HEX\ncompression CT CS\nchannels Z\nmean M0 M1 ...\nstd S0 S1 ...\n
enum { LATENT_MAX_CHANNELS = 64 };
typedef struct {
  char vae_sha256[65];
  int ct, cs, channels;
  float mean[LATENT_MAX_CHANNELS], std[LATENT_MAX_CHANNELS];
} LatentSpace;
// 0, or -1 when it does not fit in n bytes (or too many channels).
int latent_space_format(const LatentSpace *ls, char *out, size_t n);
// 0, or -1 with one line naming `what` (the checkpoint) and what was expected.
int latent_space_parse(const char *text, const char *what, LatentSpace *ls, TsrErr *err);
