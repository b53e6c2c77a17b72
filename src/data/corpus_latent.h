// The latent side of corpus.h5 (corpus.h; docs/vae.md "Latent corpora"):
// float16 patches and the root attributes vae_sha256, vae_compression,
// latent_mean and latent_std. Used by corpus_read.c and corpus_write.c only.
#pragma once
#include <hdf5.h>
#include <stdint.h>

#include "core/error.h"
#include "data/corpus.h"

// IEEE binary16, little-endian, as numpy's float16 (h5py reads it as such).
// The caller closes it (H5Tclose).
hid_t corpus_f16_type(void);
// Reads the latent attributes of c->file when it has them (c->latent = 1) and
// checks them (a 64-hex SHA-256, compression in [1, 64], channels statistics
// finite, std > 0). 0, or -1 with one line.
int corpus_latent_open(Corpus *c, TsrErr *err);
// Writes them on the file's root; returns what the HDF5 calls returned (< 0: failed).
herr_t corpus_latent_write(hid_t file, const char *sha256, int ct, int cs, const float *mean, const float *std, int Z);
// float16 patch values -> normalised floats, (z - mean[c]) / std[c] with
// c = k % Z for value k of a row of P (P a multiple of Z). Returns the index
// of the first value that is not finite, or -1.
int64_t corpus_latent_decode(const Corpus *c, const uint16_t *in, size_t m, float *out);
