// The profiling backend (kernels/backend_profile.h): each entry of the table
// (generated from kernels/oplist.h) syncs the inner backend, times the inner
// op and its sync, and adds to that op's totals.
#include "kernels/backend_profile.h"

#include "core/error.h"
#include "core/timer.h"

enum {
#define PROF_INDEX(kind, name, params, args) PROF_##name,
  TSR_OPS(PROF_INDEX) PROF_N_OPS
};

static const char *const op_names[PROF_N_OPS] = {
#define PROF_NAME(kind, name, params, args) #name,
    TSR_OPS(PROF_NAME)};

typedef struct {
  const Backend *inner;
  double seconds[PROF_N_OPS];
  long calls[PROF_N_OPS];
} Profile;

// The inner backend's arguments: `be` in the op's argument list is the
// wrapper; the forwarded call names the inner one instead. (The locals carry
// a prefix no op parameter uses.)
#define PROF_INNER_ARGS(...) (prof_inner_, __VA_ARGS__)
#define PROF_ENTRY(kind, name, params, args)                  \
  static void prof_##name TSR_BE_PARAMS params {              \
    Profile *prof_ctx_ = be->ctx;                             \
    const Backend *prof_inner_ = prof_ctx_->inner;            \
    prof_inner_->sync(prof_inner_);                           \
    const double prof_t0_ = timer_now();                      \
    prof_inner_->name PROF_INNER_ARGS args;                   \
    prof_inner_->sync(prof_inner_);                           \
    prof_ctx_->seconds[PROF_##name] += timer_now() - prof_t0_; \
    prof_ctx_->calls[PROF_##name]++;                          \
  }
TSR_OPS(PROF_ENTRY)

static void prof_copy(const Backend *be, void *dst, const void *src, size_t bytes) {
  const Profile *p = be->ctx;
  p->inner->copy(p->inner, dst, src, bytes);
}
static void prof_sync(const Backend *be) {
  const Profile *p = be->ctx;
  p->inner->sync(p->inner);
}
static void prof_describe(const Backend *be, char *buf, size_t size) {
  const Profile *p = be->ctx;
  p->inner->describe(p->inner, buf, size);
}
static void prof_shutdown(Backend *be) {
  tsr_free(be->ctx);
  tsr_free(be);
}

Backend *backend_profiled(const Backend *inner) {
  Profile *p = tsr_calloc(1, sizeof *p);
  p->inner = inner;
  Backend *be = tsr_calloc(1, sizeof *be);
  *be = *inner;  // memory space, name, precision, stream, nccl: the inner backend's
  be->ctx = p;
  be->copy = prof_copy;
  be->sync = prof_sync;
  be->describe = prof_describe;
  be->shutdown = prof_shutdown;
#define PROF_FIELD(kind, name, params, args) be->name = prof_##name;
  TSR_OPS(PROF_FIELD)
  return be;
}

int profile_op_count(void) { return PROF_N_OPS; }

const char *profile_op_name(int i) { return i >= 0 && i < PROF_N_OPS ? op_names[i] : "?"; }

void profile_totals(const Backend *profiled, double *seconds, long *calls) {
  const Profile *p = profiled->ctx;
  for (int i = 0; i < PROF_N_OPS; i++) seconds[i] = p->seconds[i], calls[i] = p->calls[i];
}
