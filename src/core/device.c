// Device detection through the CUDA driver API, looked up with dlopen/dlsym
// so that this file needs no CUDA header or library at build or link time.
// The driver's own entry points are stable C symbols:
//   CUresult cuInit(unsigned flags); CUresult cuDeviceGetCount(int *n);
//   CUresult cuDriverGetVersion(int *v); CUresult cuGetErrorString(CUresult, const char **)
#include "core/device.h"

#include <dlfcn.h>
#include <stdio.h>

#include "core/error.h"

typedef int (*cu_init_fn)(unsigned);
typedef int (*cu_count_fn)(int *);
typedef int (*cu_version_fn)(int *);
typedef int (*cu_errstr_fn)(int, const char **);

static const char *cu_message(cu_errstr_fn errstr, int rc) {
  const char *msg = NULL;
  if (errstr && errstr(rc, &msg) == 0 && msg) return msg;
  return "unknown driver error";
}

int device_available(char *why, size_t why_size) {
  char scratch[8];
  if (!why || why_size == 0) {
    why = scratch;
    why_size = sizeof scratch;
  }
  // The handle stays open: the CUDA runtime loads the same library later,
  // and closing it between the two would only cost a reload.
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    snprintf(why, why_size, "libcuda.so.1 not found: no NVIDIA driver on this machine");
    return 0;
  }
  cu_init_fn cu_init = (cu_init_fn)dlsym(lib, "cuInit");
  cu_count_fn cu_count = (cu_count_fn)dlsym(lib, "cuDeviceGetCount");
  cu_version_fn cu_version = (cu_version_fn)dlsym(lib, "cuDriverGetVersion");
  cu_errstr_fn cu_errstr = (cu_errstr_fn)dlsym(lib, "cuGetErrorString");
  if (!cu_init || !cu_count) {
    snprintf(why, why_size, "libcuda.so.1 loaded but lacks cuInit/cuDeviceGetCount (a stub library?)");
    return 0;
  }
  int rc = cu_init(0);
  if (rc != 0) {
    snprintf(why, why_size, "cuInit failed: %s (error %d)", cu_message(cu_errstr, rc), rc);
    return 0;
  }
  int n = 0;
  rc = cu_count(&n);
  if (rc != 0) {
    snprintf(why, why_size, "cuDeviceGetCount failed: %s (error %d)", cu_message(cu_errstr, rc), rc);
    return 0;
  }
  if (n < 1) {
    snprintf(why, why_size, "the NVIDIA driver sees no CUDA device");
    return 0;
  }
  int version = 0;
  if (cu_version) cu_version(&version);
  snprintf(why, why_size, "%d CUDA device(s), driver API %d", n, version);
  return 1;
}
