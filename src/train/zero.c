// ZeRO-1 optimizer sharding (see zero.h and docs/parallel_train.md).
#include "train/zero.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/timer.h"

// Replace a table buffer by a longer zero-padded copy (the collectives move
// `size` equal shards, so the buffer is a whole number of them).
static float *pad_buffer(const Backend *be, float *old, size_t n, size_t padded) {
  float *p = be_floats(be, padded);
  be_copy(be, p, old, n * sizeof(float));
  be_free(be, old);
  return p;
}

void zero_init(Zero *z, ParamTable *params, const Backend *be, CommGroup *dpsp, CommGroup *world, int tp_rank) {
  memset(z, 0, sizeof *z);
  TSR_ASSERT(params->mem == &be->mem || (!params->mem && be->mem.host),
             "zero_init: the parameters live outside the backend's memory");
  z->be = be, z->group = dpsp, z->world = world, z->tp_rank = tp_rank;
  const size_t S = (size_t)dpsp->size, total = params->total;
  z->total = total;
  // Shards of whole 16-float lines (64 bytes) so every shard starts aligned.
  z->shard = S == 1 ? total : ((total + S - 1) / S + 15) / 16 * 16;
  z->padded = z->shard * S;
  z->lo = z->shard * (size_t)dpsp->rank, z->hi = z->lo + z->shard;
  if (z->padded > total) {
    params->data = pad_buffer(be, params->data, total, z->padded);
    params->grad = pad_buffer(be, params->grad, total, z->padded);
  }
  if (S == 1) {
    z->g = params->grad;  // the reduce-scatter of one rank is the identity
  } else {
    z->g = be_floats(be, z->shard);
  }
  z->m = be_floats(be, z->shard);
  z->v = be_floats(be, z->shard);
  z->ema = be_floats(be, z->shard);
  z->sq = be_alloc(be, sizeof(double));
  be_copy(be, z->ema, params->data + z->lo, z->shard * sizeof(float));

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
  if (z->group && z->group->size > 1) be_free(z->be, z->g);
  tsr_free(z->reqs);
  be_free(z->be, z->m);
  be_free(z->be, z->v);
  be_free(z->be, z->ema);
  be_free(z->be, z->sq);
  tsr_free(z->pieces);
  memset(z, 0, sizeof *z);
}

void zero_set_overlap(Zero *z, size_t bucket_floats) {
  const int usable = z->group->size > 1 && z->group->backend == COMM_BACKEND_MPI;
  z->bucket = usable ? bucket_floats : 0;
  if (!z->bucket) return;
  // one bucket per hook call at most (each >= bucket floats), and the rest at the end
  z->cap_reqs = (int)(z->padded / z->bucket) + 2;
  z->reqs = tsr_calloc((size_t)z->cap_reqs, sizeof *z->reqs);
}

void zero_overlap_begin(Zero *z, const ParamTable *params) {
  if (!z->bucket) return;
  TSR_ASSERT(!z->active, "zero_overlap_begin twice before zero_reduce_grads (buckets of the first still in flight)");
  z->active = 1, z->grad = params->grad, z->started = z->padded, z->nreqs = 0, z->first_open = 0;
}

// Start the reduce-scatter of grad[a, b): rank j gets the part inside its shard.
static void start_bucket(Zero *z, size_t a, size_t b) {
  const int p = z->group->size;
  size_t counts[p];
  for (int j = 0; j < p; j++) {
    size_t lo = z->shard * (size_t)j, hi = lo + z->shard;
    size_t x = a > lo ? a : lo, y = b < hi ? b : hi;
    counts[j] = y > x ? y - x : 0;
  }
  float *recv = z->g + (a > z->lo && a < z->hi ? a - z->lo : 0);
  TSR_ASSERT(z->nreqs < z->cap_reqs, "zero: more gradient buckets than expected (%d)", z->cap_reqs);
  comm_ireduce_scatterv(z->group, z->grad + a, recv, counts, COMM_F32, &z->reqs[z->nreqs++]);
  z->started = a;
  z->buckets++;
}

void zero_grad_ready(void *zero, size_t from) {
  Zero *z = zero;
  if (!z->active) return;
  if (z->started > from && z->started - from >= z->bucket) {
    start_bucket(z, from, z->started);
    z->buckets_early++;
  }
  while (z->first_open < z->nreqs && comm_test(&z->reqs[z->first_open])) z->first_open++;
}

void zero_reduce_grads(Zero *z, const ParamTable *params) {
  if (z->group->size == 1) return;
  double t0 = timer_now();
  if (z->active) {
    if (z->started > 0) start_bucket(z, 0, z->started);
    for (int i = z->first_open; i < z->nreqs; i++) comm_wait(&z->reqs[i]);
    z->active = 0;
  } else {
    comm_reduce_scatter(z->group, params->grad, z->g, z->shard, COMM_F32);
    z->buckets++;
  }
  z->wait_s += timer_now() - t0;
  z->reductions++;
}

static double sum_squares(const Zero *z, const float *x, size_t n) {
  double sum;
  be_sum_squares(z->be, z->sq, x, (int64_t)n);
  be_download(z->be, &sum, z->sq, sizeof sum);
  return sum;
}

double zero_grad_norm(const Zero *z) {
  double sq = 0.0;
  int any_sharded = 0;
  for (int i = 0; i < z->npieces; i++) any_sharded |= z->pieces[i].sharded;
  if (!any_sharded && z->tp_rank == 0) {
    sq = sum_squares(z, z->g, z->shard);  // one pass; the gaps between parameters are zero
  } else {
    // A tp-replicated parameter has the same gradient on every tp rank: count it once.
    for (int i = 0; i < z->npieces; i++) {
      const ZeroPiece *p = &z->pieces[i];
      if (p->sharded || z->tp_rank == 0) sq += sum_squares(z, z->g + (p->at - z->lo), p->n);
    }
  }
  if (z->world && z->world->size > 1) comm_allreduce(z->world, &sq, 1, COMM_F64, COMM_SUM);
  return sqrt(sq);
}

void zero_step(Zero *z, ParamTable *params, const TrainConfig *tc, float lr, double norm) {
  z->step++;
  if (tc->grad_clip > 0 && norm > tc->grad_clip) be_scale_f32(z->be, z->g, (float)(tc->grad_clip / norm), (int64_t)z->shard);
  for (int i = 0; i < z->npieces; i++) {
    const ZeroPiece *p = &z->pieces[i];
    const size_t k = p->at - z->lo;  // index into the shard buffers
    be_adamw_update(z->be, params->data + p->at, z->g + k, z->m + k, z->v + k, (int64_t)p->n, lr, tc->beta1, tc->beta2, tc->eps,
                 p->wd * tc->weight_decay, z->step);
  }
  // In place: this rank's block already sits at params->data + lo.
  comm_allgather(z->group, params->data + z->lo, params->data, z->shard, COMM_F32);
}

void zero_ema_update(Zero *z, const ParamTable *params, float decay) {
  be_ema_update(z->be, z->ema, params->data + z->lo, (int64_t)z->shard, decay);
}

void zero_gather(const Zero *z, const float *shard, float *full) {
  if (z->group->size == 1) {
    be_copy(z->be, full, shard, z->shard * sizeof(float));
    return;
  }
  comm_allgather(z->group, shard, full, z->shard, COMM_F32);
}

void zero_take(const Zero *z, const float *full, float *shard) {
  be_copy(z->be, shard, full + z->lo, z->shard * sizeof(float));
}

size_t zero_state_bytes(const Zero *z) { return 2 * z->shard * sizeof(float); }
