// The MPI backend: process start/stop, communicators, and one MPI collective
// per call on host buffers. Every communicator returns errors
// (MPI_ERRORS_RETURN) so a failure is reported here -- rank, group, call and
// MPI's message -- before MPI_Abort ends every rank.
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm_internal.h"
#include "core/error.h"
#include "core/log.h"
#ifdef TSR_HAVE_MPI
#include <mpi.h>
#endif

// The process context: this rank's place in the world (0 of 1 until comm_init).
static int g_world_rank = 0, g_world_size = 1;

int comm_mpi_world_rank(void) { return g_world_rank; }
int comm_mpi_world_size(void) { return g_world_size; }

void comm_fail(const CommGroup *g, const char *call, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int name_len = (int)strcspn(call, "(");  // "ncclAllReduce(buf, ...)" -> "ncclAllReduce"
  fprintf(stderr, "tessera[rank %d] comm: %.*s on group %s (rank %d of %d): %s\n", g_world_rank, name_len, call,
          g ? g->name : "?", g ? g->rank : -1, g ? g->size : -1, msg);
  fflush(stderr);
#ifdef TSR_HAVE_MPI
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_Abort(MPI_COMM_WORLD, 1);  // ends every rank of the job
#endif
  abort();
}

#ifdef TSR_HAVE_MPI

void comm_mpi_init(int *argc, char ***argv) {
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (down) return;  // after comm_finalize: stay 0 of 1
  if (!up) {
    // A plain singleton (no launcher in the environment) skips Open MPI's
    // helper daemon and the UCX/OFI network probes: MPI_Init takes 0.08 s
    // instead of 0.5 s, which every command pays. Users' own settings win.
    const char *launchers[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_PROCID"};
    int launched = 0;
    for (size_t i = 0; i < sizeof launchers / sizeof *launchers; i++) launched |= getenv(launchers[i]) != NULL;
    if (!launched) {
      setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
      setenv("OMPI_MCA_pml", "ob1", 0);
    }
    int provided = 0;
    MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    atexit(comm_mpi_finalize);
    if (provided < MPI_THREAD_FUNNELED) log_warn("MPI gives thread level %d < FUNNELED; OpenMP regions never call MPI", provided);
  }
  MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank));
  MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &g_world_size));
  log_set_rank(g_world_rank);
}

void comm_mpi_finalize(void) {
  tsr_shutdown();  // helper threads end before MPI_Finalize (which also terminates parallel HDF5)
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_Finalize();
}

#define COMM_MPI_CHECK(g, name, call)                                  \
  do {                                                                 \
    int rc_ = (call);                                                  \
    if (rc_ != MPI_SUCCESS) mpi_fail((g), (name), rc_);                \
  } while (0)

_Noreturn static void mpi_fail(const CommGroup *g, const char *call, int code) {
  char text[MPI_MAX_ERROR_STRING] = "unknown MPI error";
  int len = 0;
  MPI_Error_string(code, text, &len);
  comm_fail(g, call, "%s (MPI error %d)", text, code);
}

static MPI_Comm mpi_comm(const CommGroup *g) { return *(const MPI_Comm *)g->mpi; }

static MPI_Datatype mpi_type(CommType t) {
  switch (t) {
    case COMM_F32: return MPI_FLOAT;
    case COMM_F64: return MPI_DOUBLE;
    case COMM_I32: return MPI_INT32_T;
    case COMM_I64: return MPI_INT64_T;
    case COMM_U8: return MPI_UINT8_T;
  }
  return MPI_DATATYPE_NULL;
}

static MPI_Op mpi_op(CommOp op) {
  switch (op) {
    case COMM_SUM: return MPI_SUM;
    case COMM_MAX: return MPI_MAX;
    case COMM_MIN: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

// MPI counts are int: larger ones are refused by name (elementwise calls are
// chunked instead, see CHUNK).
static int mpi_count(const CommGroup *g, const char *call, size_t n) {
  if (n > (size_t)INT_MAX) comm_fail(g, call, "count %zu exceeds MPI's int limit %d", n, INT_MAX);
  return (int)n;
}
enum { CHUNK = COMM_MPI_CHUNK };  // elements per call for allreduce and bcast

static void group_set(CommGroup *g, MPI_Comm c, const char *name) {
  snprintf(g->name, sizeof g->name, "%s", name);
  MPI_Comm *owned = tsr_calloc(1, sizeof(MPI_Comm));
  *owned = c;
  g->mpi = owned;
  COMM_MPI_CHECK(g, "MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN));
  COMM_MPI_CHECK(g, "MPI_Comm_rank", MPI_Comm_rank(c, &g->rank));
  COMM_MPI_CHECK(g, "MPI_Comm_size", MPI_Comm_size(c, &g->size));
}

void comm_mpi_group_world(CommGroup *g) {
  MPI_Comm c;
  CommGroup world = {.name = "world", .rank = g_world_rank, .size = g_world_size};
  COMM_MPI_CHECK(&world, "MPI_Comm_dup", MPI_Comm_dup(MPI_COMM_WORLD, &c));
  group_set(g, c, "world");
}

void comm_mpi_group_split(const CommGroup *parent, int color, int key, const char *name, CommGroup *out) {
  MPI_Comm c;
  COMM_MPI_CHECK(parent, "MPI_Comm_split", MPI_Comm_split(mpi_comm(parent), color, key, &c));
  group_set(out, c, name);
}

void comm_mpi_group_free(CommGroup *g) {
  if (!g->mpi) return;
  MPI_Comm *c = g->mpi;
  int down = 0;
  MPI_Finalized(&down);
  if (!down) COMM_MPI_CHECK(g, "MPI_Comm_free", MPI_Comm_free(c));
  tsr_free(c);
  g->mpi = NULL;
  tsr_free(g->ring_scratch);
  g->ring_scratch = NULL, g->ring_scratch_bytes = 0;
}

// The blocking all-reduce is the ring all-reduce below, started and waited
// for, CHUNK elements at a time: the same bits as comm_mpi_iallreduce of the
// same count on any group size (one algorithm, one summation order).
void comm_mpi_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op) {
  size_t es = comm_type_size(t);
  for (size_t off = 0; off < n; off += CHUNK) {
    size_t c = n - off < CHUNK ? n - off : CHUNK;
    CommRequest req;
    comm_mpi_iallreduce(g, (char *)buf + off * es, c, t, op, &req);
    comm_mpi_wait(&req);
  }
}

// The blocking reduce-scatter is the ring below, started and waited for: the
// same bits as any bucketing of the same buffer (zero.c's overlap path).
void comm_mpi_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  CommRequest req;
  comm_mpi_ireduce_scatter(g, send, recv, NULL, n, t, &req);
  comm_mpi_wait(&req);
}

void comm_mpi_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  int c = mpi_count(g, "MPI_Allgather", n);
  int in_place = send == (const char *)recv + (size_t)g->rank * n * comm_type_size(t);
  COMM_MPI_CHECK(g, "MPI_Allgather",
                 MPI_Allgather(in_place ? MPI_IN_PLACE : send, c, mpi_type(t), recv, c, mpi_type(t), mpi_comm(g)));
}

void comm_mpi_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  int c = mpi_count(g, "MPI_Alltoall", n);
  COMM_MPI_CHECK(g, "MPI_Alltoall",
                 MPI_Alltoall(send == recv ? MPI_IN_PLACE : send, c, mpi_type(t), recv, c, mpi_type(t), mpi_comm(g)));
}

void comm_mpi_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                        void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t) {
  TSR_ASSERT(send != recv, "alltoallv on group %s: send and recv must differ", g->name);
  int p = g->size, *sc = g->v_counts, *sd = sc + p, *rc = sd + p, *rd = rc + p;
  for (int j = 0; j < p; j++) {
    sc[j] = mpi_count(g, "MPI_Alltoallv", send_counts[j]);
    sd[j] = mpi_count(g, "MPI_Alltoallv", send_displs[j]);
    rc[j] = mpi_count(g, "MPI_Alltoallv", recv_counts[j]);
    rd[j] = mpi_count(g, "MPI_Alltoallv", recv_displs[j]);
  }
  COMM_MPI_CHECK(g, "MPI_Alltoallv", MPI_Alltoallv(send, sc, sd, mpi_type(t), recv, rc, rd, mpi_type(t), mpi_comm(g)));
}

void comm_mpi_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root) {
  size_t es = comm_type_size(t);
  if (n == 0) COMM_MPI_CHECK(g, "MPI_Bcast", MPI_Bcast(buf, 0, mpi_type(t), root, mpi_comm(g)));  // still checks root
  for (size_t off = 0; off < n; off += CHUNK) {
    size_t c = n - off < CHUNK ? n - off : CHUNK;
    COMM_MPI_CHECK(g, "MPI_Bcast", MPI_Bcast((char *)buf + off * es, (int)c, mpi_type(t), root, mpi_comm(g)));
  }
}

void comm_mpi_bcast_bytes(CommGroup *g, void *buf, size_t bytes, int root) {
  COMM_MPI_CHECK(g, "MPI_Bcast", MPI_Bcast(buf, mpi_count(g, "MPI_Bcast", bytes), MPI_BYTE, root, mpi_comm(g)));
}

void comm_mpi_barrier(CommGroup *g) { COMM_MPI_CHECK(g, "MPI_Barrier", MPI_Barrier(mpi_comm(g))); }

_Static_assert(sizeof(MPI_Request) <= sizeof(((CommRequest *)0)->mpi_req[0]), "CommRequest too small for MPI_Request");

void comm_mpi_sendrecv_start(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                             CommType t, int tag, CommRequest *req) {
  MPI_Request *r = (MPI_Request *)req->mpi_req[0], *s = (MPI_Request *)req->mpi_req[1];
  COMM_MPI_CHECK(g, "MPI_Irecv",
                 MPI_Irecv(recv, mpi_count(g, "MPI_Irecv", nr), mpi_type(t), src, tag, mpi_comm(g), r));
  COMM_MPI_CHECK(g, "MPI_Isend",
                 MPI_Isend(send, mpi_count(g, "MPI_Isend", ns), mpi_type(t), dest, tag, mpi_comm(g), s));
  req->pending = 2;
}

// ---- Ring reduce-scatter and ring all-reduce (non-blocking, progressed by
// comm_mpi_test/wait).
// Reduce-scatter: rank r's block j (counts[j] elements at displs[j]) travels
// the ring and ends at rank j: at step k (0..p-2) rank r sends its partial sum
// of block (r-k-1) mod p to r+1 and receives block (r-k-2) mod p from r-1,
// adding its own share (MPI_Reduce_local: own + received). Block j's sum is
// therefore always g[j+1] + ... in ring order from rank j+1, whatever the
// counts, so a buffer reduced in buckets gets the same bits as reduced at
// once. Each rank sends every block but its own: sum_{j != r} counts[j].
// All-reduce (in place, blocks of n/p, the first n mod p one longer): the same
// p-1 steps, the partial sums kept in the buffer itself (received + own, into
// block (r-k-2)), then p-1 allgather steps (block (r-k) mod p to r+1, block
// (r-k-1) from r-1, straight into place). Each element's sum is taken in one
// fixed order that depends only on n and p -- never on MPI's algorithm choice
// -- so the blocking and the non-blocking call give the same bits on any group
// size. Sends 2n - counts[r] - counts[r+1] elements: 2 (p-1) n / p when p
// divides n (the accounting's convention, comm.h).
typedef struct {
  int p, r, step, nsteps;  // step: ring steps completed of nsteps (p-1, or 2 (p-1) for an all-reduce)
  int tag;
  int ar;                  // 1: all-reduce in place on data
  CommType t;
  CommOp op;
  size_t es;
  size_t *cnt, *dsp;     // [p] elements
  const char *send;
  char *recv;
  char *data;            // the all-reduce's buffer
  char *buf[2];          // received partial sums (double-buffered: one is in flight as the next send; all-reduce: buf[0] only)
  int own_buf;           // 1: buf was allocated for this call, 0: it is the group's ring_scratch
  MPI_Request rq[2];     // receive, send of the step in flight
} Ring;

enum { TAG_RING = 1 << 14 };  // above the point-to-point tags of ring attention (src/model/ring.c)

static int ring_mod(int x, int p) { return ((x % p) + p) % p; }

static void ring_post(CommGroup *g, Ring *s) {
  const int p = s->p, k = s->step;
  const int next = (s->r + 1) % p, prev = (s->r + p - 1) % p;
  const MPI_Datatype dt = mpi_type(s->t);
  const char *src;
  char *dst;
  int sb, rb;
  if (k < p - 1) {  // reduce-scatter step
    sb = ring_mod(s->r - k - 1, p), rb = ring_mod(s->r - k - 2, p);
    if (s->ar) {
      src = s->data + s->dsp[sb] * s->es, dst = s->buf[0];
    } else {
      src = k == 0 ? s->send + s->dsp[sb] * s->es : s->buf[(k - 1) & 1], dst = s->buf[k & 1];
    }
  } else {  // all-reduce's allgather step
    const int j = k - (p - 1);
    sb = ring_mod(s->r - j, p), rb = ring_mod(s->r - j - 1, p);
    src = s->data + s->dsp[sb] * s->es, dst = s->data + s->dsp[rb] * s->es;
  }
  COMM_MPI_CHECK(g, "MPI_Irecv",
                 MPI_Irecv(dst, mpi_count(g, "MPI_Irecv", s->cnt[rb]), dt, prev, s->tag, mpi_comm(g), &s->rq[0]));
  COMM_MPI_CHECK(g, "MPI_Isend",
                 MPI_Isend(src, mpi_count(g, "MPI_Isend", s->cnt[sb]), dt, next, s->tag, mpi_comm(g), &s->rq[1]));
}

// The step in flight is done: add this rank's share (reduce-scatter steps);
// post the next step or finish.
static void ring_advance(CommGroup *g, Ring *s) {
  const int p = s->p, k = s->step;
  if (k < p - 1) {
    const int rb = ring_mod(s->r - k - 2, p);
    if (s->cnt[rb]) {
      const int c = mpi_count(g, "MPI_Reduce_local", s->cnt[rb]);
      if (s->ar)  // block rb <- received op own
        COMM_MPI_CHECK(g, "MPI_Reduce_local",
                       MPI_Reduce_local(s->buf[0], s->data + s->dsp[rb] * s->es, c, mpi_type(s->t), mpi_op(s->op)));
      else  // received <- own + received
        COMM_MPI_CHECK(g, "MPI_Reduce_local",
                       MPI_Reduce_local(s->send + s->dsp[rb] * s->es, s->buf[k & 1], c, mpi_type(s->t), MPI_SUM));
    }
    if (!s->ar && k + 1 == p - 1) memcpy(s->recv, s->buf[k & 1], s->cnt[s->r] * s->es);  // rb == r: complete
  }
  s->step++;
  if (s->step < s->nsteps) ring_post(g, s);
}

// Counts, displacements and scratch of a ring. Reduce-scatter: counts[j], or
// n each when counts is NULL; all-reduce (ar): n split into p blocks of n/p,
// the first n mod p one element longer.
static Ring *ring_new(CommGroup *g, const size_t *counts, size_t n, CommType t, int ar) {
  const int p = g->size;
  Ring *s = tsr_calloc(1, sizeof *s);
  s->t = t, s->p = p, s->r = g->rank, s->es = comm_type_size(t), s->ar = ar;
  s->nsteps = ar ? 2 * (p - 1) : p - 1;
  s->tag = TAG_RING + (int)(g->nb_seq++ % TAG_RING);  // one tag per collective: concurrent ones never cross
  s->cnt = tsr_calloc(2 * (size_t)p, sizeof(size_t));
  s->dsp = s->cnt + p;
  size_t most = 0, at = 0;
  for (int j = 0; j < p; j++) {
    s->cnt[j] = ar ? n / (size_t)p + ((size_t)j < n % (size_t)p) : counts ? counts[j] : n;
    s->dsp[j] = at;
    at += s->cnt[j];
    if (s->cnt[j] > most) most = s->cnt[j];
  }
  // The group's scratch when free (the blocking calls allocate nothing after the first), else a buffer of its own.
  const size_t need = (ar ? 1 : 2) * (most ? most : 1) * s->es;
  if (!g->ring_scratch_busy && g->ring_scratch_bytes < need) {
    tsr_free(g->ring_scratch);
    g->ring_scratch = tsr_calloc(need, 1), g->ring_scratch_bytes = need;
  }
  s->own_buf = g->ring_scratch_busy;
  s->buf[0] = s->own_buf ? tsr_calloc(need, 1) : g->ring_scratch;
  g->ring_scratch_busy = 1;
  s->buf[1] = ar ? NULL : s->buf[0] + most * s->es;
  return s;
}

void comm_mpi_ireduce_scatter(CommGroup *g, const void *send, void *recv, const size_t *counts, size_t n, CommType t,
                              CommRequest *req) {
  Ring *s = ring_new(g, counts, n, t, 0);
  s->send = send, s->recv = recv;
  req->g = g, req->ring = s, req->pending = 1;
  ring_post(g, s);
}

static void ring_free(CommRequest *req) {
  Ring *s = req->ring;
  if (s->own_buf) {
    tsr_free(s->buf[0]);
  } else {
    req->g->ring_scratch_busy = 0;
  }
  tsr_free(s->cnt);
  tsr_free(s);
  req->ring = NULL;
  req->pending = 0;
}

void comm_mpi_iallgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  int c = mpi_count(g, "MPI_Iallgather", n);
  int in_place = send == (const char *)recv + (size_t)g->rank * n * comm_type_size(t);
  req->g = g, req->ring = NULL;
  COMM_MPI_CHECK(g, "MPI_Iallgather",
                 MPI_Iallgather(in_place ? MPI_IN_PLACE : send, c, mpi_type(t), recv, c, mpi_type(t), mpi_comm(g),
                                (MPI_Request *)req->mpi_req[0]));
  req->pending = 1;
}

void comm_mpi_iallreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op, CommRequest *req) {
  Ring *s = ring_new(g, NULL, n, t, 1);
  s->op = op, s->data = buf;
  req->g = g, req->ring = s, req->pending = 1;
  ring_post(g, s);
}

void comm_mpi_ialltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  TSR_ASSERT(send != recv, "ialltoall on group %s: send and recv must differ", g->name);
  int c = mpi_count(g, "MPI_Ialltoall", n);
  req->g = g, req->ring = NULL;
  COMM_MPI_CHECK(g, "MPI_Ialltoall",
                 MPI_Ialltoall(send, c, mpi_type(t), recv, c, mpi_type(t), mpi_comm(g), (MPI_Request *)req->mpi_req[0]));
  req->pending = 1;
}

int comm_mpi_test(CommRequest *req) {
  if (!req->pending) return 1;
  if (req->ring) {
    Ring *s = req->ring;
    for (;;) {  // as many ring steps as have arrived
      int done = 0;
      COMM_MPI_CHECK(req->g, "MPI_Testall", MPI_Testall(2, s->rq, &done, MPI_STATUSES_IGNORE));
      if (!done) return 0;
      ring_advance(req->g, s);
      if (s->step == s->nsteps) {
        ring_free(req);
        return 1;
      }
    }
  }
  MPI_Request r[2];
  memcpy(&r[0], req->mpi_req[0], sizeof r[0]);
  memcpy(&r[1], req->mpi_req[1], sizeof r[1]);
  int done = 0;
  COMM_MPI_CHECK(req->g, "MPI_Testall", MPI_Testall(req->pending, r, &done, MPI_STATUSES_IGNORE));
  memcpy(req->mpi_req[0], &r[0], sizeof r[0]);
  memcpy(req->mpi_req[1], &r[1], sizeof r[1]);
  if (done) req->pending = 0;
  return done;
}

void comm_mpi_wait(CommRequest *req) {
  if (!req->pending) return;
  if (req->ring) {
    Ring *s = req->ring;
    while (s->step < s->nsteps) {
      COMM_MPI_CHECK(req->g, "MPI_Waitall", MPI_Waitall(2, s->rq, MPI_STATUSES_IGNORE));
      ring_advance(req->g, s);
    }
    ring_free(req);
    return;
  }
  MPI_Request r[2];
  memcpy(&r[0], req->mpi_req[0], sizeof r[0]);
  memcpy(&r[1], req->mpi_req[1], sizeof r[1]);
  COMM_MPI_CHECK(req->g, "MPI_Waitall", MPI_Waitall(req->pending, r, MPI_STATUSES_IGNORE));
  req->pending = 0;
}

int comm_mpi_local_rank(void) {
  CommGroup world = {.name = "world", .rank = g_world_rank, .size = g_world_size};
  MPI_Comm node;
  int r = 0;
  COMM_MPI_CHECK(&world, "MPI_Comm_split_type",
                 MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world_rank, MPI_INFO_NULL, &node));
  COMM_MPI_CHECK(&world, "MPI_Comm_rank", MPI_Comm_rank(node, &r));
  COMM_MPI_CHECK(&world, "MPI_Comm_free", MPI_Comm_free(&node));
  return r;
}

#else  // a build without MPI: one process, every group is {0 of 1}

void comm_mpi_init(int *argc, char ***argv) {}
void comm_mpi_finalize(void) { tsr_shutdown(); }

static void group_single(CommGroup *g, const char *name) {
  snprintf(g->name, sizeof g->name, "%s", name);
  g->rank = 0, g->size = 1, g->mpi = NULL;
}
void comm_mpi_group_world(CommGroup *g) { group_single(g, "world"); }
void comm_mpi_group_split(const CommGroup *parent, int color, int key, const char *name, CommGroup *out) {
  group_single(out, name);
}
void comm_mpi_group_free(CommGroup *g) {}
// Groups of size 1 never reach the backend (comm.c).
#define UNREACHABLE(call) comm_fail(g, call, "no MPI in this build")
void comm_mpi_allreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op) { UNREACHABLE("allreduce"); }
void comm_mpi_reduce_scatter(CommGroup *g, const void *send, void *recv, size_t n, CommType t) {
  UNREACHABLE("reduce_scatter");
}
void comm_mpi_allgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t) { UNREACHABLE("allgather"); }
void comm_mpi_alltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t) { UNREACHABLE("alltoall"); }
void comm_mpi_alltoallv(CommGroup *g, const void *send, const size_t *send_counts, const size_t *send_displs,
                        void *recv, const size_t *recv_counts, const size_t *recv_displs, CommType t) {
  UNREACHABLE("alltoallv");
}
void comm_mpi_bcast(CommGroup *g, void *buf, size_t n, CommType t, int root) { UNREACHABLE("bcast"); }
void comm_mpi_bcast_bytes(CommGroup *g, void *buf, size_t bytes, int root) {}
void comm_mpi_barrier(CommGroup *g) {}
void comm_mpi_sendrecv_start(CommGroup *g, const void *send, size_t ns, int dest, void *recv, size_t nr, int src,
                             CommType t, int tag, CommRequest *req) {
  UNREACHABLE("sendrecv");
}
void comm_mpi_wait(CommRequest *req) {}
void comm_mpi_ireduce_scatter(CommGroup *g, const void *send, void *recv, const size_t *counts, size_t n, CommType t,
                              CommRequest *req) {
  UNREACHABLE("ireduce_scatter");
}
void comm_mpi_iallgather(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  UNREACHABLE("iallgather");
}
void comm_mpi_iallreduce(CommGroup *g, void *buf, size_t n, CommType t, CommOp op, CommRequest *req) {
  UNREACHABLE("iallreduce");
}
void comm_mpi_ialltoall(CommGroup *g, const void *send, void *recv, size_t n, CommType t, CommRequest *req) {
  UNREACHABLE("ialltoall");
}
int comm_mpi_test(CommRequest *req) { return 1; }
int comm_mpi_local_rank(void) { return 0; }
#endif
