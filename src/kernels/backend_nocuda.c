// backend_cuda_open in a binary built without nvcc: the one-line reason.
#include <stdio.h>

#include "kernels/backend.h"

Backend *backend_cuda_open(int device, int bf16, char *why, size_t why_size) {
  (void)device, (void)bf16;
  if (why && why_size) snprintf(why, why_size, "this tessera was built without CUDA (nvcc not found at build time)");
  return NULL;
}
