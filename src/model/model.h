// The video diffusion transformer (docs/model.md): parameter table,
// activations, forward, backward. CPU backend; the layout (tp, sp) is carried
// from the start, and only tp = sp = 1 runs until the model-parallel issue.
#pragma once
#include <stdint.h>

#include "core/arena.h"
#include "core/config.h"
#include "core/params.h"

// One training or sampling batch, on the model's token grid.
typedef struct {
  int B;
  float *x;         // [B,N,P] noisy patches (conditioned tokens clean)
  float *t;         // [B]
  int32_t *tokens;  // [B,L]
  int32_t *ntokens; // [B], >= 1
  uint8_t *cond;    // [B,gt] 1 = conditioning latent frame
  float *target;    // [B,N,P] velocity target (training only; may be NULL)
  // Generated (non-conditioned) tokens of the whole global batch, over every
  // dp rank (the trainer allreduces it): the loss is sum(w*se)/(P*loss_tokens)
  // over this rank's samples, so summing the ranks' losses and gradients gives
  // the single-rank result. 0 = count this rank's own tokens (one rank).
  double loss_tokens;
} Batch;

typedef struct {
  int tp, sp;            // tensor- and sequence-parallel sizes
  int tp_rank, sp_rank;  // this rank's coordinates
} ModelLayout;

typedef struct ModelActs ModelActs;        // activation pointers (model_internal.h)
typedef struct ModelOffsets ModelOffsets;  // parameter offsets (model_internal.h)

typedef struct {
  ModelConfig cfg;
  ModelLayout layout;
  ParamTable params;
  ModelOffsets *off;
  int max_batch;
  Arena arena;       // activations, sized for max_batch at model_alloc
  ModelActs *acts;
  float *out;        // [B,N,P] last forward's prediction (in the arena)
  float loss;        // last forward's loss (when a target was given)
} Model;

// Declare the parameter table for this config and layout and allocate it.
void model_build(Model *m, const ModelConfig *cfg, ModelLayout layout);
// Size and allocate activations for batches up to max_batch (no allocation later).
void model_alloc_acts(Model *m, int max_batch);
void model_free(Model *m);
// Forward; when b->target is set, also the loss over non-conditioned tokens.
// Returns the loss (0 without target). Output in m->out.
float model_forward(Model *m, const Batch *b);
// Backward of the last forward's loss: accumulates into m->params.grad.
void model_backward(Model *m, const Batch *b);
// FLOPs of one forward for batch B (matmuls and attention; backward ~= 2x).
double model_forward_flops(const ModelConfig *c, int B);
