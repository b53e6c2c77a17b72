// Pieces the two CPU attention kernels share (attention.c: fp32 tiles,
// attention_bf16.c: bf16 tile products): tile arithmetic, scratch carving,
// key masking, the thread count, and the backward's work split — a (b, h)
// pair's key tiles spread over several items when there are fewer pairs than
// threads, their dQ partials summed afterwards in a fixed order (no atomics).
#pragma once
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

static inline int rup(int x, int m) { return (x + m - 1) / m * m; }
static inline int imin(int a, int b) { return a < b ? a : b; }

// Carves 64-byte aligned pieces of n 4-byte words (floats or bf16 pairs) out
// of one scratch block; with base NULL it only counts (the size to ask for).
typedef struct {
  float *base;
  size_t used;
} Carve;
static inline void *carve(Carve *c, size_t n) {
  void *p = c->base ? c->base + c->used : NULL;
  c->used += (n + 15) / 16 * 16;
  return p;
}

// The valid keys of batch b (kvalid NULL: all Nk).
static inline int keys_of(const int *kvalid, int b, int Nk) {
  if (!kvalid) return Nk;
  const int kv = kvalid[b];
  TSR_ASSERT(kv >= 1 && kv <= Nk, "attention: kvalid[%d] = %d outside [1, %d]", b, kv, Nk);
  return kv;
}

static inline int threads_available(void) {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// Forward: query tiles per item, up to gq_max but leaving >= 2 items per
// thread over the BH pairs' nqt query tiles.
static inline int attention_fwd_group(int BH, int nqt, int gq_max) {
  const int nth = threads_available();
  int gq = gq_max;
  while (gq > 1 && (long)BH * ((nqt + gq - 1) / gq) < 2L * nth) gq--;
  return gq;
}

// Forward: a query tile's result. out[b, i0 + i, h, :] = O[i, :C] / l[i] and
// lse[b, h, i0 + i] = (m[i] + log2 l[i]) ln 2 (m, l: the base-2 running max and
// sum; lse may be NULL) for its nq queries; O at ld Cp.
void attention_out_write(float *out, int ldo, float *lse, const float *O, int Cp, const float *m, const float *l,
                         int b, int h, int H, int Nq, int i0, int nq, int C);

// Backward: a key tile's result. dk[row j, :C] += dK[j] / log2(e) (dK was
// taken against Q scaled by scale * log2 e) and dv[row j, :C] += dV[j] for its
// nk keys; rows from key row rk at strides ldk / ldv, head column col; dk or
// dv may be NULL; dK, dV at ld Cp.
void attention_dkv_add(float *dk, int ldk, float *dv, int ldv, const float *dK, const float *dV, int Cp, size_t rk,
                       size_t col, int nk, int C);

// Backward items per (b, h) pair: 1 when the BH pairs keep every thread busy,
// else each pair's key tiles (of bk keys) split over up to threads / BH items.
static inline int attention_bwd_splits(int BH, int Nk, int bk) {
  const int nth = threads_available(), ntk_max = (Nk + bk - 1) / bk;
  return BH >= nth ? 1 : imin((nth + BH - 1) / BH, ntk_max);
}

// dq[b, i, h, :] += scale * dQ[i, :C] for the pair's Nq queries (dQ at ld Cp):
// an item that holds its pair's whole dQ.
void attention_dq_add(float *dq, int ldq, const float *dQ, int Cp, int b, int h, int Nq, int C, float scale);

// Inside the parallel region, after every item: dq += scale * the sum of each
// pair's nsplit partials (part: [BH][nsplit][Nqx][Cp]), summed in split order
// (an orphaned `omp for` over the BH * Nq rows).
void attention_dq_sum_splits(float *dq, int ldq, const float *part, int nsplit, int Nqx, int Cp, int BH, int H,
                             int Nq, int C, float scale);
