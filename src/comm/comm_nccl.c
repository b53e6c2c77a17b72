// The NCCL backend: the same collectives on device buffers, queued on the
// group's own CUDA stream. Compiled with the plain C compiler against the
// CUDA runtime and NCCL headers when the Makefile finds them (TSR_HAVE_NCCL);
// otherwise only the refusal below is built and no NCCL symbol is referenced.
//
// A group switches to NCCL collectively: group rank 0 makes the ncclUniqueId,
// MPI broadcasts it over the group's communicator, every rank joins with
// ncclCommInitRank. The MPI communicator stays (barrier, errors).
#include <stdio.h>
#include <string.h>

#include "comm/comm_internal.h"
#include "core/error.h"

#ifdef TSR_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <nccl.h>

int comm_nccl_available(void) { return 1; }

// "tessera[rank R] comm: <call> on group <g> (rank r of s): <NCCL's message>", abort all ranks.
#define NCCL_CHECK(g, call)                                                                             \
  do {                                                                                                  \
    ncclResult_t r_ = (call);                                                                           \
    if (r_ != ncclSuccess)                                                                              \
      comm_fail((g), #call, "%s%s%s", ncclGetErrorString(r_), (g)->nccl ? ": " : "",                    \
                (g)->nccl ? ncclGetLastError((ncclComm_t)(g)->nccl) : "");                              \
  } while (0)
#define CUDA_CHECK(g, call)                                             \
  do {                                                                  \
    cudaError_t e_ = (call);                                            \
    if (e_ != cudaSuccess) comm_fail((g), #call, "%s", cudaGetErrorString(e_)); \
  } while (0)

static ncclDataType_t nccl_type(CommType t) {
  switch (t) {
    case COMM_F32: return ncclFloat32;
    case COMM_F64: return ncclFloat64;
    case COMM_I32: return ncclInt32;
    case COMM_I64: return ncclInt64;
    case COMM_U8: return ncclUint8;
  }
  return ncclFloat32;
}

static ncclRedOp_t nccl_op(CommOp op) {
  switch (op) {
    case COMM_SUM: return ncclSum;
    case COMM_MAX: return ncclMax;
    case COMM_MIN: return ncclMin;
  }
  return ncclSum;
}

static ncclComm_t nc(const CommGroup *g) { return (ncclComm_t)g->nccl; }
static cudaStream_t st(const CommGroup *g) { return (cudaStream_t)g->stream; }

// Before any CUDA/NCCL call: is there a driver and a device at all? A CPU
// machine has no libcuda.so.1; asking the runtime there only gives a vaguer
// error, so look for the driver first.
int comm_nccl_check(TsrErr *err) {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver)
    return tsr_err(err, "NCCL backend requested but no GPU is present (the CUDA driver libcuda.so.1 cannot be loaded: "
                   "%s); use the CPU/MPI backend on this machine", dlerror());
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0)
    return tsr_err(err, "NCCL backend requested but no GPU is present (cudaGetDeviceCount: %s, %d devices); "
                   "use the CPU/MPI backend on this machine", e != cudaSuccess ? cudaGetErrorString(e) : "no error", n);
  return 0;
}

// Callers checked comm_nccl_check (comm.h): without a GPU here, the program erred.
static void require_gpu(void) {
  TsrErr err;
  if (comm_nccl_check(&err)) tsr_fatal(__FILE__, __LINE__, "NCCL", "%s (comm_nccl_check first)", err.msg);
}

// Once per process: ranks on one node take devices local_rank mod count,
// unless the caller already chose a device other than 0.
static int g_device_chosen = 0;
static void choose_device(CommGroup *g) {
  if (g_device_chosen) return;
  g_device_chosen = 1;
  int n = 0, cur = 0;
  CUDA_CHECK(g, cudaGetDeviceCount(&n));
  CUDA_CHECK(g, cudaGetDevice(&cur));
  if (cur == 0) CUDA_CHECK(g, cudaSetDevice(comm_mpi_local_rank() % n));
}

int comm_nccl_is_device(const void *p) {
  struct cudaPointerAttributes a;
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();  // a plain host pointer: clear the error state
    return 0;
  }
  return a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged;
}

void comm_nccl_use(CommGroup *g, void *stream) {
  require_gpu();
  choose_device(g);
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  if (g->rank == 0) NCCL_CHECK(g, ncclGetUniqueId(&id));
  comm_mpi_bcast_bytes(g, &id, sizeof id, 0);
  ncclComm_t c = NULL;
  NCCL_CHECK(g, ncclCommInitRank(&c, g->size, id, g->rank));
  cudaStream_t s = (cudaStream_t)stream;
  if (!s) CUDA_CHECK(g, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  g->owns_stream = stream == NULL;
  g->nccl = c;
  g->stream = s;
  g->backend = COMM_BACKEND_NCCL;
}

void comm_nccl_free(CommGroup *g) {
  if (g->stream) CUDA_CHECK(g, cudaStreamSynchronize(st(g)));
  if (g->nccl) NCCL_CHECK(g, ncclCommDestroy(nc(g)));
  if (g->stream && g->owns_stream) CUDA_CHECK(g, cudaStreamDestroy(st(g)));
  g->nccl = NULL, g->stream = NULL;
  g->backend = COMM_BACKEND_MPI;
}

void comm_nccl_sync(CommGroup *g) { CUDA_CHECK(g, cudaStreamSynchronize(st(g))); }

void comm_nccl_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op) {
  NCCL_CHECK(g, ncclAllReduce(buf, buf, n, nccl_type(t), nccl_op(op), nc(g), st(g)));
}

void comm_nccl_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  if (send != recv) {
    NCCL_CHECK(g, ncclReduceScatter(send, recv, n, nccl_type(t), ncclSum, nc(g), st(g)));
    return;
  }
  // Our in-place form keeps the block at the front; NCCL's keeps it at rank*n.
  size_t bytes = n * comm_type_size(t);
  char *own = (char *)recv + (size_t)g->rank * bytes;
  NCCL_CHECK(g, ncclReduceScatter(send, own, n, nccl_type(t), ncclSum, nc(g), st(g)));
  if (g->rank != 0) CUDA_CHECK(g, cudaMemcpyAsync(recv, own, bytes, cudaMemcpyDeviceToDevice, st(g)));
}

void comm_nccl_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  NCCL_CHECK(g, ncclAllGather(send, recv, n, nccl_type(t), nc(g), st(g)));  // in place when send == recv + rank*n
}

void comm_nccl_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  TSR_ASSERT(send != recv, "alltoall on NCCL group %s cannot run in place", g->name);
  size_t bytes = n * comm_type_size(t);
  NCCL_CHECK(g, ncclGroupStart());
  for (int j = 0; j < g->size; j++) {
    NCCL_CHECK(g, ncclSend((const char *)send + j * bytes, n, nccl_type(t), j, nc(g), st(g)));
    NCCL_CHECK(g, ncclRecv((char *)recv + j * bytes, n, nccl_type(t), j, nc(g), st(g)));
  }
  NCCL_CHECK(g, ncclGroupEnd());
}

void comm_nccl_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                         void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t) {
  TSR_ASSERT(send != recv, "alltoallv on NCCL group %s cannot run in place", g->name);
  size_t es = comm_type_size(t);
  NCCL_CHECK(g, ncclGroupStart());
  for (int j = 0; j < g->size; j++) {
    if (send_counts[j])
      NCCL_CHECK(g, ncclSend((const char *)send + send_displs[j] * es, send_counts[j], nccl_type(t), j, nc(g), st(g)));
    if (recv_counts[j])
      NCCL_CHECK(g, ncclRecv((char *)recv + recv_displs[j] * es, recv_counts[j], nccl_type(t), j, nc(g), st(g)));
  }
  NCCL_CHECK(g, ncclGroupEnd());
}

void comm_nccl_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root) {
  NCCL_CHECK(g, ncclBroadcast(buf, buf, n, nccl_type(t), root, nc(g), st(g)));
}

void comm_nccl_sendrecv(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                        CommType t) {
  NCCL_CHECK(g, ncclGroupStart());
  NCCL_CHECK(g, ncclSend(send, ns, nccl_type(t), dest, nc(g), st(g)));
  NCCL_CHECK(g, ncclRecv(recv, nr, nccl_type(t), src, nc(g), st(g)));
  NCCL_CHECK(g, ncclGroupEnd());
}

#else  // no NCCL in this build: refuse clearly; the rest is never reached

int comm_nccl_available(void) { return 0; }

int comm_nccl_is_device(const void *p) {
  (void)p;
  return 0;
}
int comm_nccl_check(TsrErr *err) {
  return tsr_err(err, "NCCL backend requested but this build has no NCCL (make found no CUDA + NCCL; see the ✓/✗ "
                 "lines `make` prints)");
}
void comm_nccl_use(CommGroup *g, void *stream) {
  tsr_fatal(__FILE__, __LINE__, "NCCL", "group %s: this build has no NCCL (comm_nccl_check first)", g->name);
}
#define UNREACHABLE(call) comm_fail(g, call, "no NCCL in this build")
void comm_nccl_free(CommGroup *g) {}
void comm_nccl_sync(CommGroup *g) {}
void comm_nccl_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op) { UNREACHABLE("ncclAllReduce"); }
void comm_nccl_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  UNREACHABLE("ncclReduceScatter");
}
void comm_nccl_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  UNREACHABLE("ncclAllGather");
}
void comm_nccl_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  UNREACHABLE("ncclSend/ncclRecv");
}
void comm_nccl_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                         void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t) {
  UNREACHABLE("ncclSend/ncclRecv");
}
void comm_nccl_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root) { UNREACHABLE("ncclBroadcast"); }
void comm_nccl_sendrecv(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                        CommType t) {
  UNREACHABLE("ncclSend/ncclRecv");
}
#endif
