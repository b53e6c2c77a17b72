// src/comm at any world size (tests/test_comm.sh runs it at 1..4 ranks and as
// a plain singleton). For every layout (dp, sp, tp) whose product is the world
// size, and every group of it:
//  - the group's members are the world ranks the layout formula names, in order;
//  - every collective gives the answer computed here from the formula that
//    filled the buffers: value(rank, index) is known for every rank, so each
//    rank computes the whole expected result locally, with no communication;
//  - the byte counters follow the convention of docs/parallel.md, restated
//    here independently of comm_bytes_expected.
// Other modes are the failure cases (exit status and message checked by the
// script): --bad-layout, --die-before-allreduce, --bad-root, --nccl.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app_error.h"
#include "comm/comm.h"
#include "core/error.h"
#include "testlib.h"
#ifdef TSR_HAVE_NCCL
#include <cuda_runtime_api.h>
#endif

// ---------------------------------------------------------------- buffers
// Collectives run on "work" buffers: host memory, or device memory in the
// NCCL mode; the checks always read host copies.
static int g_on_device = 0;

static void *work_alloc(size_t bytes) {
#ifdef TSR_HAVE_NCCL
  if (g_on_device) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) { fprintf(stderr, "cudaMalloc failed\n"); exit(1); }
    return p;
  }
#endif
  return tsr_calloc(bytes ? bytes : 1, 1);
}
static void work_free(void *p) {
#ifdef TSR_HAVE_NCCL
  if (g_on_device) { cudaFree(p); return; }
#endif
  tsr_free(p);
}
static void put(void *work, const void *host, size_t bytes) {
#ifdef TSR_HAVE_NCCL
  if (g_on_device) { cudaMemcpy(work, host, bytes, cudaMemcpyHostToDevice); return; }
#endif
  memcpy(work, host, bytes);
}
static void get(void *host, const void *work, size_t bytes, CommGroup *g) {
  comm_sync(g);
#ifdef TSR_HAVE_NCCL
  if (g_on_device) { cudaMemcpy(host, work, bytes, cudaMemcpyDeviceToHost); return; }
#endif
  memcpy(host, work, bytes);
}

// ---------------------------------------------------------------- values
// Small integers, so float sums over <= 8 ranks are exact and u8 sums fit.
static long value(int rank, size_t i, int salt) { return (long)((rank * 37 + (long)i * 11 + salt * 5) % 29) - 9; }
static long value_u8(int rank, size_t i, int salt) { return (rank * 13 + (long)i * 7 + salt) % 31; }
static long val(CommType t, int rank, size_t i, int salt) {
  return t == COMM_U8 ? value_u8(rank, i, salt) : value(rank, i, salt);
}

static void set_elem(void *buf, CommType t, size_t i, long v) {
  switch (t) {
    case COMM_F32: ((float *)buf)[i] = (float)v; break;
    case COMM_F64: ((double *)buf)[i] = (double)v; break;
    case COMM_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case COMM_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    case COMM_U8: ((uint8_t *)buf)[i] = (uint8_t)v; break;
  }
}
static long get_elem(const void *buf, CommType t, size_t i) {
  switch (t) {
    case COMM_F32: return (long)((const float *)buf)[i];
    case COMM_F64: return (long)((const double *)buf)[i];
    case COMM_I32: return ((const int32_t *)buf)[i];
    case COMM_I64: return (long)((const int64_t *)buf)[i];
    case COMM_U8: return ((const uint8_t *)buf)[i];
  }
  return 0;
}

static const char *type_name[] = {"f32", "f64", "i32", "i64", "u8"};
static const CommType all_types[] = {COMM_F32, COMM_F64, COMM_I32, COMM_I64, COMM_U8};
static const size_t sizes[] = {0, 1, 7, 1000};

// Count mismatches of host[0..n) against expect(i); report the first.
#define CHECK_ELEMS(what, g, t, n, host, expect_expr)                                                      \
  do {                                                                                                    \
    size_t bad_ = 0, first_ = 0;                                                                          \
    long got_ = 0, want_ = 0;                                                                             \
    for (size_t i = 0; i < (n); i++) {                                                                    \
      long w_ = (expect_expr), v_ = get_elem((host), (t), i);                                             \
      if (v_ != w_ && bad_++ == 0) first_ = i, got_ = v_, want_ = w_;                                     \
    }                                                                                                     \
    EXPECT(bad_ == 0, "%s on group %s (rank %d of %d) %s n=%zu: %zu wrong, first [%zu] = %ld, want %ld", \
           (what), (g)->name, (g)->rank, (g)->size, type_name[t], (size_t)(n), bad_, first_, got_, want_); \
  } while (0)

// Bytes this rank sends, by the ring convention of docs/parallel.md (restated).
#define CHECK_BYTES(what, g, kind, want)                                                                        \
  do {                                                                                                          \
    uint64_t w_ = (want), got_ = (g)->stats.bytes[kind];                                                        \
    EXPECT(got_ == w_ && (g)->stats.calls[kind] == 1, "%s on group %s (size %d): counted %llu bytes in %llu calls, " \
           "convention says %llu in 1", (what), (g)->name, (g)->size, (unsigned long long)got_,               \
           (unsigned long long)(g)->stats.calls[kind], (unsigned long long)w_);                                 \
  } while (0)

// ---------------------------------------------------------------- collectives

// nb: the same through comm_iallreduce, waited (the same values and bytes).
static void check_allreduce(CommGroup *g, int nb) {
  int p = g->size;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (int op = COMM_SUM; op <= COMM_MIN; op++)
      for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        CommType t = all_types[k];
        size_t n = sizes[s], es = comm_type_size(t);
        uint8_t *host = tsr_calloc(n + 1, es);
        for (size_t i = 0; i < n; i++) set_elem(host, t, i, val(t, g->rank, i, op));
        void *work = work_alloc(n * es);
        put(work, host, n * es);
        comm_stats_reset(g);
        if (nb) {
          CommRequest req;
          comm_iallreduce(g, work, n, t, (CommOp)op, &req);
          comm_wait(&req);
        } else {
          comm_allreduce(g, work, n, t, (CommOp)op);
        }
        get(host, work, n * es, g);
        const char *what = op == COMM_SUM ? (nb ? "iallreduce sum" : "allreduce sum")
                           : op == COMM_MAX ? (nb ? "iallreduce max" : "allreduce max")
                                            : (nb ? "iallreduce min" : "allreduce min");
        CHECK_ELEMS(what, g, t, n, host, ({
                      long acc = val(t, 0, i, op);
                      for (int r = 1; r < p; r++) {
                        long v = val(t, r, i, op);
                        acc = op == COMM_SUM ? acc + v : op == COMM_MAX ? (v > acc ? v : acc) : (v < acc ? v : acc);
                      }
                      acc;
                    }));
        CHECK_BYTES(what, g, COMM_STAT_ALLREDUCE, (uint64_t)(2 * (p - 1) * n * es / p));
        work_free(work);
        tsr_free(host);
      }
}

// Host float sums whose order matters (magnitudes 1e-8 .. 1e8): comm_allreduce
// and comm_iallreduce (waited, and while other work is pending) must give the
// SAME bits on every group size, and exactly the ring order comm.h states:
// blocks of n/p (the first n mod p one longer); block j's element summed from
// rank j+1 round the ring, ((v[j+1] + v[j+2]) + ...) + v[j]. The independent
// answer is that order computed here from every rank's values; MPI's own
// MPI_Allreduce / MPI_Iallreduce may differ from it and from each other.
static double ord_val(int rank, size_t i) {
  static const double mag[] = {1e8, 1e-8, 3.3, -7e7, 1.1e-3, 2.5e4, -1e-6, 9.9e2};
  return mag[(rank * 3 + i) % 8] * (1.0 + 0.137 * (double)((rank * 7 + i * 13) % 11));
}
static void check_allreduce_order(CommGroup *g) {
  const int p = g->size;
  const size_t sizes_o[] = {1, 5, 1001, 4096};
  for (size_t si = 0; si < sizeof sizes_o / sizeof *sizes_o; si++)
    for (int f64 = 0; f64 <= 1; f64++)
      for (int mode = 0; mode < 3; mode++) {  // 0 blocking, 1 non-blocking waited, 2 non-blocking tested then waited
        const size_t n = sizes_o[si];
        float *a = tsr_calloc(n, sizeof(float));
        double *b = tsr_calloc(n, sizeof(double));
        for (size_t i = 0; i < n; i++) a[i] = (float)ord_val(g->rank, i), b[i] = ord_val(g->rank, i);
        void *buf = f64 ? (void *)b : (void *)a;
        const CommType t = f64 ? COMM_F64 : COMM_F32;
        comm_stats_reset(g);
        if (mode == 0) {
          comm_allreduce(g, buf, n, t, COMM_SUM);
        } else {
          CommRequest req;
          comm_iallreduce(g, buf, n, t, COMM_SUM, &req);
          if (mode == 2)
            for (int k = 0; k < 3; k++) comm_test(&req);
          comm_wait(&req);
        }
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < n; i++) {
          size_t q = n / (size_t)p, rem = n % (size_t)p, j = 0, at = 0;  // the block holding element i
          while (at + q + (j < rem) <= i) at += q + (j < rem), j++;
          float fa = 0;
          double da = 0;
          for (int k = 1; k <= p; k++) {
            int rk = (int)((j + (size_t)k) % (size_t)p);
            if (k == 1) fa = (float)ord_val(rk, i), da = ord_val(rk, i);
            else fa = fa + (float)ord_val(rk, i), da = da + ord_val(rk, i);
          }
          int ok = f64 ? memcmp(&b[i], &da, sizeof da) == 0 : memcmp(&a[i], &fa, sizeof fa) == 0;
          if (!ok && bad++ == 0) first = i;
        }
        EXPECT(bad == 0, "%s %s on group %s (rank %d of %d) n=%zu: %zu elements not in the ring's order, first [%zu]",
               mode == 0 ? "allreduce" : mode == 1 ? "iallreduce" : "iallreduce (tested)", f64 ? "f64" : "f32",
               g->name, g->rank, p, n, bad, first);
        CHECK_BYTES("allreduce (order)", g, COMM_STAT_ALLREDUCE,
                    (uint64_t)(2 * (uint64_t)(p - 1) * n * comm_type_size(t) / (uint64_t)p));
        tsr_free(a);
        tsr_free(b);
      }
}

static void check_reduce_scatter(CommGroup *g, int in_place) {
  int p = g->size;
  const char *what = in_place ? "reduce_scatter (in place)" : "reduce_scatter";
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t n = sizes[s], es = comm_type_size(t);
      uint8_t *host = tsr_calloc(p * n + 1, es);
      for (size_t i = 0; i < p * n; i++) set_elem(host, t, i, val(t, g->rank, i, 3));
      void *send = work_alloc(p * n * es), *recv = in_place ? send : work_alloc(n * es);
      put(send, host, p * n * es);
      comm_stats_reset(g);
      comm_reduce_scatter(g, send, recv, n, t);
      get(host, recv, n * es, g);
      // recv[i] = sum over ranks r of r's send[rank * n + i]
      CHECK_ELEMS(what, g, t, n, host, ({
                    long acc = 0;
                    for (int r = 0; r < p; r++) acc += val(t, r, g->rank * n + i, 3);
                    acc;
                  }));
      CHECK_BYTES(what, g, COMM_STAT_REDUCE_SCATTER, (uint64_t)(p - 1) * n * es);
      if (!in_place) work_free(recv);
      work_free(send);
      tsr_free(host);
    }
}

static void check_allgather(CommGroup *g, int in_place) {
  int p = g->size;
  const char *what = in_place ? "allgather (in place)" : "allgather";
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t n = sizes[s], es = comm_type_size(t);
      uint8_t *host = tsr_calloc(p * n + 1, es);
      for (size_t i = 0; i < n; i++) set_elem(host, t, i, val(t, g->rank, i, 4));
      void *recv = work_alloc(p * n * es);
      void *send = in_place ? (char *)recv + g->rank * n * es : work_alloc(n * es);
      put(send, host, n * es);
      comm_stats_reset(g);
      comm_allgather(g, send, recv, n, t);
      get(host, recv, p * n * es, g);
      CHECK_ELEMS(what, g, t, p * n, host, val(t, (int)(i / (n ? n : 1)), i % (n ? n : 1), 4));
      CHECK_BYTES(what, g, COMM_STAT_ALLGATHER, (uint64_t)(p - 1) * n * es);
      if (!in_place) work_free(send);
      work_free(recv);
      tsr_free(host);
    }
}

// Block j of rank r's send buffer, element i: value(r, j * 1000 + i). Rank r
// receives block j from rank j: value(j, r * 1000 + i).
// nb: comm_ialltoall, polled with comm_test (not in place).
static void check_alltoall(CommGroup *g, int in_place, int nb) {
  int p = g->size;
  const char *what = nb ? "ialltoall" : in_place ? "alltoall (in place)" : "alltoall";
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t n = sizes[s], es = comm_type_size(t);
      uint8_t *host = tsr_calloc(p * n + 1, es);
      for (int j = 0; j < p; j++)
        for (size_t i = 0; i < n; i++) set_elem(host, t, j * n + i, val(t, g->rank, j * 1000 + i, 5));
      void *send = work_alloc(p * n * es), *recv = in_place ? send : work_alloc(p * n * es);
      put(send, host, p * n * es);
      comm_stats_reset(g);
      if (nb) {
        CommRequest req;
        comm_ialltoall(g, send, recv, n, t, &req);
        while (!comm_test(&req)) {}
      } else {
        comm_alltoall(g, send, recv, n, t);
      }
      get(host, recv, p * n * es, g);
      size_t nn = n ? n : 1;
      CHECK_ELEMS(what, g, t, p * n, host, val(t, (int)(i / nn), g->rank * 1000 + i % nn, 5));
      CHECK_BYTES(what, g, COMM_STAT_ALLTOALL, (uint64_t)(p - 1) * n * es);
      if (!in_place) work_free(recv);
      work_free(send);
      tsr_free(host);
    }
}

// Rank `from` sends count(from, to) elements to rank `to`: value(from, to * 1000 + i).
static size_t v_count(int from, int to, int scale) { return (size_t)((2 * from + to) % 3) * scale + (from == to); }

static void check_alltoallv(CommGroup *g) {
  int p = g->size;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (int scale = 0; scale <= 50; scale += 25) {
      CommType t = all_types[k];
      size_t es = comm_type_size(t);
      size_t sc[64], sd[64], rc[64], rd[64], stot = 0, rtot = 0, off_rank = 0;
      TSR_ASSERT(p <= 64, "test supports groups up to 64");
      for (int j = 0; j < p; j++) {
        sc[j] = v_count(g->rank, j, scale), sd[j] = stot, stot += sc[j];
        rc[j] = v_count(j, g->rank, scale), rd[j] = rtot, rtot += rc[j];
        if (j != g->rank) off_rank += sc[j];
      }
      uint8_t *host = tsr_calloc((stot > rtot ? stot : rtot) + 1, es);
      for (int j = 0; j < p; j++)
        for (size_t i = 0; i < sc[j]; i++) set_elem(host, t, sd[j] + i, val(t, g->rank, j * 1000 + i, 6));
      void *send = work_alloc(stot * es), *recv = work_alloc(rtot * es);
      put(send, host, stot * es);
      comm_stats_reset(g);
      comm_alltoallv(g, send, sc, sd, recv, rc, rd, t);
      get(host, recv, rtot * es, g);
      CHECK_ELEMS("alltoallv", g, t, rtot, host, ({
                    int from = 0;
                    while (from + 1 < p && rd[from + 1] <= i) from++;
                    val(t, from, g->rank * 1000 + (i - rd[from]), 6);
                  }));
      CHECK_BYTES("alltoallv", g, COMM_STAT_ALLTOALL, (uint64_t)off_rank * es);
      work_free(send);
      work_free(recv);
      tsr_free(host);
    }
}

static void check_bcast(CommGroup *g) {
  int p = g->size;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (int root = 0; root < p; root++) {
      CommType t = all_types[k];
      size_t n = 333, es = comm_type_size(t);
      uint8_t *host = tsr_calloc(n, es);
      for (size_t i = 0; i < n; i++) set_elem(host, t, i, g->rank == root ? val(t, root, i, 7) : 99);
      void *work = work_alloc(n * es);
      put(work, host, n * es);
      comm_stats_reset(g);
      comm_bcast(g, work, n, t, root);
      get(host, work, n * es, g);
      CHECK_ELEMS("bcast", g, t, n, host, val(t, root, i, 7));
      CHECK_BYTES("bcast", g, COMM_STAT_BCAST, p > 1 && g->rank == root ? (uint64_t)n * es : 0);
      work_free(work);
      tsr_free(host);
    }
}

// Point-to-point round a ring (ring attention's pattern): every rank sends to
// rank+1 and receives from rank-1, two exchanges in flight at once on
// different tags, completed in the opposite order they were started.
static void check_sendrecv(CommGroup *g) {
  int p = g->size, next = (g->rank + 1) % p, prev = (g->rank + p - 1) % p;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t n = sizes[s], es = comm_type_size(t);
      uint8_t *host = tsr_calloc(n + 1, es), *host2 = tsr_calloc(n + 1, es);
      for (size_t i = 0; i < n; i++) set_elem(host, t, i, val(t, g->rank, i, 3));
      for (size_t i = 0; i < n; i++) set_elem(host2, t, i, val(t, g->rank, i, 8));
      void *a = work_alloc((n + 1) * es), *b = work_alloc((n + 1) * es), *ra = work_alloc((n + 1) * es),
           *rb = work_alloc((n + 1) * es);
      put(a, host, n * es), put(b, host2, n * es);
      comm_stats_reset(g);
      CommRequest r1, r2;
      comm_sendrecv_start(g, a, n, next, ra, n, prev, t, 1, &r1);
      comm_sendrecv_start(g, b, n, next, rb, n, prev, t, 2, &r2);
      comm_wait(&r2);
      comm_wait(&r1);
      get(host, ra, n * es, g);
      get(host2, rb, n * es, g);
      CHECK_ELEMS("sendrecv (tag 1)", g, t, n, host, val(t, prev, i, 3));
      CHECK_ELEMS("sendrecv (tag 2)", g, t, n, host2, val(t, prev, i, 8));
      uint64_t w = p > 1 ? 2 * (uint64_t)n * es : 0, got = g->stats.bytes[COMM_STAT_P2P];
      EXPECT(got == w && g->stats.calls[COMM_STAT_P2P] == 2, "sendrecv on group %s: counted %llu bytes, want %llu",
             g->name, (unsigned long long)got, (unsigned long long)w);
      work_free(a), work_free(b), work_free(ra), work_free(rb);
      tsr_free(host), tsr_free(host2);
    }
}

// ---------------------------------------------------------------- non-blocking

// Variable blocks, some empty: rank j keeps vr_count(j, scale) elements.
static size_t vr_count(int j, size_t scale) { return (size_t)((j * 5 + 1) % 3) * scale; }

// comm_ireduce_scatterv against the formula (sum over ranks), with comm_test
// polled until done on odd sizes and comm_wait on even ones; bytes: every
// block but this rank's.
static void check_ireduce_scatterv(CommGroup *g) {
  int p = g->size;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t scale = sizes[s], es = comm_type_size(t), counts[64], at = 0, mine = 0, total = 0;
      for (int j = 0; j < p; j++) {
        counts[j] = g_on_device ? scale : vr_count(j, scale);  // NCCL: equal blocks only
        if (j == g->rank) mine = at;
        at += counts[j];
      }
      total = at;
      uint8_t *host = tsr_calloc(total + 1, es);
      for (size_t i = 0; i < total; i++) set_elem(host, t, i, val(t, g->rank, i, 6));
      void *send = work_alloc(total * es), *recv = work_alloc(counts[g->rank] * es + 1);
      put(send, host, total * es);
      comm_stats_reset(g);
      CommRequest req;
      comm_ireduce_scatterv(g, send, recv, counts, t, &req);
      if (s % 2) {
        while (!comm_test(&req)) {}
      } else {
        comm_wait(&req);
      }
      EXPECT(comm_test(&req) == 1, "ireduce_scatterv on group %s: comm_test after completion", g->name);
      get(host, recv, counts[g->rank] * es, g);
      CHECK_ELEMS("ireduce_scatterv", g, t, counts[g->rank], host, ({
                    long acc = 0;
                    for (int r = 0; r < p; r++) acc += val(t, r, mine + i, 6);
                    acc;
                  }));
      CHECK_BYTES("ireduce_scatterv", g, COMM_STAT_REDUCE_SCATTER, (uint64_t)(total - counts[g->rank]) * es);
      work_free(send), work_free(recv);
      tsr_free(host);
    }
}

// Floats whose sum depends on the order of addition (magnitudes 1e-3..1e3).
static float ugly(int rank, size_t i) { return (float)((double)((rank * 7919 + (long)i * 104729) % 1000 - 500) * 1e-3 *
                                                       (double)(1 << ((rank + i) % 21))); }

// ZeRO's overlap relies on it: a buffer reduce-scattered in buckets (several in
// flight at once, each rank's part of a bucket inside its own block) gives the
// same bits as one blocking comm_reduce_scatter.
static void check_bucketed_bits(CommGroup *g) {
  if (g_on_device || g->size == 1) return;
  const int p = g->size;
  const size_t n = 1000, total = (size_t)p * n, cuts[] = {0, 1, 333, 999, 1000, 1001, 1700, total - 5, total};
  const int ncuts = sizeof cuts / sizeof *cuts;
  float *grad = tsr_calloc(total, sizeof(float)), *once = tsr_calloc(n, sizeof(float)),
        *bucketed = tsr_calloc(n, sizeof(float));
  for (size_t i = 0; i < total; i++) grad[i] = ugly(g->rank, i);
  comm_reduce_scatter(g, grad, once, n, COMM_F32);
  CommRequest req[16];
  int nreq = 0;
  for (int c = ncuts - 1; c > 0; c--) {  // from the end, as the backward finishes them
    size_t a = cuts[c - 1] < total ? cuts[c - 1] : total, b = cuts[c] < total ? cuts[c] : total, counts[64];
    if (a >= b) continue;
    for (int j = 0; j < p; j++) {
      size_t lo = n * (size_t)j, hi = lo + n, x = a > lo ? a : lo, y = b < hi ? b : hi;
      counts[j] = y > x ? y - x : 0;
    }
    size_t lo = n * (size_t)g->rank;
    comm_ireduce_scatterv(g, grad + a, bucketed + (a > lo && a < lo + n ? a - lo : 0), counts, COMM_F32, &req[nreq++]);
    comm_test(&req[0]);
  }
  for (int i = nreq - 1; i >= 0; i--) comm_wait(&req[i]);
  EXPECT(!memcmp(once, bucketed, n * sizeof(float)),
         "bucketed reduce-scatter on group %s (rank %d of %d): not the bits of the blocking one", g->name, g->rank, p);
  tsr_free(grad), tsr_free(once), tsr_free(bucketed);
}

static void check_iallgather(CommGroup *g) {
  int p = g->size;
  for (size_t k = 0; k < sizeof all_types / sizeof *all_types; k++)
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
      CommType t = all_types[k];
      size_t n = sizes[s], es = comm_type_size(t);
      uint8_t *host = tsr_calloc(p * n + 1, es);
      for (size_t i = 0; i < n; i++) set_elem(host, t, i, val(t, g->rank, i, 7));
      void *recv = work_alloc(p * n * es), *send = (char *)recv + g->rank * n * es;  // in place, as zero.c
      put(send, host, n * es);
      comm_stats_reset(g);
      CommRequest req;
      comm_iallgather(g, send, recv, n, t, &req);
      while (!comm_test(&req)) {}
      get(host, recv, p * n * es, g);
      CHECK_ELEMS("iallgather", g, t, p * n, host, val(t, (int)(i / (n ? n : 1)), i % (n ? n : 1), 7));
      CHECK_BYTES("iallgather", g, COMM_STAT_ALLGATHER, (uint64_t)(p - 1) * n * es);
      work_free(recv);
      tsr_free(host);
    }
}

// The group's members, gathered over the group itself, are the world ranks
// the layout formula says, in group-rank order.
static void check_members(CommGroup *g, const int *want, int want_size, int want_rank) {
  EXPECT(g->size == want_size && g->rank == want_rank, "group %s: rank %d of %d, want %d of %d", g->name, g->rank,
         g->size, want_rank, want_size);
  if (g->size != want_size) return;
  int32_t me = comm_world_rank(), got[64];
  comm_allgather(g, &me, got, 1, COMM_I32);
  for (int j = 0; j < want_size; j++)
    EXPECT(got[j] == want[j], "group %s: member %d is world rank %d, want %d", g->name, j, got[j], want[j]);
}

static void check_layout(int dp, int sp, int tp) {
  CommContext cc;
  comm_layout(&cc, dp, sp, tp, "test_comm");
  int r = comm_world_rank();
  int d = cc.dp_rank, s = cc.sp_rank, t = cc.tp_rank;
  EXPECT((d * sp + s) * tp + t == r && d < dp && s < sp && t < tp,
         "layout %dx%dx%d: rank %d has coordinates dp %d sp %d tp %d", dp, sp, tp, r, d, s, t);
  EXPECT(cc.world.size == comm_world_size() && cc.world.rank == r, "world group %d of %d", cc.world.rank,
         cc.world.size);
#define WR(dd, ss, tt) (((dd) * sp + (ss)) * tp + (tt))
  int m[64], k;
  k = 0; for (int j = 0; j < tp; j++) m[k++] = WR(d, s, j);
  check_members(&cc.tp_group, m, tp, t);
  k = 0; for (int j = 0; j < sp; j++) m[k++] = WR(d, j, t);
  check_members(&cc.sp_group, m, sp, s);
  k = 0; for (int j = 0; j < dp; j++) m[k++] = WR(j, s, t);
  check_members(&cc.dp_group, m, dp, d);
  k = 0; for (int js = 0; js < sp; js++) for (int jt = 0; jt < tp; jt++) m[k++] = WR(d, js, jt);
  check_members(&cc.mp_group, m, sp * tp, s * tp + t);
  k = 0; for (int jd = 0; jd < dp; jd++) for (int js = 0; js < sp; js++) m[k++] = WR(jd, js, t);
  check_members(&cc.dpsp_group, m, dp * sp, d * sp + s);
#undef WR

  CommGroup *groups[] = {&cc.world, &cc.tp_group, &cc.sp_group, &cc.dp_group, &cc.mp_group, &cc.dpsp_group};
  int before = tl_failures;
  for (size_t i = 0; i < 6; i++) {
    CommGroup *g = groups[i];
    if (g_on_device) comm_group_use_nccl(g, NULL);
    check_allreduce(g, 0);
    check_allreduce(g, 1);
    if (!g_on_device) check_allreduce_order(g);
    check_reduce_scatter(g, 0);
    check_reduce_scatter(g, 1);
    check_allgather(g, 0);
    check_allgather(g, 1);
    if (!g_on_device) check_alltoall(g, 1, 0);  // NCCL has no in-place alltoall
    check_alltoall(g, 0, 0);
    check_alltoall(g, 0, 1);
    check_alltoallv(g);
    check_bcast(g);
    check_sendrecv(g);
    check_ireduce_scatterv(g);
    check_bucketed_bits(g);
    check_iallgather(g);
    comm_barrier(g);
  }
  if (r == 0)
    printf("  %s layout dp %d x sp %d x tp %d: every group and collective %s\n", g_on_device ? "nccl" : "mpi ", dp,
           sp, tp, tl_failures == before ? "ok" : "FAILED");
  comm_free(&cc);
}

// ---------------------------------------------------------------- failure modes

static int failure_mode(const char *mode) {
  CommContext cc;
  if (!strcmp(mode, "--bad-layout")) {  // dp*sp*tp != world: tp = 3 (2 at 3 ranks)
    TsrErr err;  // refused as a command would refuse it: one message, every rank exits 2 (app_fail)
    if (comm_layout_check(1, 1, comm_world_size() == 3 ? 2 : 3, "configs/bad.yaml", &err)) app_fail(&err);
    return 0;  // not reached
  }
  comm_layout(&cc, comm_world_size(), 1, 1, "test_comm");
  if (!strcmp(mode, "--die-before-allreduce")) {  // rank 1 dies; the others wait in an allreduce
    if (comm_world_rank() == 1) raise(SIGKILL);
    float x = 1;
    comm_allreduce(&cc.world, &x, 1, COMM_F32, COMM_SUM);
    return 0;
  }
  if (!strcmp(mode, "--bad-root")) {  // MPI reports an invalid root: named, then every rank aborts
    float x = 1;
    comm_bcast(&cc.world, &x, 1, COMM_F32, cc.world.size + 5);
    return 0;
  }
  if (!strcmp(mode, "--nccl-refused")) {  // on a machine without a GPU: one clear user error, exit 2
    TsrErr err;  // refused as a command refuses it
    if (comm_nccl_check(&err)) app_fail(&err);
    comm_group_use_nccl(&cc.world, NULL);
    return 0;
  }
  fprintf(stderr, "test_comm: unknown mode %s\n", mode);
  return 1;
}

int main(int argc, char **argv) {
  EXPECT(comm_world_rank() == 0 && comm_world_size() == 1, "before comm_init: rank %d of %d, want 0 of 1",
         comm_world_rank(), comm_world_size());
  comm_init(&argc, &argv);
  comm_init(&argc, &argv);  // idempotent
  const char *env = getenv("OMPI_COMM_WORLD_SIZE");  // set by mpirun; absent for a singleton
  int want_size = env ? atoi(env) : 1;
  EXPECT(comm_world_size() == want_size, "world size %d, mpirun says %d", comm_world_size(), want_size);
  if (argc > 1 && strcmp(argv[1], "--nccl")) return failure_mode(argv[1]);
  g_on_device = argc > 1;  // --nccl: the same checks on device buffers (needs a GPU)

  int w = comm_world_size();
  for (int dp = 1; dp <= w; dp++)
    for (int sp = 1; sp <= w; sp++)
      for (int tp = 1; tp <= w; tp++)
        if (dp * sp * tp == w) check_layout(dp, sp, tp);

  // Any rank's failure fails the run, and rank 0 says so.
  CommContext cc;
  comm_layout(&cc, w, 1, 1, "test_comm");
  int32_t failed = tl_failures, checks = tl_checks;
  comm_allreduce(&cc.world, &failed, 1, COMM_I32, COMM_SUM);
  comm_allreduce(&cc.world, &checks, 1, COMM_I32, COMM_SUM);
  comm_free(&cc);
  if (comm_world_rank() == 0) printf("test_comm (%d ranks): %d checks, %d failed\n", w, checks, failed);
  comm_finalize();
  return failed ? 1 : 0;
}
