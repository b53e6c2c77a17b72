// Process groups by layout, byte accounting, and dispatch to the backends.
// The collectives' semantics (and the size-1 shortcuts) live here; the
// backends only move bytes (comm_mpi.c, comm_nccl.c).
#include "comm/comm.h"

#include <stdarg.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm_internal.h"
#include "core/error.h"

// The process-level calls are the MPI backend's; comm.c only forwards them, so
// the backends never call up into this file (comm_internal.h holds all they use).
void comm_init(int *argc, char ***argv) { comm_mpi_init(argc, argv); }
void comm_finalize(void) { comm_mpi_finalize(); }
int comm_world_rank(void) { return comm_mpi_world_rank(); }
int comm_world_size(void) { return comm_mpi_world_size(); }
int comm_have_nccl(void) { return comm_nccl_available(); }

uint64_t comm_bytes_expected(int kind, int p, size_t n, CommType t, int is_root) {
  uint64_t b = (uint64_t)n * comm_type_size(t);
  if (p <= 1) return 0;
  uint64_t q = (uint64_t)p;
  switch (kind) {
    case COMM_STAT_ALLREDUCE: return 2 * (q - 1) * b / q;  // ring: reduce-scatter then allgather of b/p chunks
    case COMM_STAT_REDUCE_SCATTER:                         // ring: p-1 steps of one block
    case COMM_STAT_ALLGATHER:
    case COMM_STAT_ALLTOALL: return (q - 1) * b;  // one block to each other rank
    case COMM_STAT_BCAST: return is_root ? b : 0;
    case COMM_STAT_P2P: return b;
  }
  tsr_fatal(__FILE__, __LINE__, "comm", "unknown stat kind %d", kind);
}

// A subgroup's traffic is its parent's too (the sp group's counters hold all
// sequence-parallel traffic, Ulysses and ring sub-groups included).
static void account(CommGroup *g, int kind, uint64_t bytes) {
  for (; g; g = g->parent) {
    g->stats.bytes[kind] += bytes;
    g->stats.calls[kind]++;
  }
}

void comm_stats_reset(CommGroup *g) { memset(&g->stats, 0, sizeof g->stats); }

uint64_t comm_stats_bytes(const CommGroup *g) {
  uint64_t s = 0;
  for (int k = 0; k < 6; k++) s += g->stats.bytes[k];
  return s;
}

// ---------------------------------------------------------------- layout

static void group_ready(CommGroup *g, int want_rank, int want_size) {
  TSR_ASSERT(g->rank == want_rank && g->size == want_size, "group %s: rank %d of %d, expected %d of %d", g->name,
             g->rank, g->size, want_rank, want_size);
  g->backend = COMM_BACKEND_MPI;
  g->v_counts = tsr_calloc(4 * (size_t)g->size, sizeof(int));
  comm_stats_reset(g);
}

int comm_layout_check(int dp, int sp, int tp, const char *what, TsrErr *err) {
  comm_init(NULL, NULL);
  const int world = comm_world_size();
  if (dp < 1 || sp < 1 || tp < 1)
    return tsr_err(err, "%s: parallel layout dp=%d sp=%d tp=%d: each must be a positive integer", what, dp, sp, tp);
  long long ranks = (long long)dp * sp * tp;
  if (ranks != world)
    return tsr_err(err, "%s: parallel layout dp=%d x sp=%d x tp=%d = %lld ranks, but the job has %d (world size); "
                   "choose parallel.dp, parallel.sp, parallel.tp whose product is the number of ranks",
                   what, dp, sp, tp, ranks, world);
  return 0;
}

void comm_layout(CommContext *cc, int dp, int sp, int tp, const char *what) {
  comm_init(NULL, NULL);
  memset(cc, 0, sizeof *cc);
  int world = comm_world_size(), r = comm_world_rank();
  TsrErr err;
  if (comm_layout_check(dp, sp, tp, what, &err))  // user input is checked before (comm_layout_check)
    tsr_fatal(__FILE__, __LINE__, "comm", "%s", err.msg);
  cc->world_rank = r, cc->world_size = world;
  cc->dp = dp, cc->sp = sp, cc->tp = tp;
  // world_rank = (dp_rank * sp + sp_rank) * tp + tp_rank
  cc->tp_rank = r % tp;
  cc->sp_rank = (r / tp) % sp;
  cc->dp_rank = r / (tp * sp);
  int d = cc->dp_rank, s = cc->sp_rank, t = cc->tp_rank;

  // Every rank makes the same splits in the same order (MPI_Comm_split is
  // collective over the world). color picks the group, key orders it.
  comm_mpi_group_world(&cc->world);
  comm_mpi_group_split(&cc->world, d * sp + s, t, "tp", &cc->tp_group);
  comm_mpi_group_split(&cc->world, d * tp + t, s, "sp", &cc->sp_group);
  comm_mpi_group_split(&cc->world, s * tp + t, d, "dp", &cc->dp_group);
  comm_mpi_group_split(&cc->world, d, s * tp + t, "mp", &cc->mp_group);
  comm_mpi_group_split(&cc->world, t, d * sp + s, "dpsp", &cc->dpsp_group);
  group_ready(&cc->world, r, world);
  group_ready(&cc->tp_group, t, tp);
  group_ready(&cc->sp_group, s, sp);
  group_ready(&cc->dp_group, d, dp);
  group_ready(&cc->mp_group, s * tp + t, sp * tp);
  group_ready(&cc->dpsp_group, d * sp + s, dp * sp);
}

static void group_free(CommGroup *g) {
  if (g->backend == COMM_BACKEND_NCCL) comm_nccl_free(g);
  comm_mpi_group_free(g);
  tsr_free(g->v_counts);
  g->v_counts = NULL;
}

void comm_free(CommContext *cc) {
  CommGroup *groups[] = {&cc->dpsp_group, &cc->mp_group, &cc->dp_group, &cc->sp_group, &cc->tp_group, &cc->world};
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) group_free(groups[i]);
}

void comm_group_use_nccl(CommGroup *g, void *stream) {
  if (g->backend == COMM_BACKEND_NCCL) return;
  comm_nccl_use(g, stream);
}

// A NCCL group moves device buffers with NCCL and host buffers (a loss, a
// norm, checkpoint sums) over its MPI communicator, so one group serves both.
static int on_device(const CommGroup *g, const void *buf) {
  return g->backend == COMM_BACKEND_NCCL && comm_nccl_is_device(buf);
}

void comm_sync(CommGroup *g) {
  if (g->backend == COMM_BACKEND_NCCL) comm_nccl_sync(g);
}

// ---------------------------------------------------------------- collectives
// Host-buffer groups of size 1 never reach MPI: the result is the input.

void comm_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op) {
  account(g, COMM_STAT_ALLREDUCE, comm_bytes_expected(COMM_STAT_ALLREDUCE, g->size, n, t, 0));
  if (on_device(g, buf)) { comm_nccl_allreduce(g, buf, n, t, op); return; }
  if (g->size == 1 || n == 0) return;
  comm_mpi_allreduce(g, buf, n, t, op);
}

void comm_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  account(g, COMM_STAT_REDUCE_SCATTER, comm_bytes_expected(COMM_STAT_REDUCE_SCATTER, g->size, n, t, 0));
  if (on_device(g, send)) { comm_nccl_reduce_scatter(g, send, recv, n, t); return; }
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, n * comm_type_size(t));
    return;
  }
  comm_mpi_reduce_scatter(g, send, recv, n, t);
}

void comm_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  account(g, COMM_STAT_ALLGATHER, comm_bytes_expected(COMM_STAT_ALLGATHER, g->size, n, t, 0));
  if (on_device(g, send)) { comm_nccl_allgather(g, send, recv, n, t); return; }
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, n * comm_type_size(t));
    return;
  }
  comm_mpi_allgather(g, send, recv, n, t);
}

void comm_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  account(g, COMM_STAT_ALLTOALL, comm_bytes_expected(COMM_STAT_ALLTOALL, g->size, n, t, 0));
  if (on_device(g, send)) { comm_nccl_alltoall(g, send, recv, n, t); return; }
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, n * comm_type_size(t));
    return;
  }
  comm_mpi_alltoall(g, send, recv, n, t);
}

void comm_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs, void *recv,
                    const size_t *recv_counts, const size_t *recv_displs, CommType t) {
  size_t es = comm_type_size(t), off_rank = 0;
  for (int j = 0; j < g->size; j++)
    if (j != g->rank) off_rank += send_counts[j];
  account(g, COMM_STAT_ALLTOALL, (uint64_t)off_rank * es);
  if (on_device(g, send)) {
    comm_nccl_alltoallv(g, send, send_counts, send_displs, recv, recv_counts, recv_displs, t);
    return;
  }
  if (g->size == 1) {
    TSR_ASSERT(send_counts[0] == recv_counts[0], "alltoallv on group %s: sends %zu elements to itself, receives %zu",
               g->name, send_counts[0], recv_counts[0]);
    memmove((char *)recv + recv_displs[0] * es, (const char *)send + send_displs[0] * es, send_counts[0] * es);
    return;
  }
  comm_mpi_alltoallv(g, send, send_counts, send_displs, recv, recv_counts, recv_displs, t);
}

void comm_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root) {
  account(g, COMM_STAT_BCAST, comm_bytes_expected(COMM_STAT_BCAST, g->size, n, t, g->rank == root));
  if (on_device(g, buf)) { comm_nccl_bcast(g, buf, n, t, root); return; }
  if (g->size == 1) {
    TSR_ASSERT(root == 0, "bcast on group %s of size 1 from root %d", g->name, root);
    return;
  }
  comm_mpi_bcast(g, buf, n, t, root);
}

void comm_barrier(CommGroup *g) {
  if (g->backend == COMM_BACKEND_NCCL) comm_nccl_sync(g);
  if (g->size == 1) return;
  comm_mpi_barrier(g);
}

// ---------------------------------------------------------------- point-to-point

void comm_sendrecv_start(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                         CommType t, int tag, CommRequest *req) {
  TSR_ASSERT(dest >= 0 && dest < g->size && src >= 0 && src < g->size, "sendrecv on group %s (size %d): dest %d src %d",
             g->name, g->size, dest, src);
  req->g = g;
  req->pending = 0;
  req->ring = NULL;
  account(g, COMM_STAT_P2P, dest == g->rank ? 0 : comm_bytes_expected(COMM_STAT_P2P, g->size, ns, t, 0));
  if (on_device(g, send)) {
    comm_nccl_sendrecv(g, send, ns, dest, recv, nr, src, t);
    return;
  }
  if (g->size == 1) {  // to itself
    TSR_ASSERT(ns == nr, "sendrecv on group %s of size 1: sends %zu, receives %zu", g->name, ns, nr);
    if (send != recv) memmove(recv, send, ns * comm_type_size(t));
    return;
  }
  comm_mpi_sendrecv_start(g, send, ns, dest, recv, nr, src, t, tag, req);
}

void comm_wait(CommRequest *req) {
  if (req->pending) comm_mpi_wait(req);
}

int comm_test(CommRequest *req) { return req->pending ? comm_mpi_test(req) : 1; }

// ---------------------------------------------------------------- non-blocking collectives

static void request_done(CommGroup *g, CommRequest *req) {
  req->g = g, req->pending = 0, req->ring = NULL;
}

void comm_ireduce_scatterv(CommGroup *g, const void *send, void *recv, const size_t *counts, CommType t,
                           CommRequest *req) {
  const size_t es = comm_type_size(t);
  size_t total = 0;
  for (int j = 0; j < g->size; j++) total += counts[j];
  // the ring sends every block but this rank's (for equal blocks: (p-1) n e, as comm_reduce_scatter)
  account(g, COMM_STAT_REDUCE_SCATTER, g->size == 1 ? 0 : (uint64_t)(total - counts[g->rank]) * es);
  request_done(g, req);
  if (on_device(g, send)) {  // NCCL: queued on the group's stream (asynchronous already); equal blocks only
    for (int j = 1; j < g->size; j++)
      if (counts[j] != counts[0]) comm_fail(g, "ireduce_scatterv", "unequal blocks on a NCCL group are not supported");
    comm_nccl_reduce_scatter(g, send, recv, counts[0], t);
    return;
  }
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, counts[0] * es);
    return;
  }
  comm_mpi_ireduce_scatter(g, send, recv, counts, 0, t, req);
}

void comm_iallgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  account(g, COMM_STAT_ALLGATHER, comm_bytes_expected(COMM_STAT_ALLGATHER, g->size, n, t, 0));
  request_done(g, req);
  if (on_device(g, send)) { comm_nccl_allgather(g, send, recv, n, t); return; }
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, n * comm_type_size(t));
    return;
  }
  comm_mpi_iallgather(g, send, recv, n, t, req);
}

void comm_iallreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op, CommRequest *req) {
  account(g, COMM_STAT_ALLREDUCE, comm_bytes_expected(COMM_STAT_ALLREDUCE, g->size, n, t, 0));
  request_done(g, req);
  if (on_device(g, buf)) { comm_nccl_allreduce(g, buf, n, t, op); return; }  // queued on the stream
  if (g->size == 1 || n == 0) return;
  // beyond one chunk: the blocking call's chunks (the same rings, the same bits), done on return
  if (n > (size_t)COMM_MPI_CHUNK) { comm_mpi_allreduce(g, buf, n, t, op); return; }
  comm_mpi_iallreduce(g, buf, n, t, op, req);
}

void comm_ialltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  account(g, COMM_STAT_ALLTOALL, comm_bytes_expected(COMM_STAT_ALLTOALL, g->size, n, t, 0));
  request_done(g, req);
  if (on_device(g, send)) { comm_nccl_alltoall(g, send, recv, n, t); return; }  // queued on the stream
  if (g->size == 1) {
    if (send != recv) memmove(recv, send, n * comm_type_size(t));
    return;
  }
  comm_mpi_ialltoall(g, send, recv, n, t, req);
}

void comm_group_split(CommGroup *parent, int color, int key, const char *name, CommGroup *out) {
  memset(out, 0, sizeof *out);
  if (parent->size == 1) {  // a singleton: no communicator needed
    snprintf(out->name, sizeof out->name, "%s", name);
    out->rank = 0, out->size = 1;
  } else {
    comm_mpi_group_split(parent, color, key, name, out);
  }
  out->backend = COMM_BACKEND_MPI;
  out->parent = parent;
  out->v_counts = tsr_calloc(4 * (size_t)out->size, sizeof(int));
  if (parent->backend == COMM_BACKEND_NCCL && out->size > 1) comm_nccl_use(out, parent->stream);
}

void comm_group_free(CommGroup *g) { group_free(g); }

static int env_rank(const char *name) {
  const char *v = getenv(name);
  char *end;
  long r = v && *v ? strtol(v, &end, 10) : -1;
  return v && *v && *end == '\0' && r >= 0 && r < 1 << 20 ? (int)r : -1;
}

int comm_local_rank(void) {
  int r = env_rank("SLURM_LOCALID");
  if (r < 0) r = env_rank("OMPI_COMM_WORLD_LOCAL_RANK");
  return r >= 0 ? r : comm_mpi_local_rank();
}
