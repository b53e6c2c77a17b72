// Device selection seam: is there a usable NVIDIA GPU on this machine?
// Answered through the driver library loaded at run time (dlopen), so
// nothing here links the CUDA runtime: a CPU-only machine, or a build
// without CUDA, runs the same binary and gets a reason instead of a crash.
#pragma once
#include <stddef.h>

// 1 when libcuda.so.1 loads, cuInit(0) succeeds and at least one device is
// visible; then `why` (if not NULL) holds a short description such as
// "1 CUDA device(s), driver API 13000". 0 otherwise, with the reason in
// `why`, e.g. "libcuda.so.1 not found: no NVIDIA driver on this machine".
int device_available(char *why, size_t why_size);

