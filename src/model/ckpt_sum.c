#include "model/ckpt_sum.h"

#include <stdio.h>
#include <string.h>

#include "core/error.h"

static inline uint64_t term(uint64_t index, float v) {
  uint32_t bits;
  memcpy(&bits, &v, sizeof bits);
  uint64_t z = (index << 32 | bits) + 0x9E3779B97F4A7C15ull;  // splitmix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A local tensor as rows along the split dimension: outer x rows x inner, local
// row r being logical row row_of(r) of the full dimension (identity when replicated).
typedef struct {
  size_t outer, rows, inner, full_rows;
  size_t part, slice, first;  // rows per part, per slice; first row of this rank's slice in a part
} Rows;

static Rows rows_of(const ParamInfo *p) {
  Rows r = {.outer = 1, .rows = 1, .inner = 1, .full_rows = 1};
  const int d = p->split_dim;
  if (d < 0) {  // replicated: one row, in place
    r.inner = p->numel, r.part = r.slice = 1;
    return r;
  }
  for (int i = 0; i < d; i++) r.outer *= (size_t)p->full[i];
  for (int i = d + 1; i < p->ndim; i++) r.inner *= (size_t)p->full[i];
  r.rows = (size_t)p->shape[d], r.full_rows = (size_t)p->full[d];
  r.part = r.full_rows / (size_t)p->split_parts, r.slice = r.part / (size_t)p->split_ways;
  r.first = (size_t)p->split_index * r.slice;
  return r;
}

static inline size_t row_of(const Rows *r, size_t i) { return i / r->slice * r->part + r->first + i % r->slice; }

void ckpt_sum_local(const ParamInfo *p, const float *local, int64_t sum[2]) {
  TSR_ASSERT(p->numel < (size_t)1 << 31, "%s: %zu elements, the checksum takes at most 2^31", p->name, p->numel);
  const Rows r = rows_of(p);
  const size_t nrows = r.outer * r.rows, block = 4096;
  // Work items: (row, block of its inner elements), so that one long row (a
  // replicated tensor) spreads over the threads as well as many short ones.
  const size_t per_row = (r.inner + block - 1) / block, items = nrows * per_row;
  int64_t s0 = 0, s1 = 0;
#pragma omp parallel for reduction(+ : s0, s1) schedule(static) if (p->numel > 65536)
  for (size_t it = 0; it < items; it++) {
    const size_t k = it / per_row, j0 = it % per_row * block, j1 = j0 + block < r.inner ? j0 + block : r.inner;
    const size_t o = k / r.rows, row = row_of(&r, k % r.rows);
    const float *x = local + k * r.inner;
    const uint64_t base = (o * r.full_rows + row) * r.inner;
    for (size_t j = j0; j < j1; j++) {
      uint64_t z = term(base + j, x[j]);
      s0 += (int64_t)(z & 0xffffffffu), s1 += (int64_t)(z >> 32);
    }
  }
  sum[0] = s0, sum[1] = s1;
}

void ckpt_sum_full(const float *x, size_t n, int64_t sum[2]) {
  ParamInfo p = {.ndim = 1, .shape = {(int64_t)n}, .full = {(int64_t)n}, .numel = n, .split_dim = -1};
  snprintf(p.name, sizeof p.name, "tensor");
  ckpt_sum_local(&p, x, sum);
}

void ckpt_take_local(const ParamInfo *p, const float *full, float *local) {
  if (p->split_dim < 0) {
    memcpy(local, full, p->numel * sizeof *local);
    return;
  }
  const Rows r = rows_of(p);
  for (size_t k = 0; k < r.outer * r.rows; k++) {
    const size_t o = k / r.rows, row = row_of(&r, k % r.rows);
    memcpy(local + k * r.inner, full + (o * r.full_rows + row) * r.inner, r.inner * sizeof *local);
  }
}
