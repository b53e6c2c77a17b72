// Training data loader over corpus.h5: one shape bucket (the model's video
// window), disjoint shards per data-parallel rank whose union is the bucket,
// a deterministic shuffle per epoch from the seed, this sequence-parallel
// rank's token slice only (a hyperslab of the patch axis), caption choice,
// a background prefetch thread, and a cursor a checkpoint saves.
//
// Order: epoch e shuffles the bucket's clip indices with a permutation keyed
// by (seed, e); dp rank r takes positions r, r+dp, r+2dp, ... of it. Its
// stream runs on across epochs (no clip dropped), B clips per batch.
// Caption choice for a drawn clip is keyed by (seed, epoch, position):
// recaption with p_recaption, else the short caption; then the null caption
// (BOS only) with p_drop.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

// A caption tokenizer other than the corpus's own (e.g. the WordPiece of a
// pretrained text encoder): text -> ids[L], *n used, *truncated when cut.
// 0, or -1 with a message in err (err_size bytes).
typedef int (*LoaderTokenize)(void *ctx, const char *text, const char *item, int32_t *ids, int32_t *n,
                              int *truncated, char *err, size_t err_size);

typedef struct {
  int dp_rank, dp_size, sp_rank, sp_size;
  int batch;          // clips per batch on this rank
  uint64_t seed;
  float p_recaption, p_drop;
  int text_length;    // the model's L (<= the corpus's; longer captions truncated)
  int T, H, W;        // the bucket to read
  int prefetch;       // batches read ahead by a background thread (0: read in loader_next)
  // NULL: the corpus's tokens. Otherwise every caption and recaption of the
  // bucket is re-tokenised with it at open (held in memory, [n, 2, L]), and
  // the null caption is its tokens of "".
  LoaderTokenize tokenize;
  void *tokenize_ctx;
} LoaderOptions;

typedef struct {
  uint64_t epoch;     // current epoch of this rank's stream
  uint64_t position;  // index into this rank's shard of that epoch
  uint64_t batches;   // batches delivered so far
} LoaderCursor;

typedef struct Loader Loader;

// Open PATH and check it against the options (bucket present, text length,
// patch size): NULL with one line in err naming the file and item.
Loader *loader_open(const char *path, const LoaderOptions *o, int pt, int ph, int pw, int channels, TsrErr *err);
// Next batch: x0 [B, N/sp, P] floats in [-1,1] (this sp rank's tokens),
// tokens [B, L], ntokens [B], clip_ids [B] (bucket clip index; may be NULL).
// 0, or -1 with the corpus error of that batch in err (read by the prefetch
// thread or here); the cursor stays at the failed batch, which fails again.
int loader_next(Loader *l, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids, TsrErr *err);
LoaderCursor loader_cursor(const Loader *l);  // position of the next batch
void loader_seek(Loader *l, LoaderCursor c);  // the next batch is the one at c
int loader_bucket_size(const Loader *l);      // clips in the bucket
void loader_close(Loader *l);
// 1 if the prefetch thread flushes denormals (core/fpenv.h), 0 if not, -1
// without a prefetch thread. Valid once loader_next has returned a batch.
int loader_worker_flushes_denormals(const Loader *l);

// Threads: with prefetch > 0 a background thread reads the corpus. HDF5 here
// is not thread-safe; every HDF5 call of the loader holds h5_lock()
// (core/h5io.h), and other code that calls HDF5 while a loader is open must
// hold it too (ckpt_save/ckpt_load do).
