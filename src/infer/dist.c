#include "infer/dist.h"

#include <string.h>
#include <sys/resource.h>

#include "core/error.h"

int gen_layout_init(GenLayout *g, int sp, int ring, int tp, int cfg_parallel, const char *what, TsrErr *err) {
  memset(g, 0, sizeof *g);
  const int world = comm_world_size(), cfg = cfg_parallel ? 2 : 1, replica = cfg * sp * tp;
  if (sp < 1 || tp < 1 || world % replica)  // alike on every rank
    return tsr_err(err, "%s: the job's %d ranks do not split into replicas of cfg %d x sp %d x tp %d = %d ranks", what,
                   world, cfg, sp, tp, replica);
  if (ring < 1 || sp % ring)
    return tsr_err(err, "%s: --ring %d: expected a divisor of --sp %d (sp = Ulysses degree x ring degree)", what, ring, sp);
  g->cfg = cfg, g->sp = sp, g->tp = tp, g->dp = world / replica, g->ring = ring;
  // (dp, branch) together are the first coordinate of the model's layout:
  //   world_rank = ((replica * cfg + branch) * sp + sp_rank) * tp + tp_rank
  if (comm_layout_check(g->dp * cfg, sp, tp, what, err)) return -1;
  comm_layout(&g->cc, g->dp * cfg, sp, tp, what);
  g->replica = g->cc.dp_rank / cfg;
  g->branch = g->cc.dp_rank % cfg;
  // The same rank order read as dp x 2 x (sp*tp): its "sp" coordinate is the
  // branch, so its sp group holds the two branches of one (sp, tp) shard.
  if (cfg == 2) comm_layout(&g->pair, g->dp, 2, sp * tp, what);
  g->writer = g->branch == 0 && g->cc.sp_rank == 0 && g->cc.tp_rank == 0;
  return 0;
}

ModelLayout gen_model_layout(GenLayout *g) {
  return (ModelLayout){.tp = g->tp, .sp = g->sp, .tp_rank = g->cc.tp_rank, .sp_rank = g->cc.sp_rank,
                       .tp_group = &g->cc.tp_group, .sp_group = &g->cc.sp_group, .ring = g->ring};
}

CommGroup *gen_cfg_group(GenLayout *g) { return g->cfg == 2 ? &g->pair.sp_group : NULL; }

void gen_layout_free(GenLayout *g) {
  if (g->cfg == 2) comm_free(&g->pair);
  comm_free(&g->cc);
}

void gen_peak_rss_mib(GenLayout *g, double *out) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double mine = (double)ru.ru_maxrss / 1024.0;  // Linux: KiB
  comm_allgather(&g->cc.world, &mine, out, 1, COMM_F64);
}
