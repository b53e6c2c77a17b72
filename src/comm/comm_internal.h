// Between comm.c (groups, accounting, dispatch) and its backends. Nothing
// outside src/comm includes this. The backends include only this header (and
// through it comm_types.h), never comm.h: comm.c calls down into them, they
// never call back up.
#pragma once
#include "comm/comm_types.h"

// ---- MPI backend (comm_mpi.c): host buffers, groups of size > 1.
// Each call is one MPI collective on the group's communicator; a failure
// prints rank, group and call and aborts every rank (comm_fail).
// Process start/stop and the world (comm_init, comm_finalize, comm_world_rank
// and comm_world_size of comm.h forward here).
void comm_mpi_init(int *argc, char ***argv);
void comm_mpi_finalize(void);
int comm_mpi_world_rank(void);
int comm_mpi_world_size(void);
void comm_mpi_group_world(CommGroup *g);  // a duplicate of MPI_COMM_WORLD named "world"
// MPI_Comm_split of `parent` by (color, key) into `out` (named `name`).
void comm_mpi_group_split(const CommGroup *parent, int color, int key, const char *name, CommGroup *out);
void comm_mpi_group_free(CommGroup *g);
// All-reduce: the comm layer's ring (comm_mpi_iallreduce, waited), COMM_MPI_CHUNK elements at a time.
void comm_mpi_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op);
void comm_mpi_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_mpi_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_mpi_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_mpi_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                        void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t);
void comm_mpi_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root);
void comm_mpi_barrier(CommGroup *g);
// Non-blocking send + receive (MPI_Isend / MPI_Irecv) into req->mpi_req; comm_mpi_wait completes both.
void comm_mpi_sendrecv_start(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                             CommType t, int tag, CommRequest *req);
void comm_mpi_wait(CommRequest *req);
// Non-blocking collectives (comm.h). The reduce-scatter is the comm layer's
// own ring over MPI_Isend/MPI_Irecv (its sum order per element depends only on
// the owning rank, never on the counts); counts NULL: every rank's block is n.
void comm_mpi_ireduce_scatter(CommGroup *g, const void *send, void *recv, const size_t *counts, size_t n, CommType t,
                              CommRequest *req);
void comm_mpi_iallgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req);
// Elements per call of the blocking all-reduce and bcast (MPI counts are int).
enum { COMM_MPI_CHUNK = 1 << 30 };
// The comm layer's ring all-reduce in place, over MPI_Isend/MPI_Irecv (its
// summation order depends only on n and the group size, so the blocking call
// gives the same bits); n <= COMM_MPI_CHUNK (comm.c sends larger ones to the
// blocking call, which chunks them).
void comm_mpi_iallreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op, CommRequest *req);
// MPI_Ialltoall (send != recv).
void comm_mpi_ialltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req);
int comm_mpi_test(CommRequest *req);  // 1: complete (req->pending 0)
// Bytes over the group's MPI communicator (used by the NCCL backend for its unique id).
void comm_mpi_bcast_bytes(CommGroup *g, void *buf, size_t bytes, int root);
// The rank's index among the ranks on its node (MPI_COMM_TYPE_SHARED), for picking a GPU.
int comm_mpi_local_rank(void);

// "tessera[rank R] comm: <call> on group <name> (rank r of s): <message>", then
// MPI_Abort(MPI_COMM_WORLD) (abort() without MPI). Never returns.
_Noreturn void comm_fail(const CommGroup *g, const char *call, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// ---- NCCL backend (comm_nccl.c): device buffers on g->stream. In a build
// without NCCL, comm_nccl_use refuses with a user error and the rest are
// unreachable.
int comm_nccl_available(void);                  // 1 when this build has NCCL
void comm_nccl_use(CommGroup *g, void *stream);  // stream NULL: create one
int comm_nccl_is_device(const void *p);         // 1: p points into device memory
void comm_nccl_free(CommGroup *g);
void comm_nccl_sync(CommGroup *g);
void comm_nccl_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op);
void comm_nccl_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_nccl_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_nccl_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t);
void comm_nccl_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                         void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t);
void comm_nccl_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root);
// ncclSend to dest and ncclRecv from src in one NCCL group on g->stream.
void comm_nccl_sendrecv(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                        CommType t);
