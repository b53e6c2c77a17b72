// ZeRO-1 optimizer sharding (see zero.h and docs/parallel_train.md).
#include "train/zero.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "kernels/ops.h"

// Replace a table buffer by a longer zero-padded copy (the collectives move
// `size` equal shards, so the buffer is a whole number of them).
static float *pad_buffer(float *old, size_t n, size_t padded) {
  float *p = tsr_calloc(padded, sizeof(float));
  memcpy(p, old, n * sizeof(float));
  tsr_free(old);
  return p;
}

void zero_init(Zero *z, ParamTable *params, CommGroup *dpsp, CommGroup *world, int tp_rank) {
  memset(z, 0, sizeof *z);
  z->group = dpsp, z->world = world, z->tp_rank = tp_rank;
  const size_t S = (size_t)dpsp->size, total = params->total;
  z->total = total;
  // Shards of whole 16-float lines (64 bytes) so every shard starts aligned.
  z->shard = S == 1 ? total : ((total + S - 1) / S + 15) / 16 * 16;
  z->padded = z->shard * S;
  z->lo = z->shard * (size_t)dpsp->rank, z->hi = z->lo + z->shard;
  if (z->padded > total) {
    params->data = pad_buffer(params->data, total, z->padded);
    params->grad = pad_buffer(params->grad, total, z->padded);
  }
  if (S == 1) {
    z->g = params->grad;  // the reduce-scatter of one rank is the identity
  } else {
    z->g = tsr_calloc(z->shard, sizeof(float));
  }
  z->m = tsr_calloc(z->shard, sizeof(float));
  z->v = tsr_calloc(z->shard, sizeof(float));
  z->ema = tsr_calloc(z->shard, sizeof(float));
  memcpy(z->ema, params->data + z->lo, z->shard * sizeof(float));

  // Pieces: each parameter's intersection with [lo, hi), in table order.
  z->pieces = tsr_calloc((size_t)params->count, sizeof *z->pieces);
  for (int i = 0; i < params->count; i++) {
    const ParamInfo *p = &params->items[i];
    size_t a = p->offset > z->lo ? p->offset : z->lo, b = p->offset + p->numel < z->hi ? p->offset + p->numel : z->hi;
    if (a >= b || p->frozen) continue;  // a frozen parameter is never updated (its gradient stays 0)
    z->pieces[z->npieces++] = (ZeroPiece){.at = a, .n = b - a, .wd = p->ndim >= 2 ? 1.0f : 0.0f,
                                          .sharded = p->split_dim >= 0};
  }
}

void zero_free(Zero *z) {
  if (z->group && z->group->size > 1) tsr_free(z->g);
  tsr_free(z->m);
  tsr_free(z->v);
  tsr_free(z->ema);
  tsr_free(z->pieces);
  memset(z, 0, sizeof *z);
}

void zero_reduce_grads(Zero *z, const ParamTable *params) {
  if (z->group->size == 1) return;
  comm_reduce_scatter(z->group, params->grad, z->g, z->shard, COMM_F32);
}

static double sum_squares(const float *x, size_t n) {
  double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (size_t i = 0; i < n; i++) sum += (double)x[i] * x[i];
  return sum;
}

double zero_grad_norm(const Zero *z) {
  double sq = 0.0;
  int any_sharded = 0;
  for (int i = 0; i < z->npieces; i++) any_sharded |= z->pieces[i].sharded;
  if (!any_sharded && z->tp_rank == 0) {
    sq = sum_squares(z->g, z->shard);  // one pass; the gaps between parameters are zero
  } else {
    // A tp-replicated parameter has the same gradient on every tp rank: count it once.
    for (int i = 0; i < z->npieces; i++) {
      const ZeroPiece *p = &z->pieces[i];
      if (p->sharded || z->tp_rank == 0) sq += sum_squares(z->g + (p->at - z->lo), p->n);
    }
  }
  if (z->world && z->world->size > 1) comm_allreduce(z->world, &sq, 1, COMM_F64, COMM_SUM);
  return sqrt(sq);
}

void zero_step(Zero *z, ParamTable *params, const TrainConfig *tc, float lr, double norm) {
  z->step++;
  if (tc->grad_clip > 0 && norm > tc->grad_clip) {
    const float s = (float)(tc->grad_clip / norm);
    float *g = z->g;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < z->shard; i++) g[i] *= s;
  }
  for (int i = 0; i < z->npieces; i++) {
    const ZeroPiece *p = &z->pieces[i];
    const size_t k = p->at - z->lo;  // index into the shard buffers
    adamw_update(params->data + p->at, z->g + k, z->m + k, z->v + k, (int64_t)p->n, lr, tc->beta1, tc->beta2, tc->eps,
                 p->wd * tc->weight_decay, z->step);
  }
  // In place: this rank's block already sits at params->data + lo.
  comm_allgather(z->group, params->data + z->lo, params->data, z->shard, COMM_F32);
}

void zero_ema_update(Zero *z, const ParamTable *params, float decay) {
  const float *w = params->data + z->lo;
  float *e = z->ema;
#pragma omp parallel for simd schedule(static)
  for (size_t i = 0; i < z->shard; i++) e[i] = decay * e[i] + (1.0f - decay) * w[i];
}

void zero_gather(const Zero *z, const float *shard, float *full) {
  if (z->group->size == 1) {
    if (full != shard) memcpy(full, shard, z->shard * sizeof(float));
    return;
  }
  comm_allgather(z->group, shard, full, z->shard, COMM_F32);
}

void zero_take(const Zero *z, const float *full, float *shard) {
  if (full + z->lo != shard) memcpy(shard, full + z->lo, z->shard * sizeof(float));
}

size_t zero_state_bytes(const Zero *z) { return 2 * z->shard * sizeof(float); }
