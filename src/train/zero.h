// ZeRO-1 (docs/parallel_train.md): the optimizer state is sharded over the
// ranks that hold the same parameters (the dpsp group: dp x sp ranks with the
// same tp_rank). The local parameter buffer (this rank's TP shard, padded) is
// cut into `size` equal contiguous shards; rank r owns floats [lo, hi):
//
//   grad [padded] --reduce_scatter(dpsp)--> g [shard]      (the summed gradient)
//   norm^2 = allreduce_world(sum g^2)   (tp-replicated parameters counted once)
//   g *= clip/norm;  AdamW(params[lo:hi], g, m, v)          (m, v [shard])
//   params[lo:hi] --allgather(dpsp)--> params [padded]      (every replica equal)
//   ema [shard] = decay ema + (1-decay) params[lo:hi]
//
// With one rank in the group the shard is the whole buffer and nothing is
// copied or communicated. Every buffer lives in the backend's memory (the
// model's); the arithmetic runs through the backend's ops.
#pragma once
#include <stddef.h>

#include "comm/comm.h"
#include "core/config.h"
#include "core/params.h"
#include "kernels/backend.h"

typedef struct {
  size_t at;     // first float of the piece in the local buffer (lo <= at < hi)
  size_t n;      // floats
  float wd;      // 1: weight decay applies (matrices and embeddings), 0: not
  int sharded;   // 1: a TP-sharded parameter (its squares count on every tp rank)
} ZeroPiece;

typedef struct {
  const Backend *be; // where the buffers live and the update runs
  CommGroup *group;  // dpsp: the ranks that share the optimizer state
  CommGroup *world;  // the norm sums over every rank
  int tp_rank;       // tp-replicated parameters' squares are counted on tp_rank 0 only
  size_t total;      // floats of the parameter table (params->total)
  size_t shard;      // floats per rank
  size_t padded;     // shard * group size >= total: the length of params->data and ->grad
  size_t lo, hi;     // this rank's range of the local buffer
  float *g;          // [shard] reduced gradient (aliases params->grad with one rank)
  float *m, *v;      // [shard] AdamW moments
  float *ema;        // [shard] EMA of the weights
  double *sq;        // [1] a sum of squares (backend memory)
  ZeroPiece *pieces; // the parameters' parts inside [lo, hi)
  int npieces;
  int step;          // AdamW updates done (bias correction)
  // Overlap (zero_set_overlap): buckets of the gradient reduced during the backward.
  size_t bucket;     // floats per bucket (0: no overlap, one reduce-scatter after the backward)
  int active;        // between zero_overlap_begin and zero_reduce_grads
  const float *grad; // the gradient buffer being reduced
  size_t started;    // [started, padded) has been handed to reduce-scatters
  CommRequest *reqs; // in flight, in start order
  int nreqs, cap_reqs, first_open;  // first_open: the first request not yet seen complete
  double wait_s;     // seconds this rank waited in gradient reduce-scatters (blocking call or final waits)
  int reductions;    // zero_reduce_grads calls (wait_s / reductions: the mean per step)
  long buckets, buckets_early;  // reduce-scatters started in all, and of them during the backward
} Zero;

// Pads params->data and ->grad to the sharded length (values kept), allocates
// the shard state, and starts the EMA from the current weights.
void zero_init(Zero *z, ParamTable *params, const Backend *be, CommGroup *dpsp, CommGroup *world, int tp_rank);
void zero_free(Zero *z);
// Sum the gradients over the group: this rank's shard of the sum lands in z->g.
// With overlap: starts what the backward did not, and waits for every bucket.
void zero_reduce_grads(Zero *z, const ParamTable *params);

// ---- Overlap (parallel.bucket_mb, docs/parallel_train.md "Overlap").
// Buckets of ~bucket_floats (0: off; a group of one rank or a NCCL group:
// off). Per step: zero_overlap_begin before the backward of the last
// micro-batch, with zero_grad_ready as the model's grad_ready hook (its ctx the
// Zero). At each block boundary the gradients from `from` on are final: once
// those not yet started make a bucket, their reduce-scatter starts (variable
// blocks: each rank's part of the bucket that falls in its shard), and every
// bucket in flight is progressed (MPI_Test; Open MPI has no progress thread).
// The comm layer's ring sums each element in an order fixed by its owner, so z->g
// gets the same bits as the blocking path; the bytes sent are the same too.
void zero_set_overlap(Zero *z, size_t bucket_floats);
void zero_overlap_begin(Zero *z, const ParamTable *params);
void zero_grad_ready(void *zero, size_t from);
// Global L2 norm of the summed gradient (every rank gets the same value).
double zero_grad_norm(const Zero *z);
// Clip (when norm > grad_clip > 0), AdamW on the shard, allgather the weights.
void zero_step(Zero *z, ParamTable *params, const TrainConfig *tc, float lr, double norm);
void zero_ema_update(Zero *z, const ParamTable *params, float decay);
// Gather a shard buffer (m, v or ema) of every rank into full[padded] (every
// rank gets the whole local buffer; checkpoints use params->grad as `full`).
void zero_gather(const Zero *z, const float *shard, float *full);
// The converse for a loaded checkpoint: shard <- full[lo:hi].
void zero_take(const Zero *z, const float *full, float *shard);
// Bytes of AdamW state (m and v) this rank holds (the EMA adds half as much).
size_t zero_state_bytes(const Zero *z);
