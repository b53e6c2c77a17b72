// ckpt.h5 (model layer: read by train/ and infer/ alike) (DESIGN.md "Formats"): parameters, AdamW moments and EMA weights at
// full logical shape under /params, /optim/m, /optim/v, /ema (fletcher32
// checksummed), plus attributes: format, version, step, adam_step,
// bad_steps, seed, the config as YAML, the data cursor. Written to
// PATH.tmp, flushed, renamed: a crash never leaves a half file under PATH.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "core/params.h"

#define CKPT_FORMAT "tessera-ckpt"
#define CKPT_VERSION 1

typedef struct {
  int64_t step;          // training steps completed
  int64_t adam_step;     // AdamW updates done (bias correction)
  int64_t bad_steps;     // consecutive non-finite steps at save time
  uint64_t seed;
  uint64_t cursor_epoch, cursor_position, cursor_batches;  // data loader cursor
} CkptState;

// Buffers over the parameter table (m, v, ema may be NULL: not saved / not loaded).
typedef struct {
  const ParamTable *params;
  float *m, *v, *ema;
  char *const *vocab;  // tokenizer vocabulary saved as /tokenizer/vocab (may be NULL)
  int vocab_size;
} CkptBuffers;

void ckpt_save(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg);
// Load into the buffers. Every parameter of the table must be present with
// its shape (else a one-line user error naming the file and the parameter);
// `which` = "params" or "ema" chooses the weights loaded into params->data.
// m/v/ema are filled when non-NULL and present (an error if requested and absent).
void ckpt_load(const char *path, CkptBuffers *b, CkptState *s, const char *which);
// The config the checkpoint was trained with (its `config` attribute).
void ckpt_read_config(const char *path, Config *cfg);
// The tokenizer vocabulary (/tokenizer/vocab): *words malloc'ed array of
// malloc'ed strings, *n entries; *n = 0 when the checkpoint has none.
void ckpt_read_vocab(const char *path, char ***words, int *n);
// The latest ckpt_<step>.h5 in dir (by step), or "" if none. out has size n.
void ckpt_latest(const char *dir, char *out, int n);
// Remove all but the newest `keep` ckpt_<step>.h5 in dir (keep <= 0: keep all).
void ckpt_prune(const char *dir, int keep);
