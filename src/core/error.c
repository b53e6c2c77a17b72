#include "core/error.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef TSR_HAVE_MPI
#include <mpi.h>
#endif
#include "core/log.h"

static int err_vset(TsrErr *e, int code, const char *fmt, va_list ap) {
  if (e) {
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  }
  return -1;
}

int tsr_err(TsrErr *e, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(e, TSR_EXIT_USER, fmt, ap);
  va_end(ap);
  return -1;
}

int tsr_err_code(TsrErr *e, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_vset(e, code, fmt, ap);
  va_end(ap);
  return -1;
}

int tsr_err_prefix(TsrErr *e, const char *fmt, ...) {
  if (!e) return -1;
  char head[512], old[sizeof e->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(head, sizeof head, fmt, ap);
  va_end(ap);
  memcpy(old, e->msg, sizeof old);
  size_t n = strlen(head);
  if (n >= sizeof e->msg) n = sizeof e->msg - 1;
  memcpy(e->msg, head, n);
  size_t room = sizeof e->msg - 1 - n, m = strnlen(old, room);
  memcpy(e->msg + n, old, m);
  e->msg[n + m] = 0;
  if (!e->code) e->code = TSR_EXIT_USER;
  return -1;
}

void tsr_err_clear(TsrErr *e) {
  if (e) e->code = 0, e->msg[0] = 0;
}

_Noreturn static void abort_all_ranks(void) {
#ifdef TSR_HAVE_MPI
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
  abort();
}

void tsr_fatal(const char *file, int line, const char *lib, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "tessera[rank %d] %s:%d: %s: %s\n", log_rank(), file, line, lib, msg);
  fflush(stderr);
  abort_all_ranks();
}

void tsr_mpi_fail(const char *file, int line, int code, const char *call) {
  char text[512] = "unknown MPI error";
#ifdef TSR_HAVE_MPI
  int len = 0;
  MPI_Error_string(code, text, &len);
#endif
  tsr_fatal(file, line, "MPI", "%s: %s (code %d)", call, text, code);
}

// Under mpirun (world size > 1) a user error may be seen by every rank (a bad
// config) or by one (its shard of the data). Rank 0 prints at once; other
// ranks wait 2 s first, so when rank 0 saw it too mpirun has ended the job and
// the message appears once, and when only they saw it, it still appears. The
// rank leaves with _exit(2), not exit: MPI_Finalize (atexit) would wait for
// ranks that are busy elsewhere; mpirun ends the job with status 2 instead.
// Shutdown hooks: few (one per open loader), so a small table under a lock.
enum { MAX_HOOKS = 16 };
static struct { void (*fn)(void *); void *arg; } g_hooks[MAX_HOOKS];
static int g_nhooks;
static pthread_mutex_t g_hooks_mu = PTHREAD_MUTEX_INITIALIZER;

void tsr_on_shutdown(void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&g_hooks_mu);
  if (g_nhooks == MAX_HOOKS) tsr_fatal(__FILE__, __LINE__, "shutdown", "more than %d shutdown hooks", MAX_HOOKS);
  g_hooks[g_nhooks].fn = fn, g_hooks[g_nhooks].arg = arg, g_nhooks++;
  pthread_mutex_unlock(&g_hooks_mu);
}

void tsr_on_shutdown_remove(void (*fn)(void *), void *arg) {
  pthread_mutex_lock(&g_hooks_mu);
  for (int i = 0; i < g_nhooks; i++)
    if (g_hooks[i].fn == fn && g_hooks[i].arg == arg) {
      memmove(&g_hooks[i], &g_hooks[i + 1], (size_t)(g_nhooks - i - 1) * sizeof g_hooks[0]);
      g_nhooks--;
      break;
    }
  pthread_mutex_unlock(&g_hooks_mu);
}

void tsr_shutdown(void) {
  for (;;) {  // a hook is taken off the table before it runs: each runs once, even if it errors
    pthread_mutex_lock(&g_hooks_mu);
    if (g_nhooks == 0) {
      pthread_mutex_unlock(&g_hooks_mu);
      return;
    }
    g_nhooks--;
    void (*fn)(void *) = g_hooks[g_nhooks].fn;
    void *arg = g_hooks[g_nhooks].arg;
    pthread_mutex_unlock(&g_hooks_mu);
    fn(arg);
  }
}

// abandon: leave with _exit (no exit handlers) even on one rank.
_Noreturn static void user_error(int abandon, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  int rank = 0, size = 1;
#ifdef TSR_HAVE_MPI
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_Comm_rank(MPI_COMM_WORLD, &rank), MPI_Comm_size(MPI_COMM_WORLD, &size);
#endif
  if (size > 1 && rank != 0) sleep(2);
  if (rank != 0) fprintf(stderr, "tessera: error: %s (on rank %d of %d)\n", msg, rank, size);
  else fprintf(stderr, "tessera: error: %s\n", msg);
  fflush(NULL);
  tsr_shutdown();  // before exit's handlers tear down HDF5 and MPI
  if (size > 1 || abandon) _exit(2);
  exit(2);
}

void tsr_user_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  user_error(0, fmt, ap);
}

void tsr_user_error_abandon(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  user_error(1, fmt, ap);
}

void *tsr_calloc(size_t count, size_t size) {
  size_t bytes = count * size;
  if (count && bytes / count != size) tsr_fatal(__FILE__, __LINE__, "alloc", "size overflow");
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void *p = aligned_alloc(64, rounded);
  if (!p) tsr_fatal(__FILE__, __LINE__, "alloc", "out of memory allocating %zu bytes", rounded);
  memset(p, 0, rounded);
  return p;
}

void tsr_free(void *p) { free(p); }
