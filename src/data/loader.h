// Training data loader over corpus.h5: one shape bucket (the model's video
// window), disjoint shards per data-parallel rank whose union is the bucket,
// a deterministic shuffle per epoch from the seed, this sequence-parallel
// rank's token slice only (a hyperslab of the patch axis), caption choice,
// a background prefetch thread, and a cursor a checkpoint saves.
//
// Buckets (docs/choices.md "Native sizes"). By default the loader reads one
// bucket, T x H x W. With `buckets` set ("all", or "TxHxW[:weight],..."),
// T x H x W is the model's maximum and every chosen bucket within it is a
// stream of its own, ordered and sharded as below (its own permutation per
// epoch, its own epoch and position in the cursor). Each batch is one bucket:
// batch number k draws bucket b with probability weight_b / sum(weights),
// keyed by (seed, k), the same on every rank; it holds B_b = max(1,
// token_budget / N_b) clips. Default weights: clips_b / B_b (every bucket
// runs through its epoch in about the same number of batches).
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
  const char *buckets;   // NULL or "": bucket T x H x W alone; else see the top
  int64_t token_budget;  // tokens (over the sp group) per batch; 0: batch x the tokens of T x H x W
} LoaderOptions;

#define LOADER_MAX_BUCKETS 64

typedef struct {
  uint64_t epoch;     // current epoch of this rank's stream (multi-bucket: bucket 0's)
  uint64_t position;  // index into this rank's shard of that epoch
  uint64_t batches;   // batches delivered so far
  uint64_t more_epoch[LOADER_MAX_BUCKETS - 1], more_position[LOADER_MAX_BUCKETS - 1];  // buckets 1.. (multi-bucket)
} LoaderCursor;

// The shape of a bucket's batches.
typedef struct {
  int B;          // clips per batch
  int T, H, W, N; // clip shape, tokens per clip
  int nloc, n0;   // this sp rank's tokens
  int count;      // clips in the bucket
  double weight;  // its draw weight (not normalised)
  char name[32];
} LoaderShape;

typedef struct Loader Loader;

// Open PATH and check it against the options (bucket present, text length,
// patch size): NULL with one line in err naming the file and item.
Loader *loader_open(const char *path, const LoaderOptions *o, int pt, int ph, int pw, int channels, TsrErr *err);
// Next batch: x0 [B, N/sp, P] floats in [-1,1] (this sp rank's tokens),
// tokens [B, L], ntokens [B], clip_ids [B] (bucket clip index; may be NULL).
// 0, or -1 with the corpus error of that batch in err (read by the prefetch
// thread or here); the cursor stays at the failed batch, which fails again.
int loader_next(Loader *l, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids, TsrErr *err);
// The same, and which bucket it came from (its shape: loader_shape).
int loader_next_bucket(Loader *l, float *x0, int32_t *tokens, int32_t *ntokens, int64_t *clip_ids, int *bucket,
                       TsrErr *err);
int loader_nbuckets(const Loader *l);
LoaderShape loader_shape(const Loader *l, int bucket);
int loader_bucket_of(const Loader *l, uint64_t batch);  // bucket of batch number `batch` (cursor.batches)
int loader_max_batch(const Loader *l);                  // the most clips of a batch
int64_t loader_max_tokens(const Loader *l);             // the most B x N of a batch (over the sp group)
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
