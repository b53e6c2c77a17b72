// Distributed generation (docs/model_parallel.md "Generation"): the world is
// dp x cfg x sp x tp ranks, tp fastest. A replica of cfg x sp x tp ranks
// makes one clip: sp splits its tokens (Ulysses x ring), tp its heads, and with
// cfg = 2 (CFG-parallel) the conditional and unconditional branches run on
// two halves of the replica. The dp replicas split a list of prompts.
#pragma once

#include "comm/comm.h"
#include "core/error.h"
#include "model/model.h"

typedef struct {
  int dp, cfg, sp, tp;  // cfg: 1, or 2 for CFG-parallel
  int ring;             // ring-attention degree inside sp (1: Ulysses only; docs/ring.md)
  int replica;          // this rank's replica, 0..dp-1
  int branch;           // CFG-parallel: 0 conditional, 1 unconditional (0 otherwise)
  int writer;           // 1 on the rank of the replica that writes its outputs
  CommContext cc;       // layout (dp*cfg) x sp x tp: the model's sp and tp groups
  CommContext pair;     // cfg = 2: layout dp x 2 x (sp*tp), whose sp group is the branch pair
} GenLayout;

// Split the world. A world that is not a multiple of cfg*sp*tp is a user
// error (one message, every rank exits 2); `what` names the command.
int gen_layout_init(GenLayout *g, int sp, int ring, int tp, int cfg_parallel, const char *what, TsrErr *err);
ModelLayout gen_model_layout(GenLayout *g);
CommGroup *gen_cfg_group(GenLayout *g);  // the branch pair, or NULL when cfg = 1
void gen_layout_free(GenLayout *g);
// Peak resident memory of each world rank in MiB (collective): out[world size].
void gen_peak_rss_mib(GenLayout *g, double *out);
