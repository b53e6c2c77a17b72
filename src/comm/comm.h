// Process groups and collectives (DESIGN.md "Parallelism").
//
// The world is dp x sp x tp ranks with tp varying fastest:
//   world_rank = (dp_rank * sp + sp_rank) * tp + tp_rank
// so TP ranks are neighbours (one node) and SP ranks next. Groups split from
// the world by that layout: tp (same dp, sp), sp (same dp, tp), dp (same sp,
// tp), mp = tp x sp (same dp: the ranks that together hold one model replica
// and one sample's tokens) and dpsp = dp x sp (same tp: the ranks holding the
// same parameter shard; gradients are summed and ZeRO-1 shards the optimizer
// over this group).
//
// One small API over two backends: MPI for host buffers, NCCL for device
// buffers (a group is one or the other; its NCCL unique id is broadcast over
// MPI). Every call counts the bytes this rank sends, per group, so `make bench`
// can hold the measured volume against the analytic model (docs/parallel.md).
//
// A process started without mpirun is an MPI singleton of size 1 and every
// collective degenerates to a copy. Errors from MPI/NCCL name the rank, the
// group and the call, then abort every rank (MPI_Abort), never hang.
//
// Calls are collective over their group: every rank of the group makes the
// same calls in the same order (MPI's rule). MPI calls return when this rank's
// part is done (host buffers are then safe to reuse); NCCL calls are queued on
// g->stream: comm_sync(g) waits for them.
//
// Byte accounting (CommStats, docs/parallel.md "Byte convention"): each call
// adds the bytes THIS rank sends under the bandwidth-optimal (ring) algorithm,
// p = group size, e = element size:
//   allreduce       floor(2 (p-1) n e / p)      (reduce-scatter + allgather; the
//                                               host ring sends exactly this when p | n)
//   reduce_scatter  (p-1) n e                   (n = the block each rank keeps)
//   ireduce_scatterv sum of counts[j] e over j != rank  (equal blocks: as reduce_scatter)
//   iallgather      as allgather
//   iallreduce      as allreduce
//   ialltoall       as alltoall
//   allgather       (p-1) n e                   (n = each rank's block)
//   alltoall        (p-1) n e                   (n = one block)
//   alltoallv       sum of send_counts[j] e over j != rank
//   sendrecv_start  ns e (the point-to-point send; the receive is counted by its sender)
//   bcast           n e on the root, 0 elsewhere
// A group of size 1 sends nothing (0 bytes; the call is still counted).
#pragma once
#include "core/error.h"
#include <stddef.h>
#include <stdint.h>


#include "comm/comm_types.h"

typedef struct {
  int world_rank, world_size;
  int dp, sp, tp;                  // layout sizes, dp * sp * tp == world_size
  int dp_rank, sp_rank, tp_rank;   // this rank's coordinates
  CommGroup world, dp_group, sp_group, tp_group, mp_group, dpsp_group;
} CommContext;

// MPI_Init_thread (FUNNELED) once per process; safe without mpirun; a second
// call does nothing (argc/argv may be NULL). Sets the log layer's rank so only
// rank 0 prints. Call comm_finalize before exit (also registered atexit by
// comm_init; idempotent).
void comm_init(int *argc, char ***argv);
void comm_finalize(void);
int comm_world_rank(void);  // 0 before comm_init or without MPI
int comm_world_size(void);  // 1 before comm_init or without MPI
// This process's rank among the ranks of its node (the GPU it takes):
// Slurm's SLURM_LOCALID, else Open MPI's OMPI_COMM_WORLD_LOCAL_RANK, else
// the rank in MPI's shared-memory split of the world (then collective).
int comm_local_rank(void);


// Agreement about an error (src/app/app_error.c), collective over the world:
// the lowest rank that passed failed != 0, or -1 when none did; and a
// broadcast of n bytes from root (the failing rank's message).
int comm_world_first_failure(int failed);
void comm_world_bcast_bytes(void *buf, size_t n, int root);

// Whether dp x sp x tp is a layout of this job's world: 0, or -1 with one
// line naming `what` (e.g. the config path). Alike on every rank.
int comm_layout_check(int dp, int sp, int tp, const char *what, TsrErr *err);
// Split the world into the layout's groups (MPI backend); the layout must
// pass comm_layout_check (else: a programming error, every rank aborts).
// Calls comm_init first if nobody did.
void comm_layout(CommContext *cc, int dp, int sp, int tp, const char *what);
// Switch a group to NCCL (device buffers); collective over the group. The
// first use picks this process's GPU (node-local rank mod device count) unless
// the caller set one. The caller checks comm_nccl_check first (a build without
// NCCL, or no GPU here, is then the program's mistake: every rank aborts).
// `stream` (a cudaStream_t, e.g. the backend's) orders the collectives after
// the kernels queued there; NULL: a stream of the group's own. Host buffers
// passed to a NCCL group still go over MPI (a loss, a norm): one group serves
// both, chosen per call by where the buffer lives.
void comm_group_use_nccl(CommGroup *g, void *stream);
// Whether NCCL can run here (this build has it, a driver and a GPU are
// present): 0, or -1 with the reason. comm_group_use_nccl needs it.
int comm_nccl_check(TsrErr *err);
int comm_have_nccl(void);  // 1 when this build has the NCCL backend
// Wait until the group's queued calls are done (NCCL: its stream; MPI: no-op).
void comm_sync(CommGroup *g);
void comm_free(CommContext *cc);

// In-place forms (as MPI allows): reduce_scatter with send == recv (recv holds
// size * n on entry, this rank's block in its first n on return); allgather
// with send == recv + rank * n; alltoall with send == recv (MPI backend only).

// In place: buf[n] <- op over the group. Host buffers: the comm layer's ring
// (see comm_iallreduce): a fixed summation order per element for a given n and
// group size, the same on every rank and in the non-blocking call.
void comm_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op);
// send[size * n] (rank r's block at r*n) summed over the group; recv[n] gets this rank's block.
void comm_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
// send[n] from every rank -> recv[size * n] in rank order.
void comm_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
// send[size * n]: block j goes to rank j; recv[size * n]: block j came from rank j.
void comm_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
// Variable blocks (counts and displacements in elements, one per rank).
void comm_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs, void *recv,
                    const size_t *recv_counts, const size_t *recv_displs, CommType t);
void comm_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root);
void comm_barrier(CommGroup *g);

// ---- Point-to-point, non-blocking (ring attention passes K/V blocks round a
// ring while it computes on the current one).
// Start sending send[ns] to group rank `dest` and receiving recv[nr] from
// group rank `src` (the tag keeps separate streams of messages apart); neither
// buffer may be touched until comm_wait(req). Host buffers: MPI_Isend /
// MPI_Irecv. Device buffers on a NCCL group: ncclSend + ncclRecv in one NCCL
// group on g->stream (ordered after the kernels queued there; comm_wait then
// only returns). Counts ns*e bytes as COMM_STAT_P2P. Every rank of a ring
// makes the matching calls in the same order.
void comm_sendrecv_start(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                         CommType t, int tag, CommRequest *req);
void comm_wait(CommRequest *req);
// 1 when the request is complete (then as after comm_wait), else 0 after
// letting MPI progress it (Open MPI has no progress thread: a non-blocking
// collective moves only while some rank calls into MPI).
int comm_test(CommRequest *req);

// ---- Non-blocking collectives (ZeRO's gradient buckets overlap the backward,
// docs/parallel_train.md "Overlap"). Same rules as the blocking calls:
// collective over the group, started in the same order on every rank; the
// buffers stay untouched until comm_test says 1 or comm_wait returns; the
// bytes are counted when the call starts, by the convention above.
// Reduce-scatter with variable blocks: send holds the blocks of ranks 0..p-1
// back to back (counts[j] elements each); recv[counts[rank]] gets this rank's
// summed block (send == recv allowed). Counted as sum_{j != rank} counts[j] e
// (equal blocks: (p-1) n e, as comm_reduce_scatter). Host buffers: the comm
// layer's own ring over MPI point-to-point, whose sum order per element depends
// only on the owning rank -- so a buffer reduced in any bucketing gives the
// same bits, and comm_reduce_scatter (this ring, waited) the same again.
// Device buffers on a NCCL group: ncclReduceScatter on the stream (equal
// blocks only; asynchronous to the host as every NCCL call).
void comm_ireduce_scatterv(CommGroup *g, const void *send, void *recv, const size_t *counts, CommType t,
                           CommRequest *req);
// As comm_allgather (in place when send == recv + rank * n): MPI_Iallgather.
void comm_iallgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req);
// As comm_allreduce (in place), started. Host buffers: both calls are the
// comm layer's own ring all-reduce over MPI point-to-point (reduce-scatter
// then allgather, blocks of n/p; comm_mpi.c), whose summation order for each
// element depends only on n and the group size -- so comm_iallreduce, waited,
// gives the same bits as comm_allreduce on ANY group size (MPI_Allreduce and
// MPI_Iallreduce may pick different orders beyond 2 ranks). It moves while
// comm_test / comm_wait are called (one ring step per arrival). A count
// beyond 2^30: the blocking call's chunks, complete on return. Device
// buffers: ncclAllReduce queued on the stream. The tensor-parallel backward
// sums a column-parallel Linear's input gradient with it while the weight
// gradient is computed (model/parallel.h col_linear_backward).
void comm_iallreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op, CommRequest *req);
// As comm_alltoall (send != recv), started: MPI_Ialltoall on host buffers,
// ncclSend/ncclRecv queued on the stream for device buffers. Moves data only:
// the same bits as the blocking call.
void comm_ialltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req);
// A subgroup of `parent`, collective over it: the ranks with the same color,
// ordered by key, named `name`. On a NCCL parent the subgroup is NCCL too
// (on the parent's stream). Its calls are counted in the parent's stats as
// well (so sp's counters hold the Ulysses and ring sub-groups' traffic).
// comm_group_free releases it; the parent must outlive it.
void comm_group_split(CommGroup *parent, int color, int key, const char *name, CommGroup *out);
void comm_group_free(CommGroup *g);

void comm_stats_reset(CommGroup *g);
uint64_t comm_stats_bytes(const CommGroup *g);  // sum over the kinds of call
// The expected bytes this rank sends for one call, by the convention above
// (kind = COMM_STAT_*; n as the call's n; alltoallv: pass the off-rank total).
uint64_t comm_bytes_expected(int kind, int p, size_t n, CommType t, int is_root);
