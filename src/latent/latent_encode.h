// `tessera data encode` (docs/vae.md "Latent corpora"): a pixel corpus.h5 ->
// a latent corpus.h5 through a VAE checkpoint (vae.h5). Every clip of every
// bucket is encoded to the VAE's posterior mean [T',H',W',Z] and stored as
// float16 patches of the latent patch size; captions, recaptions, the
// tokenizer's vocabulary (so the token ids), meta/source, meta/fps and every
// other meta/ column are carried over; the root gets vae_sha256,
// vae_compression and the per-channel latent_mean / latent_std (over every
// latent value of the corpus, as stored in float16, population std).
//
// Sharded over the ranks of `world`: blocks of size x per_rank clips of a
// bucket, rank r encoding the clips [r*per_rank, (r+1)*per_rank) of a block;
// the block's latents are all-gathered and rank 0 writes them in clip order
// through the CorpusWriter (OUT.tmp, renamed at the end), so the file does
// not depend on the number of ranks. Collective: every rank calls it and
// every rank returns the same status (a failure on one rank is agreed on;
// err holds the message on the failing rank).
#pragma once
#include <stdint.h>

#include "comm/comm.h"
#include "core/error.h"

typedef struct {
  const char *vae;          // vae.h5
  const char *in, *out;     // pixel corpus, latent corpus to write
  int pt, ph, pw;           // latent patch (DiT patch over the latent grid); 0: 1x2x2
  int per_rank;             // clips a rank encodes per exchange (0: 4)
} LatentEncodeOptions;

typedef struct {
  int64_t clips;
  int buckets, Z;
} LatentEncodeReport;

int latent_encode_corpus(const LatentEncodeOptions *o, CommGroup *world, LatentEncodeReport *rep, TsrErr *err);
