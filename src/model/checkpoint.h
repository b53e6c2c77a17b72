// ckpt.h5 (model layer: read by train/ and infer/ alike) (DESIGN.md "Formats"): parameters, AdamW moments and EMA weights at
// full logical shape under /params, /optim/m, /optim/v, /ema, each with a
// layout-independent `checksum` attribute (ckpt_sum.h), plus attributes:
// format, version, step, adam_step, bad_steps, seed, run_id, the config as
// YAML, the data cursor. Written to PATH.tmp, flushed, synced, renamed: a
// crash never leaves a half file under PATH (docs/checkpoint.md).
//
// Layout-independent: a tensor-parallel shard (ParamInfo split fields) is a
// hyperslab of the logical dataset (strided for fused tensors such as qkv).
// One model replica writes: its tp ranks together through parallel HDF5
// (MPI-IO, each rank its hyperslabs; unfiltered there, since parallel HDF5 1.10
// filters only in slow collective writes), or one rank alone when tp = 1
// (fletcher32 checksummed). Other replicas hold the same values and only wait. Every rank reads
// back the hyperslabs of its own layout, so a file saved under one (dp, sp, tp)
// loads under any other (docs/parallel_train.md has the measurements behind
// this choice).
#pragma once
#include <stdint.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/params.h"

#define CKPT_FORMAT "tessera-ckpt"
// Version 2 adds the run id and a per-tensor `checksum` attribute (ckpt_sum.h);
// version 3 stores the vocabulary as bytes + offsets instead of
// variable-length strings. Versions 1 and 2 still load their weights and
// config (version 1 checked for finite values only), but not their vocabulary.
#define CKPT_VERSION 3
#define CKPT_RUN_ID_MAX 40
// Bounds of the reader: the stored config, the vocabulary and one word of it.
#define CKPT_CONFIG_MAX (1 << 20)
#define CKPT_VOCAB_MAX (1 << 24)
#define CKPT_WORD_MAX (1 << 20)
#define CKPT_MAX_BUCKETS 64  // == LOADER_MAX_BUCKETS

typedef struct {
  int64_t step;          // training steps completed
  int64_t adam_step;     // AdamW updates done (bias correction)
  int64_t bad_steps;     // consecutive non-finite steps at save time
  uint64_t seed;
  uint64_t cursor_epoch, cursor_position, cursor_batches;  // data loader cursor (global positions)
  // Multi-bucket training (data.buckets): the cursor of buckets 1.. (bucket 0's
  // above), as attribute cursor_buckets "epoch:position,..."; and the buckets
  // trained on, attribute buckets "TxHxW,..." (both absent otherwise).
  int cursor_more;
  uint64_t cursor_more_epoch[CKPT_MAX_BUCKETS - 1], cursor_more_position[CKPT_MAX_BUCKETS - 1];
  char buckets[CKPT_MAX_BUCKETS * 20];
  char run_id[CKPT_RUN_ID_MAX];  // the run the checkpoint belongs to ("" in version 1 files)
  char text_sha256[72];  // model.text.encoder minilm: SHA-256 of the encoder's weights ("" otherwise)
  char latent_space[4096];  // model.vae: its SHA-256, compression, latent statistics (latent/latent_space.h); "" pixels
} CkptState;

// Buffers over the parameter table (m, v, ema may be NULL: not saved / not loaded).
typedef struct {
  const ParamTable *params;
  float *m, *v, *ema;
  char *const *vocab;  // tokenizer vocabulary saved as /tokenizer/vocab (may be NULL)
  int vocab_size;
} CkptBuffers;

// Single process: the whole file from one rank's buffers.
void ckpt_save(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg);
// Load into the buffers. Every parameter of the table must be present with
// its logical shape (else a one-line user error naming the file and the parameter);
// `which` = "params" or "ema" chooses the weights loaded into params->data.
// m/v/ema are filled when non-NULL and present (an error if requested and absent).
// A sharded table (ParamInfo split fields) reads its own hyperslab.
int ckpt_load(const char *path, CkptBuffers *b, CkptState *s, const char *which, TsrErr *err);

// ---- Checkpoints of a multi-rank job, one group of tensors at a time (the
// trainer stages ZeRO-sharded state through one scratch buffer).
typedef struct {
  CommGroup *world;    // every rank of the job (NULL: this process alone)
  CommGroup *writers;  // on the ranks that write: the group of them (size 1: this rank alone,
                       // serial HDF5); NULL on the ranks that do not write
} CkptComm;

typedef struct CkptFile CkptFile;

// Collective over the world: the writers create PATH.tmp with the attributes
// (s and cfg must be equal on every writer); the others get a handle that does nothing.
CkptFile *ckpt_create(const char *path, const CkptState *s, const Config *cfg, const CkptComm *c);
// /group/<name> for every parameter of t, from buf (t's offsets); collective over the writers.
void ckpt_write_group(CkptFile *f, const char *group, const ParamTable *t, const float *buf);
// Collective over the world: close, the first writer adds the vocabulary,
// syncs and renames PATH.tmp to PATH, and no rank returns before that is done.
// Returns the seconds this rank spent computing checksums.
// A write that fails (full disk, I/O error) removes PATH.tmp and is a one-line
// user error naming PATH and the system's reason (exit 2).
double ckpt_commit(CkptFile *f, char *const *vocab, int vocab_size);

// Open PATH (every rank its own read-only handle) and read its attributes into
// s. A missing, truncated or foreign file is a user error (exit 2; one message
// when every rank of c->world sees it).
CkptFile *ckpt_open(const char *path, const CkptComm *c, CkptState *s, TsrErr *err);  // NULL and err on failure
int ckpt_has_group(CkptFile *f, const char *group);
// Check that every parameter of t is in /group at its logical shape (a user
// error naming the parameter otherwise), then read each whole tensor, check its
// checksum and that every value is finite (a user error naming the tensor
// otherwise), and keep this rank's part of it in buf.
int ckpt_read_group(CkptFile *f, const char *group, const ParamTable *t, float *buf, TsrErr *err);
void ckpt_close(CkptFile *f);

// The config the checkpoint was trained with (its `config` attribute).
int ckpt_read_config(const char *path, Config *cfg, TsrErr *err);
// The tokenizer vocabulary (/tokenizer/vocab): *words malloc'ed array of
// malloc'ed strings, *n entries; *n = 0 when the checkpoint has none.
int ckpt_read_vocab(const char *path, char ***words, int *n, TsrErr *err);
// The latest ckpt_<step>.h5 in dir (by step), or "" if none. out has size n.
void ckpt_latest(const char *dir, char *out, int n);
// Remove all but the newest `keep` ckpt_<step>.h5 of run `run_id` in dir
// (keep <= 0: keep all); checkpoints of other runs are never touched.
void ckpt_prune(const char *dir, int keep, const char *run_id);
// The run id of the checkpoint at path into out (size n; "" for a version 1
// file): 0, or -1 when path is not a readable checkpoint.
int ckpt_run_id(const char *path, char *out, size_t n);
