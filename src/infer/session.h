// What every inference command starts with: the checkpoint's config, the
// model with its EMA (or raw) weights, and the tokenizer stored in the
// checkpoint. Shared by generate and eval.
#pragma once
#include <stdint.h>

#include "core/config.h"
#include "core/error.h"
#include "data/tokenizer.h"
#include "model/checkpoint.h"
#include "model/model.h"
#include "infer/safety_gate.h"
#include "text/text_cond.h"

// Where inference runs (--device, --precision of generate / render / eval).
typedef struct {
  const char *device;     // "cpu" (default) or "cuda": the GPU of this rank's place on its node
  const char *precision;  // "fp32" (default), "bf16" or "auto" (kernels/backend.h)
} InferDevice;

typedef struct {
  const char *ckpt;
  const Backend *be;   // the model's backend (infer_close closes it)
  Config cfg;          // as trained
  Model model;         // activations for 2 samples (conditional + unconditional) unless told
  CkptState state;     // step etc. of the checkpoint
  Tokenizer tok;
  int have_tokenizer;  // 0 for a model trained on random data: prompts are ignored
  TextCond *text;      // model.text.encoder minilm: the pretrained encoder (its WordPiece tokenizes prompts)
  SafetyGate *gate;    // every prompt is checked before sampling (infer_gate_open); NULL: none
  struct LatentCodec *codec;  // model.vae: the VAE and latent statistics (infer/latent_codec.h); NULL: pixels
  ModelConfig pixels;  // the frames it makes: cfg.model, or the video a latent model's window decodes to
} InferSession;

// Returns 0, or -1 with err: a file that is not a checkpoint, a device that
// cannot be opened, the pretrained encoder missing or other weights. Every
// rank of a distributed generation calls it (the load is collective); all
// return -1 together, err->code 0 on the ranks that were fine.
int infer_open(InferSession *s, const char *ckpt, int use_ema, InferDevice dev, TsrErr *err);
// The same for one rank of a distributed generation: the model sharded by
// `layout` (each rank reads its own slice of the weights), with activations
// for max_batch samples (2: both guidance branches; 1 under CFG-parallel).
int infer_open_layout(InferSession *s, const char *ckpt, int use_ema, ModelLayout layout, int max_batch,
                      InferDevice dev, TsrErr *err);
// Encode a prompt into tokens[L] (BOS first); warns (naming `what`) when it
// is longer than the text window. Returns ntokens, or -1 with err.
int infer_encode(const InferSession *s, const char *prompt, int32_t *tokens, const char *what, TsrErr *err);
// Opens the session's safety gate (infer/safety_gate.h): policy NULL for the
// shipped one. 0 or -1 with err (a policy file with errors).
int infer_gate_open(InferSession *s, const char *policy, TsrErr *err);
// Generate at T x H x W (within the model's maximum; docs/choices.md "Native
// sizes"): s->cfg.model and s->model.cfg take that window. 0, or -1 with one
// line naming the shape and why. *trained (may be NULL): 1 if the checkpoint
// trained on that shape (its recorded buckets, or the model's window).
int infer_set_shape(InferSession *s, int T, int H, int W, int *trained, TsrErr *err);
// The window of a command's --size HxW (0: the maximum's) and --frames T (0, or
// more than the maximum's frames: the maximum's; long videos go window by
// window): infer_set_shape, and a warning when the checkpoint never trained
// on it. In the frames the session makes (a latent model: decoded pixels,
// converted to its latent grid). The same on every rank. Errors name `cmd`.
int infer_shape_flags(InferSession *s, int H, int W, int frames, const char *cmd, TsrErr *err);
void infer_close(InferSession *s);
