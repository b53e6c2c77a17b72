// Error handling: library-call checks that abort every rank, and errors
// returned to the caller for bad input.
#pragma once
#include <stddef.h>

// A returned error. A library function that can fail on its input (a file, a
// config, a prompt) returns 0, or -1 with one line in err->msg that names the
// file, the item and what was expected; only src/app turns it into a message
// and an exit code (app/app_error.h). err->code is the exit code the command
// should end with: TSR_EXIT_USER (2) for bad input, TSR_EXIT_REFUSED (3) for a
// prompt the safety policy refuses. err may be NULL (the caller only wants the
// status).
enum { TSR_EXIT_USER = 2, TSR_EXIT_REFUSED = 3 };
typedef struct {
  int code;
  char msg[1024];
} TsrErr;

// Formats the message into e, sets code TSR_EXIT_USER, returns -1:
//   if (n < 1) return tsr_err(err, "%s: clips: expected at least 1, got %d", path, n);
int tsr_err(TsrErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The same with another exit code.
int tsr_err_code(TsrErr *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Puts context in front of a message already in e ("corpus.h5: " + msg);
// returns -1, so `return tsr_err_prefix(err, "%s: ", path);` passes it up.
int tsr_err_prefix(TsrErr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Empties e (code 0, no message).
void tsr_err_clear(TsrErr *e);

// Internal failure (a library call failed, an invariant broke): prints
// "tessera[rank R] file:line: LIB: message" and aborts all ranks (MPI_Abort
// when MPI is initialised, abort() otherwise).
_Noreturn void tsr_fatal(const char *file, int line, const char *lib, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// A user mistake (bad YAML, missing file, wrong shape): one line on stderr,
// "tessera: error: <message>", exit code 2. The message names the file, the
// item and what was expected.
_Noreturn void tsr_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// The same for a process whose library state is broken (HDF5 crashes in its
// exit handler on a file whose close failed on a full disk): leaves with
// _exit(2), skipping the exit handlers, after the shutdown hooks.
_Noreturn void tsr_user_error_abandon(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// Work that must end before the libraries shut down (a prefetch thread inside
// HDF5 while MPI_Finalize terminates HDF5): tsr_shutdown() runs the registered
// hooks, newest first, once each. tsr_user_error and comm_finalize call it
// before anything is torn down.
void tsr_on_shutdown(void (*fn)(void *), void *arg);
void tsr_on_shutdown_remove(void (*fn)(void *), void *arg);
void tsr_shutdown(void);

// Invariant check inside tessera itself.
#define TSR_ASSERT(cond, ...) \
  do { if (!(cond)) tsr_fatal(__FILE__, __LINE__, "assert", __VA_ARGS__); } while (0)

// HDF5 calls return a negative value on failure.
#define H5_CHECK(call) \
  do { if ((long long)(call) < 0) tsr_fatal(__FILE__, __LINE__, "HDF5", "%s failed", #call); } while (0)

// MPI calls return MPI_SUCCESS (0) on success; the message comes from MPI_Error_string.
void tsr_mpi_fail(const char *file, int line, int code, const char *call) __attribute__((noreturn));
#define MPI_CHECK(call) \
  do { int mpi_rc_ = (call); if (mpi_rc_ != 0) tsr_mpi_fail(__FILE__, __LINE__, mpi_rc_, #call); } while (0)

// Allocation that never returns NULL: 64-byte aligned, zero-filled.
void *tsr_calloc(size_t count, size_t size);
void tsr_free(void *p);
