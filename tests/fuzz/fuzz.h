// Shared by the libFuzzer harnesses (`make fuzz`, docs/fuzz.md). Each harness
// is linked with -Wl,--wrap=tsr_user_error: a user error (one line and exit 2
// in tessera: the right answer to bad input) jumps back to the harness
// instead, so that fuzzing goes on; anything else that stops the process (a
// crash, tsr_fatal's abort, a sanitizer report, an allocation beyond
// libFuzzer's -malloc_limit_mb) is a finding.
#pragma once
#include <hdf5.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static jmp_buf fuzz_jmp;

// A harness of a library that returns its errors (FUZZ_RETURNED_ERRORS
// defined before this file: data/) never expects tsr_user_error: a call is a
// finding (the library exited instead of returning).
_Noreturn void __wrap_tsr_user_error(const char *fmt, ...);
_Noreturn void __wrap_tsr_user_error(const char *fmt, ...) {
#ifdef FUZZ_RETURNED_ERRORS
  fprintf(stderr, "fuzz: tsr_user_error(\"%s\") in a library that returns its errors\n", fmt);
  abort();
#else
  (void)fmt;
  longjmp(fuzz_jmp, 1);
#endif
}

// h5io's lock (h5_lock/h5_unlock, also wrapped): a user error inside a locked
// region leaves it held (tessera exits there); fuzz_h5_close_all releases it.
static int fuzz_h5_locked;
void __real_h5_lock(void);
void __real_h5_unlock(void);
void __wrap_h5_lock(void);
void __wrap_h5_unlock(void);
void __wrap_h5_lock(void) {
  __real_h5_lock();
  fuzz_h5_locked++;
}
void __wrap_h5_unlock(void) {
  fuzz_h5_locked--;
  __real_h5_unlock();
}

// The input as a file (the readers take paths), one name per process and target.
static inline const char *fuzz_file(const char *target, const uint8_t *data, size_t size) {
  static char path[256];
  snprintf(path, sizeof path, "%s/tessera-fuzz-%s-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", target,
           (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
    perror(path);
    abort();
  }
  return path;
}

// After an input: release the lock and close what a user error left open in HDF5 (HDF5 would
// otherwise hand the next open of the same name the old, cached file).
static inline void fuzz_h5_close_all(void) {
  while (fuzz_h5_locked > 0) __wrap_h5_unlock();
  ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (n <= 0) return;
  hid_t *ids = malloc((size_t)n * sizeof *ids);
  n = H5Fget_obj_ids(H5F_OBJ_ALL, H5F_OBJ_ALL, (size_t)n, ids);
  for (ssize_t i = 0; i < n; i++) {
    switch (H5Iget_type(ids[i])) {
      case H5I_DATASET: H5Dclose(ids[i]); break;
      case H5I_GROUP: H5Gclose(ids[i]); break;
      case H5I_DATATYPE: H5Tclose(ids[i]); break;
      case H5I_ATTR: H5Aclose(ids[i]); break;
      default: break;
    }
  }
  for (ssize_t i = 0; i < n; i++)
    if (H5Iget_type(ids[i]) == H5I_FILE) H5Fclose(ids[i]);
  free(ids);
}

static inline void fuzz_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
