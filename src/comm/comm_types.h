// The comm layer's types, shared by the public API (comm.h) and the backends
// (comm_internal.h), so the backends depend on nothing above them.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef enum { COMM_F32, COMM_F64, COMM_I32, COMM_I64, COMM_U8 } CommType;
typedef enum { COMM_SUM, COMM_MAX, COMM_MIN } CommOp;
typedef enum { COMM_BACKEND_MPI, COMM_BACKEND_NCCL } CommBackend;

typedef struct {
  uint64_t bytes[6];  // bytes sent by this rank: allreduce, reduce_scatter, allgather, alltoall, bcast, p2p
  uint64_t calls[6];
} CommStats;
enum { COMM_STAT_ALLREDUCE, COMM_STAT_REDUCE_SCATTER, COMM_STAT_ALLGATHER, COMM_STAT_ALLTOALL, COMM_STAT_BCAST,
       COMM_STAT_P2P };

typedef struct CommGroup {
  char name[16];        // "world", "dp", "sp", "tp", "mp", "dpsp"
  int rank, size;       // this rank's place in the group
  CommBackend backend;
  void *mpi;            // MPI_Comm* (owned), or NULL in a build without MPI
  void *nccl;           // ncclComm_t when backend == NCCL
  void *stream;         // cudaStream_t the NCCL calls are issued on (NULL: default stream)
  int owns_stream;      // 1: comm made the stream (and destroys it)
  CommStats stats;
  int *v_counts;        // 4 * size ints: alltoallv's int counts/displacements (owned; no allocation per call)
  struct CommGroup *parent;  // comm_group_split's parent: its stats count this group's calls too (else NULL)
  unsigned nb_seq;      // non-blocking collectives started on this group (their MPI tags)
  void *ring_scratch;   // the ring reduce-scatter's buffers, kept between calls (comm_mpi.c; owned)
  size_t ring_scratch_bytes;
  int ring_scratch_busy;  // 1: a reduce-scatter in flight uses it (a concurrent one allocates its own)
} CommGroup;

// A started point-to-point exchange (comm_sendrecv_start) or non-blocking
// collective (comm_ireduce_scatterv, comm_iallgather): the MPI requests are
// kept by value (no allocation on the step path for point-to-point).
typedef struct {
  CommGroup *g;
  int pending;                                // MPI requests to wait for (0: done, or queued on a NCCL stream)
  _Alignas(8) unsigned char mpi_req[2][16];   // MPI_Request x2 (size checked in comm_mpi.c)
  void *ring;                                 // a ring reduce-scatter's state (comm_mpi.c; owned), else NULL
} CommRequest;

static inline size_t comm_type_size(CommType t) {
  switch (t) {
    case COMM_F32: return 4;
    case COMM_F64: return 8;
    case COMM_I32: return 4;
    case COMM_I64: return 8;
    case COMM_U8: return 1;
  }
  return 0;
}
