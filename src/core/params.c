#include "core/params.h"

#include <math.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"

size_t params_add(ParamTable *t, const char *name, int ndim, const int64_t *shape, enum ParamInit init) {
  TSR_ASSERT(t->data == NULL, "params_add(%s) after params_alloc", name);
  TSR_ASSERT(ndim >= 1 && ndim <= PARAM_MAX_DIM, "param %s: ndim %d", name, ndim);
  TSR_ASSERT(strlen(name) < PARAM_NAME_MAX, "param name too long: %s", name);
  if (t->count == t->cap) {
    int cap = t->cap ? 2 * t->cap : 64;
    ParamInfo *items = tsr_calloc((size_t)cap, sizeof *items);
    if (t->items) memcpy(items, t->items, (size_t)t->count * sizeof *items);
    tsr_free(t->items);
    t->items = items;
    t->cap = cap;
  }
  ParamInfo *p = &t->items[t->count++];
  strcpy(p->name, name);
  p->ndim = ndim;
  p->numel = 1;
  for (int i = 0; i < ndim; i++) {
    p->shape[i] = p->full[i] = shape[i];
    p->numel *= (size_t)shape[i];
  }
  p->split_dim = -1;
  p->split_parts = p->split_ways = 1;
  p->split_index = 0;
  // Keep every parameter 64-byte aligned (16 floats) for vector loads.
  p->offset = (t->total + 15) / 16 * 16;
  p->init = init;
  t->total = p->offset + p->numel;
  return p->offset;
}

size_t params_add_sharded(ParamTable *t, const char *name, int ndim, const int64_t *full, enum ParamInit init, int dim,
                          int parts, int ways, int index) {
  TSR_ASSERT(dim >= 0 && dim < ndim && parts >= 1 && ways >= 1 && index >= 0 && index < ways,
             "param %s: split dim %d parts %d ways %d index %d", name, dim, parts, ways, index);
  TSR_ASSERT(full[dim] % ((int64_t)parts * ways) == 0, "param %s: dim %d of length %lld does not split %d x %d ways",
             name, dim, (long long)full[dim], parts, ways);
  int64_t local[PARAM_MAX_DIM];
  for (int i = 0; i < ndim; i++) local[i] = full[i];
  local[dim] = full[dim] / ways;
  size_t off = params_add(t, name, ndim, local, init);
  ParamInfo *p = &t->items[t->count - 1];
  for (int i = 0; i < ndim; i++) p->full[i] = full[i];
  p->split_dim = dim;
  p->split_parts = parts;
  p->split_ways = ways;
  p->split_index = index;
  return off;
}

// Logical (full-tensor) row-major index of local element e of p.
static size_t logical_index(const ParamInfo *p, size_t e) {
  if (p->split_dim < 0) return e;
  int64_t idx[PARAM_MAX_DIM];
  for (int i = p->ndim - 1; i >= 0; i--) {
    idx[i] = (int64_t)(e % (size_t)p->shape[i]);
    e /= (size_t)p->shape[i];
  }
  const int d = p->split_dim;
  const int64_t part_len = p->full[d] / p->split_parts, slice = part_len / p->split_ways;
  const int64_t part = idx[d] / slice, within = idx[d] % slice;
  idx[d] = part * part_len + p->split_index * slice + within;
  size_t g = 0;
  for (int i = 0; i < p->ndim; i++) g = g * (size_t)p->full[i] + (size_t)idx[i];
  return g;
}

void params_alloc(ParamTable *t) {
  t->data = mem_alloc(t->mem, t->total * sizeof(float));
  t->grad = mem_alloc(t->mem, t->total * sizeof(float));
}

void params_free(ParamTable *t) {
  tsr_free(t->items);
  mem_free(t->mem, t->data);
  mem_free(t->mem, t->grad);
  *t = (ParamTable){0};
}

// The values are drawn on the host: straight into data when it is host
// memory, else into a host copy uploaded at the end.
static float *host_values(const ParamTable *t) {
  return t->mem && !t->mem->host ? tsr_calloc(t->total, sizeof(float)) : t->data;
}
static void commit_values(ParamTable *t, float *host) {
  if (host == t->data) return;
  mem_upload(t->mem, t->data, host, t->total * sizeof(float));
  tsr_free(host);
}

void params_init(ParamTable *t, uint64_t seed) {
  float *values = host_values(t);
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    float *w = values + p->offset;
    float bound = 0.0f;
    if (p->init == INIT_XAVIER) {
      TSR_ASSERT(p->ndim == 2, "xavier init of %s needs 2 dims", p->name);
      bound = sqrtf(6.0f / (float)(p->full[0] + p->full[1]));
    } else if (p->init == INIT_FAN_IN) {
      int64_t fan_in = 1;
      for (int d = 1; d < p->ndim; d++) fan_in *= p->full[d];
      bound = 1.0f / sqrtf((float)fan_in);
    }
    for (size_t e = 0; e < p->numel; e++) {
      const size_t g = logical_index(p, e);
      uint32_t hi = (uint32_t)(g >> 32), lo = (uint32_t)g;
      switch (p->init) {
        case INIT_FAN_IN:
        case INIT_XAVIER: w[e] = bound * (2.0f * rng_uniform(seed, RNG_INIT, (uint32_t)i, hi, lo) - 1.0f); break;
        case INIT_NORMAL: w[e] = 0.02f * rng_normal(seed, RNG_INIT, (uint32_t)i, hi, lo); break;
        case INIT_ONE: w[e] = 1.0f; break;
        case INIT_ZERO: w[e] = 0.0f; break;
      }
    }
  }
  commit_values(t, values);
}

void params_init_uniform(ParamTable *t, uint64_t seed, float scale) {
  float *values = host_values(t);
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    float *w = values + p->offset;
    float base = p->init == INIT_ONE ? 1.0f : 0.0f;  // norm weights stay near 1
    for (size_t e = 0; e < p->numel; e++) {
      const size_t g = logical_index(p, e);
      w[e] = base + scale * (2.0f * rng_uniform(seed, RNG_TEST, (uint32_t)i, (uint32_t)(g >> 32), (uint32_t)g) - 1.0f);
    }
  }
  commit_values(t, values);
}

const ParamInfo *params_find(const ParamTable *t, const char *name) {
  for (int i = 0; i < t->count; i++)
    if (strcmp(t->items[i].name, name) == 0) return &t->items[i];
  return NULL;
}

void params_zero_grad(ParamTable *t) { mem_zero(t->mem, t->grad, t->total * sizeof(float)); }
