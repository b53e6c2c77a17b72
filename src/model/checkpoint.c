#include "model/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "comm/comm.h"
#include "core/error.h"
#include "core/fs.h"
#include "core/h5io.h"
#include "core/timer.h"
#include "model/ckpt_sum.h"
#ifdef H5_HAVE_PARALLEL
#include <mpi.h>
#endif

struct CkptFile {
  hid_t f;         // -1 on ranks that do not write
  char path[1024], tmp[1040];
  CommGroup *world;     // NULL: this process alone
  CommGroup *writers;   // this rank writes (with the group's other ranks when its size > 1), or NULL
  int world_rank, world_size;
  hid_t dxpl;      // collective transfers (parallel writes), or H5P_DEFAULT
  H5Quiet quiet;   // our own one-line errors instead of HDF5's stack (reading and writing)
  int reading;
  int version;     // reading: the file's format version
  float *scratch;  // reading: one whole logical tensor
  size_t scratch_n;
  double sum_seconds;  // writing: time spent in checksums
};

// Release the HDF5 lock before reporting: the process leaves, and the
// prefetch thread's shutdown hook may need HDF5 on its way out.
static void unlock_for_error(void) {
  if (h5_lock_held()) h5_unlock();
}

// A write that failed (a full disk, a read-only or vanished directory, an I/O
// error): the temporary file goes, earlier checkpoints stay as they are, and
// the user gets one line with the system's reason; exit 2. With several
// writers the file is not closed (that is collective): the rank leaves and
// mpirun ends the job. The process leaves without HDF5's exit handler, which
// crashes on a file whose close failed.
_Noreturn static void write_failed(CkptFile *k, const char *what, int err) {
  if (!err) err = h5_stack_errno();
  if (k->f >= 0 && k->writers->size == 1) H5E_BEGIN_TRY { H5Fclose(k->f); } H5E_END_TRY;
  k->f = -1;
  unlink(k->tmp);
  unlock_for_error();
  tsr_user_error_abandon("%s: cannot write the checkpoint (%s): %s; earlier checkpoints are untouched", k->path,
                         what, err ? strerror(err) : "I/O error");
}

// An HDF5 call on the write path: a failure is write_failed with the errno of
// the failing system call (HDF5 records it on its error stack).
#define WCHECK(k, call, what) \
  do { if ((long long)(call) < 0) write_failed((k), (what), h5_stack_errno()); } while (0)

// A mistake in a file being read, which every rank sees alike (a missing
// tensor, a wrong shape, a corrupt attribute): the HDF5 lock is released, and
// the read jumps back to the public function that started it (READ_BEGIN),
// which returns the line as an error on every rank. Outside one, the
// program erred (tsr_fatal).
static _Thread_local jmp_buf *t_catch;
static _Thread_local char t_msg[1024];

__attribute__((format(printf, 1, 2))) _Noreturn static void read_failed(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t_msg, sizeof t_msg, fmt, ap);
  va_end(ap);
  if (!t_catch) tsr_fatal(__FILE__, __LINE__, "checkpoint", "%s", t_msg);
  longjmp(*t_catch, 1);
}
#define ckpt_error(k, ...)     \
  do {                         \
    (void)(k);                 \
    unlock_for_error();        \
    read_failed(__VA_ARGS__);  \
  } while (0)
// The public reading functions: READ_BEGIN(err, value on failure) ... READ_END before each return.
#define READ_BEGIN(err, failed)   \
  jmp_buf jb_, *outer_ = t_catch; \
  if (setjmp(jb_)) {              \
    t_catch = outer_;             \
    tsr_err((err), "%s", t_msg);  \
    return failed;                \
  }                               \
  t_catch = &jb_
#define READ_END() (t_catch = outer_)

static CkptFile *file_new(const char *path, const CkptComm *c) {
  CkptFile *k = tsr_calloc(1, sizeof *k);
  k->f = -1;
  k->dxpl = H5P_DEFAULT;
  snprintf(k->path, sizeof k->path, "%s", path);
  snprintf(k->tmp, sizeof k->tmp, "%s.tmp", path);
  k->world = c ? c->world : NULL;
  k->world_rank = k->world ? k->world->rank : 0;
  k->world_size = k->world ? k->world->size : 1;
  k->writers = c ? c->writers : NULL;
  if (!c || !c->world) {  // one process: it writes
    static CommGroup self = {.name = "self", .rank = 0, .size = 1};
    k->writers = &self;
  }
  return k;
}

// Writing: the HDF5 1.10 file format, whose object headers carry checksums
// (a corrupt header is refused before HDF5 decodes its messages: decoding a
// corrupt attribute message crashed HDF5, docs/checkpoint.md); MPI-IO over
// the writers when there are several (multi = 1), the default driver otherwise.
static hid_t file_access(const CkptFile *k, int multi) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5_CHECK(fapl);
  H5_CHECK(H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110));
  if (!multi) return fapl;
#ifdef H5_HAVE_PARALLEL
  H5_CHECK(H5Pset_fapl_mpio(fapl, *(MPI_Comm *)k->writers->mpi, MPI_INFO_NULL));
  return fapl;
#else
  tsr_fatal(__FILE__, __LINE__, "HDF5", "a checkpoint written by %d ranks needs parallel HDF5", k->writers->size);
#endif
}

// This rank's part of a parameter in the logical (file) dataset: all of it
// when replicated, else along split_dim the slice split_index of each of the
// split_parts parts: a strided hyperslab (count = parts, block = F/(parts*ways)).
static void select_local(hid_t space, const ParamInfo *p) {
  hsize_t start[PARAM_MAX_DIM], stride[PARAM_MAX_DIM], count[PARAM_MAX_DIM], block[PARAM_MAX_DIM];
  for (int i = 0; i < p->ndim; i++) start[i] = 0, stride[i] = 1, count[i] = 1, block[i] = (hsize_t)p->full[i];
  if (p->split_dim >= 0) {
    const int d = p->split_dim;
    const hsize_t part = (hsize_t)(p->full[d] / p->split_parts), slice = part / (hsize_t)p->split_ways;
    start[d] = (hsize_t)p->split_index * slice, stride[d] = part, count[d] = (hsize_t)p->split_parts, block[d] = slice;
  }
  H5_CHECK(H5Sselect_hyperslab(space, H5S_SELECT_SET, start, stride, count, block));
}

static hid_t local_space(const ParamInfo *p) {
  hsize_t dims[PARAM_MAX_DIM];
  for (int i = 0; i < p->ndim; i++) dims[i] = (hsize_t)p->shape[i];
  hid_t s = H5Screate_simple(p->ndim, dims, NULL);
  H5_CHECK(s);
  return s;
}

// ---------------------------------------------------------------- writing

CkptFile *ckpt_create(const char *path, const CkptState *s, const Config *cfg, const CkptComm *c) {
  CkptFile *k = file_new(path, c);
  if (!k->writers) return k;  // another replica of this rank's shard writes it
  h5_lock();
  k->quiet = h5_quiet_begin();
  hid_t fapl = file_access(k, k->writers->size > 1);
  errno = 0;
  k->f = H5Fcreate(k->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  const int create_errno = errno;
  H5Pclose(fapl);
  if (k->f < 0) write_failed(k, "create", create_errno ? create_errno : h5_stack_errno());
#ifdef H5_HAVE_PARALLEL
  if (k->writers->size > 1) {  // each writer its own hyperslabs: independent transfers, no rounds
    k->dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5_CHECK(k->dxpl);
    H5_CHECK(H5Pset_dxpl_mpio(k->dxpl, H5FD_MPIO_INDEPENDENT));
  }
#endif
  // Attributes are metadata: every writer writes the same values.
  const struct { const char *name; int64_t v; } ints[] = {
      {"version", CKPT_VERSION}, {"step", s->step}, {"adam_step", s->adam_step}, {"bad_steps", s->bad_steps},
      {"seed", (int64_t)s->seed}, {"cursor_epoch", (int64_t)s->cursor_epoch},
      {"cursor_position", (int64_t)s->cursor_position}, {"cursor_batches", (int64_t)s->cursor_batches},
      {"saved_ranks", k->world_size}, {"saved_writers", k->writers->size}};
  WCHECK(k, h5_attr_str_try(k->f, "format", CKPT_FORMAT), "attributes");
  for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) WCHECK(k, h5_attr_ints_try(k->f, ints[i].name, &ints[i].v, 1), "attributes");
  WCHECK(k, h5_attr_str_try(k->f, "run_id", s->run_id), "attributes");
  if (s->text_sha256[0]) WCHECK(k, h5_attr_str_try(k->f, "text_encoder_sha256", s->text_sha256), "attributes");
  if (s->latent_space[0]) WCHECK(k, h5_attr_str_try(k->f, "latent_space", s->latent_space), "attributes");
  if (s->buckets[0]) WCHECK(k, h5_attr_str_try(k->f, "buckets", s->buckets), "attributes");
  if (s->cursor_more > 0) {
    char more[(CKPT_MAX_BUCKETS - 1) * 44] = "";
    size_t len = 0;
    for (int i = 0; i < s->cursor_more && i < CKPT_MAX_BUCKETS - 1; i++)
      len += (size_t)snprintf(more + len, sizeof more - len, "%s%llu:%llu", i ? "," : "",
                              (unsigned long long)s->cursor_more_epoch[i], (unsigned long long)s->cursor_more_position[i]);
    WCHECK(k, h5_attr_str_try(k->f, "cursor_buckets", more), "attributes");
  }
  char *yaml = NULL;
  size_t len = 0;
  FILE *mem = open_memstream(&yaml, &len);
  config_write(cfg, mem);
  fclose(mem);
  WCHECK(k, h5_attr_str_try(k->f, "config", yaml), "attributes");
  free(yaml);
  h5_unlock();
  return k;
}

// Which writer writes tensor i: each its own slice of a TP-sharded tensor; a
// replicated tensor by one writer, rotating so the writes spread out.
static int writes_tensor(const CkptFile *k, int i, const ParamInfo *p) {
  if (p->split_dim >= 0) return 1;
  return i % k->writers->size == k->writers->rank;
}

// The checksums of every tensor of t (two int64 each): each writer sums the
// elements it writes, the writers add their sums up.
static int64_t *group_sums(CkptFile *k, const ParamTable *t, const float *buf) {
  const double t0 = timer_now();
  int64_t *sums = tsr_calloc(2 * (size_t)t->count, sizeof *sums);
  for (int i = 0; i < t->count; i++)
    if (writes_tensor(k, i, &t->items[i])) ckpt_sum_local(&t->items[i], buf + t->items[i].offset, sums + 2 * i);
  if (k->writers->size > 1) comm_allreduce(k->writers, sums, 2 * (size_t)t->count, COMM_I64, COMM_SUM);
  k->sum_seconds += timer_now() - t0;
  return sums;
}

void ckpt_write_group(CkptFile *k, const char *group, const ParamTable *t, const float *buf) {
  if (!k->writers) return;
  int64_t *sums = group_sums(k, t, buf);
  h5_lock();
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    char name[PARAM_NAME_MAX + 32];
    snprintf(name, sizeof name, "/%s/%s", group, p->name);
    hsize_t full[PARAM_MAX_DIM];
    for (int d = 0; d < p->ndim; d++) full[d] = (hsize_t)p->full[d];
    hid_t fspace = H5Screate_simple(p->ndim, full, NULL), mspace = local_space(p);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5_CHECK(fspace);
    H5_CHECK(H5Pset_create_intermediate_group(lcpl, 1));
    // One chunk, the whole tensor, with a fletcher32 checksum when one rank
    // writes. Written through MPI-IO the tensors stay contiguous and
    // unfiltered: parallel HDF5 1.10 filters only in collective writes, which
    // cost several rounds per tensor (measured 60-200 s against 6 s per
    // checkpoint for tp2 on a busy node, docs/parallel_train.md), while plain
    // hyperslabs are independent writes. The `checksum` attribute (ckpt_sum.h)
    // covers every layout.
    if (k->writers->size == 1) {
      H5_CHECK(H5Pset_chunk(dcpl, p->ndim, full));
      H5_CHECK(H5Pset_fletcher32(dcpl));
    }
    H5_CHECK(H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER));
    hid_t ds = H5Dcreate2(k->f, name, H5T_NATIVE_FLOAT, fspace, lcpl, dcpl, H5P_DEFAULT);
    WCHECK(k, ds, name);
    if (writes_tensor(k, i, p)) {
      select_local(fspace, p);
      WCHECK(k, H5Dwrite(ds, H5T_NATIVE_FLOAT, mspace, fspace, k->dxpl, buf + p->offset), name);
    }
    WCHECK(k, h5_attr_ints_try(ds, "checksum", sums + 2 * i, 2), name);
    WCHECK(k, H5Dclose(ds), name);
    H5_CHECK(H5Pclose(dcpl));
    H5_CHECK(H5Pclose(lcpl));
    H5_CHECK(H5Sclose(mspace));
    H5_CHECK(H5Sclose(fspace));
  }
  h5_unlock();
  tsr_free(sums);
}

// A barrier that sleeps while it waits: the ranks that do not write wait here
// for the whole write, and a busy-polling MPI_Barrier would take the CPU from
// the writers on an oversubscribed node (tests run 4 ranks on 2 cores).
static void idle_barrier(CommGroup *world) {
#ifdef H5_HAVE_PARALLEL
  MPI_Request req;
  MPI_CHECK(MPI_Ibarrier(*(MPI_Comm *)world->mpi, &req));
  for (int done = 0;;) {
    MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) break;
    nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);  // 1 ms
  }
#else
  comm_barrier(world);
#endif
}

double ckpt_commit(CkptFile *k, char *const *vocab, int vocab_size) {
  const double sum_seconds = k->sum_seconds;
  if (k->writers) {
    h5_lock();
    if (k->dxpl != H5P_DEFAULT) H5_CHECK(H5Pclose(k->dxpl));
    WCHECK(k, H5Fflush(k->f, H5F_SCOPE_GLOBAL), "flush");
    WCHECK(k, H5Fclose(k->f), "close");  // collective: every writer's data is in the file after it
    k->f = -1;
    h5_unlock();
  }
  if (k->writers && k->writers->rank == 0) {
    h5_lock();
    // The vocabulary is checksummed (fletcher32), which parallel HDF5 1.10
    // writes only collectively: one rank adds it serially once the
    // collective file is closed.
    if (vocab && vocab_size > 0) {
      hid_t fapl = file_access(k, 0);
      k->f = H5Fopen(k->tmp, H5F_ACC_RDWR, fapl);
      H5Pclose(fapl);
      WCHECK(k, k->f, "vocabulary");
      WCHECK(k, h5_strings_write(k->f, "/tokenizer/vocab", vocab, vocab_size), "vocabulary");
      WCHECK(k, H5Fflush(k->f, H5F_SCOPE_GLOBAL), "vocabulary");
      hid_t f = k->f;
      k->f = -1;
      WCHECK(k, H5Fclose(f), "vocabulary");
    }
    // the bytes on the disk before the file gets its name (a crash then finds the old or the whole new one)
    if (fs_sync_file(k->tmp) != 0) write_failed(k, "sync", errno);
    if (rename(k->tmp, k->path) != 0) write_failed(k, "rename", errno);
    h5_unlock();
  }
  if (k->writers) {
    h5_lock();
    h5_quiet_end(k->quiet);
    h5_unlock();
  }
  if (k->world_size > 1) idle_barrier(k->world);  // nobody goes on before the file has its name
  tsr_free(k);
  return sum_seconds;
}

void ckpt_save(const char *path, const CkptBuffers *b, const CkptState *s, const Config *cfg) {
  CkptFile *k = ckpt_create(path, s, cfg, NULL);
  ckpt_write_group(k, "params", b->params, b->params->data);
  if (b->m) ckpt_write_group(k, "optim/m", b->params, b->m);
  if (b->v) ckpt_write_group(k, "optim/v", b->params, b->v);
  if (b->ema) ckpt_write_group(k, "ema", b->params, b->ema);
  ckpt_commit(k, b->vocab, b->vocab_size);
}

// ---------------------------------------------------------------- reading
// Every HDF5 call here is checked: what the file holds (its attributes'
// and datasets' kind, size and extent) is looked at before it is read, and a
// failure is one line naming the file and the item (exit 2), never an abort.
// No variable-length data is read (docs/checkpoint.md "Version 3").


// An HDF5 call of the read path on `item`: a failure is a corrupt file.
#define RCHECK(k, call, item) \
  do { if ((long long)(call) < 0) ckpt_error((k), "%s: %s: unreadable (corrupt file?)", (k)->path, (item)); } while (0)

static int64_t read_int_attr(CkptFile *k, const char *name) {
  int64_t v = 0;
  char err[H5_ERR];
  if (h5_attr_read_ints(k->f, name, 1, &v, err) < 0) ckpt_error(k, "%s: %s (not a tessera checkpoint, or a corrupt one)", k->path, err);
  return v;
}

// A fixed-length string attribute of at most max bytes (malloc'ed); NULL when
// absent and `optional`.
static char *read_str_attr(CkptFile *k, const char *name, size_t max, int optional) {
  char *s, err[H5_ERR];
  htri_t e;
  H5E_BEGIN_TRY { e = H5Aexists(k->f, name); } H5E_END_TRY;
  if (optional && e == 0) return NULL;
  if (h5_attr_read_str(k->f, name, max, &s, err) < 0) ckpt_error(k, "%s: %s", k->path, err);
  return s;
}

static CkptFile *open_for_reading(const char *path, const CkptComm *c, CkptState *s) {
  CkptFile *k = file_new(path, c);
  k->reading = 1;
  h5_lock();
  k->quiet = h5_quiet_begin();
  // Every rank looks at the same file: they agree on its verdict.
  htri_t ok;
  H5E_BEGIN_TRY { ok = H5Fis_hdf5(path); } H5E_END_TRY;
  if (ok <= 0) ckpt_error(k, "%s: cannot open: expected an existing HDF5 file", path);
  // Every rank reads its own hyperslabs through its own read-only handle:
  // no collective calls, so reading costs no synchronisation.
  H5E_BEGIN_TRY { k->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
  if (k->f < 0) ckpt_error(k, "%s: cannot open: the HDF5 file is truncated or corrupt", path);
  char *fmt = read_str_attr(k, "format", 64, 0);
  if (strcmp(fmt, CKPT_FORMAT) != 0)
    ckpt_error(k, "%s: attribute format: expected '%s', found '%s'", path, CKPT_FORMAT, fmt);
  free(fmt);
  int64_t version = read_int_attr(k, "version");
  if (version < 1 || version > CKPT_VERSION)
    ckpt_error(k, "%s: version %lld, this tessera reads versions 1 to %d", path, (long long)version, CKPT_VERSION);
  k->version = (int)version;
  // Counters a run could have reached: the trainer counts steps in int.
  const int64_t max_step = 0x7fffffff;
  s->step = read_int_attr(k, "step");
  if (s->step < 0 || s->step > max_step)
    ckpt_error(k, "%s: attribute step: expected a step count in [0, %lld], found %lld (corrupt file?)", path,
               (long long)max_step, (long long)s->step);
  s->adam_step = read_int_attr(k, "adam_step");
  s->bad_steps = read_int_attr(k, "bad_steps");
  if (s->adam_step < 0 || s->adam_step > s->step || s->bad_steps < 0 || s->bad_steps > s->step)
    ckpt_error(k, "%s: attributes adam_step %lld and bad_steps %lld: expected counts in [0, step = %lld] (corrupt file?)",
               path, (long long)s->adam_step, (long long)s->bad_steps, (long long)s->step);
  s->seed = (uint64_t)read_int_attr(k, "seed");
  const char *cursor[3] = {"cursor_epoch", "cursor_position", "cursor_batches"};
  uint64_t *cur[3] = {&s->cursor_epoch, &s->cursor_position, &s->cursor_batches};
  for (int i = 0; i < 3; i++) {
    int64_t v = read_int_attr(k, cursor[i]);
    if (v < 0) ckpt_error(k, "%s: attribute %s: expected a count >= 0, found %lld (corrupt file?)", path, cursor[i], (long long)v);
    *cur[i] = (uint64_t)v;
  }
  char *id = read_str_attr(k, "run_id", sizeof s->run_id - 1, k->version == 1);  // none in version 1
  snprintf(s->run_id, sizeof s->run_id, "%s", id ? id : "");
  free(id);
  char *buckets = read_str_attr(k, "buckets", sizeof s->buckets - 1, 1);  // only from multi-bucket runs
  snprintf(s->buckets, sizeof s->buckets, "%s", buckets ? buckets : "");
  free(buckets);
  char *more = read_str_attr(k, "cursor_buckets", (CKPT_MAX_BUCKETS - 1) * 44, 1);
  s->cursor_more = 0;
  for (const char *p = more; p && *p && s->cursor_more < CKPT_MAX_BUCKETS - 1;) {
    unsigned long long e, q;
    int used = 0;
    if (sscanf(p, "%llu:%llu%n", &e, &q, &used) != 2 || (p[used] && p[used] != ','))
      ckpt_error(k, "%s: attribute cursor_buckets: expected epoch:position,... (corrupt file?)", path);
    s->cursor_more_epoch[s->cursor_more] = e, s->cursor_more_position[s->cursor_more++] = q;
    p += used + (p[used] == ',');
  }
  free(more);
  char *text = read_str_attr(k, "text_encoder_sha256", sizeof s->text_sha256 - 1, 1);  // only with a pretrained encoder
  snprintf(s->text_sha256, sizeof s->text_sha256, "%s", text ? text : "");
  free(text);
  char *latent = read_str_attr(k, "latent_space", sizeof s->latent_space - 1, 1);  // only a latent model's
  snprintf(s->latent_space, sizeof s->latent_space, "%s", latent ? latent : "");
  free(latent);
  h5_unlock();
  return k;
}

int ckpt_has_group(CkptFile *k, const char *group) {
  char name[256];
  snprintf(name, sizeof name, "/%s", group);
  h5_lock();
  int e = h5_exists(k->f, name);
  h5_unlock();
  return e;
}

// The dataset of parameter p: float32 at its logical shape, or one line: a
// tensor missing or of another shape means another model config.
static hid_t open_tensor(CkptFile *k, const char *name, const ParamInfo *p) {
  if (!h5_exists(k->f, name))
    ckpt_error(k, "%s: %s: missing (the checkpoint was made for a different model config)", k->path, name);
  char err[H5_ERR];
  hsize_t dims[H5S_MAX_RANK];
  hid_t ds = h5_open_kind(k->f, name, H5I_DATASET, err);
  if (ds < 0) ckpt_error(k, "%s: %s", k->path, err);
  int nd = h5_check_dataset(ds, name, H5T_NATIVE_FLOAT, -1, dims, err);
  if (nd < 0) ckpt_error(k, "%s: %s", k->path, err);
  int same = nd == p->ndim;
  for (int d = 0; same && d < nd; d++) same = dims[d] == (hsize_t)p->full[d];
  if (!same) {
    char want[96] = "", have[96] = "";
    for (int d = 0; d < p->ndim; d++)
      snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", d ? "x" : "", (long long)p->full[d]);
    for (int d = 0; d < nd && d < H5S_MAX_RANK; d++)
      snprintf(have + strlen(have), sizeof have - strlen(have), "%s%llu", d ? "x" : "", (unsigned long long)dims[d]);
    ckpt_error(k, "%s: %s: shape %s, the model config expects %s (the checkpoint was made for a different model config)",
               k->path, name, have, want);
  }
  return ds;
}

static void read_group(CkptFile *k, const char *group, const ParamTable *t, float *buf) {
  h5_lock();
  // Names, types and logical shapes first: a different model config is one
  // clear error on every rank before any data moves.
  for (int i = 0; i < t->count; i++) {
    char name[PARAM_NAME_MAX + 32];
    snprintf(name, sizeof name, "/%s/%s", group, t->items[i].name);
    RCHECK(k, H5Dclose(open_tensor(k, name, &t->items[i])), name);
  }
  // Then each whole logical tensor, whatever part of it this rank keeps: its
  // checksum and its values are checked before any of it is used.
  for (int i = 0; i < t->count; i++) {
    const ParamInfo *p = &t->items[i];
    char name[PARAM_NAME_MAX + 32];
    snprintf(name, sizeof name, "/%s/%s", group, p->name);
    size_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= (size_t)p->full[d];
    if (n > k->scratch_n) {
      tsr_free(k->scratch);
      k->scratch = tsr_calloc(n, sizeof *k->scratch);
      k->scratch_n = n;
    }
    hid_t ds = open_tensor(k, name, p);
    if (H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, k->scratch) < 0)
      ckpt_error(k, "%s: %s: read failed: the file is corrupt (a fletcher32 checksum mismatch or damaged metadata)", k->path, name);
    if (k->version >= 2) {
      int64_t want[2] = {0, 0}, have[2];
      char err[H5_ERR];
      if (h5_attr_read_ints(ds, "checksum", 2, want, err) < 0) ckpt_error(k, "%s: %s: %s (corrupt file?)", k->path, name, err);
      ckpt_sum_full(k->scratch, n, have);
      if (have[0] != want[0] || have[1] != want[1])
        ckpt_error(k, "%s: %s: checksum mismatch: the tensor is corrupt (a changed bit or a partial write)", k->path, name);
    }
    for (size_t e = 0; e < n; e++)
      if (!isfinite(k->scratch[e]))
        ckpt_error(k, "%s: %s: element %zu is %s: a checkpoint holds finite numbers only (corrupt file or diverged run)",
                   k->path, name, e, isnan(k->scratch[e]) ? "NaN" : "infinite");
    ckpt_take_local(p, k->scratch, buf + p->offset);
    RCHECK(k, H5Dclose(ds), name);
  }
  h5_unlock();
}

CkptFile *ckpt_open(const char *path, const CkptComm *c, CkptState *s, TsrErr *err) {
  READ_BEGIN(err, NULL);
  CkptFile *k = open_for_reading(path, c, s);
  READ_END();
  return k;
}

int ckpt_read_group(CkptFile *k, const char *group, const ParamTable *t, float *buf, TsrErr *err) {
  READ_BEGIN(err, -1);
  read_group(k, group, t, buf);
  READ_END();
  return 0;
}

void ckpt_close(CkptFile *k) {
  h5_lock();
  if (k->reading) RCHECK(k, H5Fclose(k->f), "close");
  else H5_CHECK(H5Fclose(k->f));
  if (k->reading) h5_quiet_end(k->quiet);
  h5_unlock();
  tsr_free(k->scratch);
  tsr_free(k);
}

int ckpt_load(const char *path, CkptBuffers *b, CkptState *s, const char *which, TsrErr *err) {
  READ_BEGIN(err, -1);
  CkptFile *k = open_for_reading(path, NULL, s);
  const ParamTable *t = b->params;
  // the weights may live on a device: read on the host, then upload
  float *host = t->mem && !t->mem->host ? tsr_calloc(t->total, sizeof(float)) : t->data;
  read_group(k, strcmp(which, "ema") == 0 ? "ema" : "params", t, host);
  if (host != t->data) {
    mem_upload(t->mem, t->data, host, t->total * sizeof(float));
    tsr_free(host);
  }
  if (b->m) read_group(k, "optim/m", t, b->m);
  if (b->v) read_group(k, "optim/v", t, b->v);
  if (b->ema) read_group(k, "ema", t, b->ema);
  ckpt_close(k);
  READ_END();
  return 0;
}

// Step number of "ckpt_<step>.h5", or -1.
static long long ckpt_step_of(const char *name) {
  long long step;
  char tail[8];
  if (sscanf(name, "ckpt_%lld.h%7s", &step, tail) == 2 && strcmp(tail, "5") == 0) return step;
  return -1;
}

void ckpt_latest(const char *dir, char *out, int n) {
  out[0] = 0;
  DIR *d = opendir(dir);
  if (!d) return;
  long long best = -1;
  for (struct dirent *e; (e = readdir(d));) {
    long long step = ckpt_step_of(e->d_name);
    if (step > best) {
      best = step;
      snprintf(out, (size_t)n, "%s/%s", dir, e->d_name);
    }
  }
  closedir(d);
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return (x > y) - (x < y);
}

void ckpt_prune(const char *dir, int keep, const char *run_id) {
  if (keep <= 0) return;
  DIR *d = opendir(dir);
  if (!d) return;
  long long steps[4096];
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) && n < 4096;) {
    long long step = ckpt_step_of(e->d_name);
    if (step < 0) continue;
    char path[1024], id[CKPT_RUN_ID_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (ckpt_run_id(path, id, sizeof id) == 0 && strcmp(id, run_id) == 0) steps[n++] = step;  // this run's only
  }
  closedir(d);
  qsort(steps, (size_t)n, sizeof *steps, cmp_ll);
  for (int i = 0; i + keep < n; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/ckpt_%lld.h5", dir, steps[i]);
    unlink(path);
  }
}

int ckpt_run_id(const char *path, char *out, size_t n) {
  out[0] = 0;
  h5_lock();
  H5Quiet q = h5_quiet_begin();
  hid_t f = H5Fis_hdf5(path) > 0 ? H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  char *fmt = NULL, *id = NULL, err[H5_ERR];
  int rc = f >= 0 && h5_attr_read_str(f, "format", 64, &fmt, err) == 0 && strcmp(fmt, CKPT_FORMAT) == 0 ? 0 : -1;
  if (rc == 0 && h5_attr_read_str(f, "run_id", CKPT_RUN_ID_MAX - 1, &id, err) == 0) snprintf(out, n, "%s", id);
  free(fmt);
  free(id);
  if (f >= 0) H5Fclose(f);
  h5_quiet_end(q);
  h5_unlock();
  return rc;
}

// The serial readers hold the HDF5 lock: a loader's prefetch thread may be in
// HDF5 (an unlocked call here corrupted HDF5's free lists while it read).
// They open the file as ckpt_open does (format, version, counters checked).
int ckpt_read_config(const char *path, Config *cfg, TsrErr *err) {
  CkptState s;
  READ_BEGIN(err, -1);
  CkptFile *k = open_for_reading(path, NULL, &s);
  h5_lock();
  char *yaml = read_str_attr(k, "config", CKPT_CONFIG_MAX, 0);
  h5_unlock();
  ckpt_close(k);
  READ_END();
  // Parsed from memory: its errors read "PATH:LINE:COL: key: ...".
  const int rc = config_load_text(cfg, path, yaml, strlen(yaml), err);
  free(yaml);
  return rc;
}

int ckpt_read_vocab(const char *path, char ***words, int *n, TsrErr *err) {
  CkptState s;
  *words = NULL;
  *n = 0;
  READ_BEGIN(err, -1);
  CkptFile *k = open_for_reading(path, NULL, &s);
  *words = NULL;
  *n = 0;
  h5_lock();
  if (h5_exists(k->f, "/tokenizer/vocab")) {
    if (k->version < 3)
      ckpt_error(k, "%s: version %d stores the vocabulary as variable-length strings, which tessera no longer reads "
                 "(a corrupt file could crash HDF5); resume training from it (train.resume=%s, with its corpus): "
                 "the next checkpoint is version %d", path, k->version, path, CKPT_VERSION);
    char err[H5_ERR];
    int64_t count;
    if (h5_strings_read(k->f, "/tokenizer/vocab", CKPT_VOCAB_MAX, CKPT_WORD_MAX, words, &count, err) < 0)
      ckpt_error(k, "%s: %s", path, err);
    *n = (int)count;
  }
  h5_unlock();
  ckpt_close(k);
  READ_END();
  return 0;
}
