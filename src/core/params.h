// Parameter table: every parameter is a named slice of one float buffer
// (params) with a matching slice of a second buffer (grads). Names are
// PyTorch state-dict style ("blocks.3.attn.qkv.weight") and are the HDF5 paths.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/mem.h"

enum ParamInit {
  INIT_XAVIER,  // Xavier-uniform on [out,in] (2-D only)
  INIT_ZERO,
  INIT_ONE,
  INIT_NORMAL,  // N(0, 0.02^2): embeddings and positions
  INIT_FAN_IN,  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = product of dims 1.. (PyTorch's conv default)
};

#define PARAM_NAME_MAX 96
#define PARAM_MAX_DIM 5  // conv3d weights [out,in,kd,kh,kw]

typedef struct {
  char name[PARAM_NAME_MAX];
  int ndim;
  int64_t shape[PARAM_MAX_DIM];
  size_t offset;  // in floats, into params/grads
  size_t numel;
  enum ParamInit init;
  // Model-parallel sharding. shape[] is this rank's local tensor; full[] the
  // logical tensor (as in the checkpoint). split_dim < 0: replicated, local ==
  // full. Otherwise dimension split_dim of full (length F) is made of
  // split_parts equal parts (3 for qkv = [q;k;v], 2 for kv, 1 otherwise); each
  // part is cut in split_ways equal slices and this rank holds slice
  // split_index of every part, concatenated in part order. So the local row i
  // of part p is logical row p*F/parts + split_index*F/(parts*ways) + i.
  // params_init draws by logical element index: every layout initialises the
  // same logical tensor.
  int64_t full[PARAM_MAX_DIM];
  int split_dim, split_parts, split_ways, split_index;
  int frozen;  // no gradient is computed for it and the optimizer leaves it (and its state) alone
} ParamInfo;

typedef struct {
  ParamInfo *items;
  int count, cap;
  size_t total;  // floats
  float *data;   // [total] in `mem`
  float *grad;   // [total] in `mem`
  const MemSpace *mem;  // where data and grad live (NULL: host); set before params_alloc
} ParamTable;

// Declare a parameter; returns its offset in floats. Call before params_alloc.
size_t params_add(ParamTable *t, const char *name, int ndim, const int64_t *shape, enum ParamInit init);
// The same for a tensor sharded along `dim` of the logical shape `full`
// (see ParamInfo); returns its offset in floats.
size_t params_add_sharded(ParamTable *t, const char *name, int ndim, const int64_t *full, enum ParamInit init, int dim,
                          int parts, int ways, int index);
void params_alloc(ParamTable *t);  // allocates data and grad (zeroed) in t->mem
void params_free(ParamTable *t);
// Fill data following each parameter's init, drawn from the counter RNG keyed
// by (seed, parameter index, element), so values do not depend on threading.
void params_init(ParamTable *t, uint64_t seed);
// Fill every parameter (even zero-initialised ones) with U(-scale, scale):
// tests use it so that every path of the model carries signal.
void params_init_uniform(ParamTable *t, uint64_t seed, float scale);
const ParamInfo *params_find(const ParamTable *t, const char *name);  // NULL if absent
void params_zero_grad(ParamTable *t);
