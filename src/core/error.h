// Error handling: library-call checks that abort every rank, and user-mistake
// errors that print one line and exit with code 2.
#pragma once
#include <stddef.h>

// Internal failure (a library call failed, an invariant broke): prints
// "tessera[rank R] file:line: LIB: message" and aborts all ranks (MPI_Abort
// when MPI is initialised, abort() otherwise).
_Noreturn void tsr_fatal(const char *file, int line, const char *lib, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

// A user mistake (bad YAML, missing file, wrong shape): one line on stderr,
// "tessera: error: <message>", exit code 2. The message names the file, the
// item and what was expected.
_Noreturn void tsr_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
