// Clips for the autoencoder (`tessera vae train|eval`), host [T,H,W,C] floats
// in [-1,1]: a corpus.h5 bucket (the patches the loader gives, put back into
// frames), or shapes-world clips (data/synth.h) keyed by (seed, index) when
// there is no corpus (path "" or "synth").
#pragma once
#include <stdint.h>

#include "core/error.h"
#include "data/loader.h"

typedef struct VaeClips VaeClips;

// *T, *H, *W: the clip size; for a corpus, <= 0 takes its first bucket
// (set on return), otherwise that bucket must exist. batch: clips per
// vae_clips_next (0: only vae_clips_read is used). dp_rank of dp_size: this
// rank's share of each global batch of dp_size * batch clips (1 rank: 0, 1).
VaeClips *vae_clips_open(const char *path, int *T, int *H, int *W, int batch, int dp_rank, int dp_size, uint64_t seed,
                         TsrErr *err);
int vae_clips_channels(const VaeClips *c);
int vae_clips_count(const VaeClips *c);  // clips of the bucket; -1 for synthetic clips (no end)
// The next batch (training): this rank's part of the loader's shuffled stream
// over the bucket, or synthetic clips (cursor.batches * dp_size + dp_rank) *
// batch + b (so the global batch is the same clips for any dp_size with the
// same dp_size * batch). clips [batch, T, H, W, C].
int vae_clips_next(VaeClips *c, float *clips, TsrErr *err);
// Clip i in stored order (eval): clip [T, H, W, C].
int vae_clips_read(VaeClips *c, int i, float *clip, TsrErr *err);
// The cursor of the whole stream (a corpus position counts the clips of every
// rank), so a checkpoint resumes on any dp_size; seek rounds a position that
// does not split over the ranks down to one that does.
LoaderCursor vae_clips_cursor(const VaeClips *c);
void vae_clips_seek(VaeClips *c, LoaderCursor at);
void vae_clips_close(VaeClips *c);
