// What every inference command starts with: the checkpoint's config, the
// model with its EMA (or raw) weights, and the tokenizer stored in the
// checkpoint. Shared by generate and eval.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "data/tokenizer.h"
#include "model/checkpoint.h"
#include "model/model.h"

typedef struct {
  const char *ckpt;
  Config cfg;          // as trained
  Model model;         // activations for 2 samples (conditional + unconditional) unless told
  CkptState state;     // step etc. of the checkpoint
  Tokenizer tok;
  int have_tokenizer;  // 0 for a model trained on random data: prompts are ignored
} InferSession;

void infer_open(InferSession *s, const char *ckpt, int use_ema);
// The same for one rank of a distributed generation: the model sharded by
// `layout` (each rank reads its own slice of the weights), with activations
// for max_batch samples (2: both guidance branches; 1 under CFG-parallel).
void infer_open_layout(InferSession *s, const char *ckpt, int use_ema, ModelLayout layout, int max_batch);
// Encode a prompt into tokens[L] (BOS first); warns (naming `what`) when it
// is longer than the text window. Returns ntokens.
int infer_encode(const InferSession *s, const char *prompt, int32_t *tokens, const char *what);
void infer_close(InferSession *s);
