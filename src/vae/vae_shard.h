// Decoding a long video over the ranks of a group (docs/vae.md "Long
// videos: chunks and shards"), as xDiT's DistVAE splits one decode over
// GPUs, but in time: rank r decodes a contiguous piece of the latent frames
// chunk by chunk (vae/vae.h's chunked path) and the pieces are gathered on
// rank 0. A piece needs the causal caches its first chunk would have had:
// each rank recomputes them from a halo of preceding latent frames (the
// decoder's receptive field, vae_decode_halo_start) instead of receiving
// them from the rank before, which would make the ranks run one after the
// other. Equal to one rank's chunked decode (the test: bit for bit).
#pragma once
#include "comm/comm.h"
#include "vae/vae.h"

// Latent frames [*a, *b) of rank r of p for a video of Tl latent frames:
// contiguous, in rank order, sizes differing by at most one.
void vae_shard_piece(int Tl, int r, int p, int *a, int *b);
// Collective over g. v laid out by vae_alloc_chunked(..., VAE_CHUNK_DECODE);
// latents: host [B, Tl, H', W', Z], the whole video, on every rank; clips:
// host [B, 1 + (Tl - 1) ct, H, W, C] on rank 0 (may be NULL elsewhere).
// Returns the latent frames this rank decoded, halo included (the cost of
// the halo: the rank's piece is vae_shard_piece's).
int vae_decode_sharded(Vae *v, CommGroup *g, const float *latents, int Tl, float *clips);
