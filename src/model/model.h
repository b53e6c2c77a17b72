// The video diffusion transformer (docs/model.md): parameter table,
// activations, forward, backward, computed through a backend
// (kernels/backend.h): parameters, gradients and activations live in the
// backend's memory; the batch goes in and the prediction comes out through
// upload / download. Under a layout with tp > 1
// (Megatron tensor parallel) or sp > 1 (Ulysses sequence parallel) each rank
// holds its shard and the forward/backward run the collectives of
// docs/model_parallel.md.
#pragma once
#include <stdint.h>

#include "comm/comm.h"
#include "core/arena.h"
#include "core/config.h"
#include "core/error.h"
#include "core/params.h"
#include "kernels/backend.h"

// One training or sampling batch, on the model's token grid.
typedef struct {
  int B;
  float *x;         // [B,N,P] noisy patches (conditioned tokens clean)
  float *t;         // [B]
  int32_t *tokens;  // [B,L]
  int32_t *ntokens; // [B], >= 1
  uint8_t *cond;    // [B,gt] 1 = conditioning latent frame
  float *text_states;  // [B,L,text_width] model.text.encoder minilm: the encoder's states (NULL otherwise)
  float *target;    // [B,N,P] velocity target (training only; may be NULL)
  // The clip's latent grid (T/pt, H/ph, W/pw), within the config's (the
  // maximum); 0,0,0 = the config's own grid. N = gt*gh*gw.
  int gt, gh, gw;
  // Generated (non-conditioned) tokens of the whole global batch, over every
  // dp rank (the trainer allreduces it): the loss is sum(w*se)/(P*loss_tokens)
  // over this rank's samples, so summing the ranks' losses and gradients gives
  // the single-rank result. 0 = count this rank's own tokens (one rank).
  double loss_tokens;
} Batch;

// Under sp, x / target / out hold this rank's token slice [B, N/sp, P]
// (global tokens sp_rank*N/sp ...), cond and the prompts the whole sample.
// Sequence parallelism is Ulysses x ring (xDiT's USP, docs/ring.md): sp is
// the total degree, `ring` (0 or 1: none) the ring-attention degree, which
// divides sp; the Ulysses degree is sp/ring. sp_rank = ring_rank*(sp/ring) +
// ulysses_rank: Ulysses inside, ring outside. ring == sp is ring alone.
typedef struct {
  int tp, sp;            // tensor- and sequence-parallel sizes
  int tp_rank, sp_rank;  // this rank's coordinates
  CommGroup *tp_group;   // the ranks sharing this rank's tokens (NULL when tp == 1)
  CommGroup *sp_group;   // the ranks sharing this rank's heads shard (NULL when sp == 1)
  int ring;              // ring-attention degree inside sp (0 or 1: Ulysses only)
  int comm_blocking;     // 1: the tp all-reduces and Ulysses all-to-alls that overlap compute block instead (0: overlapped, model/parallel.h)
} ModelLayout;

// train.recompute: what the backward recomputes instead of keeping.
typedef enum {
  MODEL_RECOMPUTE_NONE = 0,
  MODEL_RECOMPUTE_ATTENTION,  // self-attention's q, k, output and lse (and Ulysses' head-parallel copies)
  MODEL_RECOMPUTE_BLOCK,      // everything but each block's input: the block's forward is redone in the backward
} ModelRecompute;

typedef struct ModelActs ModelActs;        // activation pointers (model_internal.h)
typedef struct ModelOffsets ModelOffsets;  // parameter offsets (model_internal.h)

typedef struct {
  ModelConfig cfg;     // the config; its video window is the one batches default to (model_set_window)
  ModelConfig max_cfg; // the config as built: its window is the maximum of any batch
  ModelLayout layout;
  const Backend *be; // where it computes; params.data / .grad and the arena are its memory
  ParamTable params;
  ModelOffsets *off;
  int max_batch;
  int64_t max_tokens; // B*N (over the sp group) the activations hold: max_batch * cfg.tokens unless a budget was given
  Arena arena;       // activations, sized for max_batch and max_tokens at model_alloc
  ModelActs *acts;
  float *out;        // [B,N,P] last forward's prediction (in the arena: model_read_output)
  float loss;        // last forward's loss (when a target was given)
  int text_frozen;   // model_freeze_text: backward stops at the text encoder's output
  ModelRecompute recompute;  // model_set_recompute (before model_alloc_acts)
  // Called by model_backward at block boundaries as parameter gradients become
  // final (after the final layer, each block, and the embeddings): every
  // gradient at table offset >= from is final (ZeRO starts its
  // reduction while the backward goes on, train/zero.h). NULL: not called.
  // Not called at tp > 1 (the per-head norm gradients are summed at the end).
  void (*grad_ready)(void *ctx, size_t from);
  void *grad_ready_ctx;
  // The sp group's two dimensions (docs/ring.md): the Ulysses all-to-all group
  // (the ranks of one ring position) and the ring (the ranks of one Ulysses
  // position). Each is layout.sp_group when it is the whole of sp, one of
  // own_groups (split from sp_group by model_build) when both are > 1, else NULL.
  CommGroup *ulysses_group, *ring_group;
  CommGroup own_groups[2];
} Model;

// Whether the model can be cut into tp x sp ranks with `ring` of sp as ring
// attention: 0, or -1 with one line naming the keys. Alike on every rank.
int model_layout_check(const ModelConfig *cfg, int tp, int sp, int ring, TsrErr *err);

// Declare the parameter table for this config and layout and allocate it in
// the backend's memory (backend_cpu() for the host).
void model_build(Model *m, const ModelConfig *cfg, ModelLayout layout, const Backend *be);
// What the backward recomputes (train.recompute); call before model_alloc_acts.
// Gradients are bit-identical to MODEL_RECOMPUTE_NONE; the arena shrinks.
void model_set_recompute(Model *m, ModelRecompute r);
// Size and allocate activations for batches up to max_batch (no allocation later).
void model_alloc_acts(Model *m, int max_batch);
// The same for forward only (sampling): the blocks reuse one block's buffers,
// about depth times less memory; model_backward is refused.
void model_alloc_acts_forward(Model *m, int max_batch);
// The same for batches of any grid within the config's: up to max_batch
// samples and max_tokens = B*N tokens (over the sp group) in all, e.g. a
// token budget shared by buckets of different shapes (docs/choices.md).
void model_alloc_acts_tokens(Model *m, int max_batch, int64_t max_tokens, int forward_only);
// Sets the window batches default to (cfg's frames/height/width, grid and
// tokens) to T x H x W within the built maximum, e.g. a generation at another
// size: 0, or -1 with one line (not divisible by the patch, over the maximum,
// tokens not divisible by sp).
int model_set_window(Model *m, int T, int H, int W, TsrErr *err);
// Whether this model (its layout) can run a batch of grid gt x gh x gw: 0, or
// -1 with one line (larger than the config's grid, tokens not divisible by sp).
int model_grid_check(const Model *m, int gt, int gh, int gw, TsrErr *err);
void model_free(Model *m);
// Freeze the text encoder (train.text_encoder: frozen): its parameters (text.*)
// are marked frozen and keep their values; model_backward computes no gradient
// for them and skips the text encoder's backward (docs/model.md "Frozen text encoder").
void model_freeze_text(Model *m);
// Forward; when b->target is set, also the loss over non-conditioned tokens.
// Returns the loss (0 without target). Output in m->out ([B, N/sp, P]).
// Under sp (or with b->loss_tokens) the loss is this rank's share: the sum of
// the ranks' losses over dp x sp is the global loss (identical on tp ranks).
// With loss_tokens == 0 the denominator is counted over the sp group.
float model_forward(Model *m, const Batch *b);
// Copies the last forward's prediction [B, N/sp, P] to host memory.
void model_read_output(const Model *m, float *dst, int B);
// Backward of the last forward's loss: accumulates into m->params.grad. Each
// rank's gradient is its share: summed over the dp x sp ranks (same tp_rank)
// it is the full gradient of its parameter shard; the trainer does that sum.
// Over tp, replicated parameters end with identical complete gradients.
void model_backward(Model *m, const Batch *b);
// FLOPs of one forward for batch B (matmuls and attention; backward ~= 2x).
double model_forward_flops(const ModelConfig *c, int B);
// FLOPs of one training step (forward + backward) for batch B.
double model_train_flops(const ModelConfig *c, int B, int text_frozen);
