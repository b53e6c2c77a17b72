#include "core/fpenv.h"

#include <float.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

void fpenv_flush_denormals(void) {
#if defined(__x86_64__) || defined(__i386__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#elif defined(__aarch64__)
  // FPCR.FZ (bit 24) flushes both inputs and results on AArch64.
  unsigned long fpcr;
  __asm__ volatile("mrs %0, fpcr" : "=r"(fpcr));
  __asm__ volatile("msr fpcr, %0" : : "r"(fpcr | (1ul << 24)));
#endif
}

void fpenv_flush_denormals_all_threads(void) {
  fpenv_flush_denormals();
#pragma omp parallel
  fpenv_flush_denormals();
}

int fpenv_denormals_flushed(void) {
  // volatile: computed at run time in this thread's environment, not folded.
  volatile float subnormal = FLT_MIN / 4.0f, half = 0.5f, smallest_normal = FLT_MIN;
  const int daz = !(subnormal != 0.0f);             // a comparison reads inputs only: DAZ makes it 0
  const float product = smallest_normal * half;   // FTZ: the subnormal result becomes 0
  uint32_t bits;                                   // read as bits: a float compare would apply DAZ
  memcpy(&bits, &product, sizeof bits);
  const int ftz = (bits & 0x7fffffffu) == 0;
  return daz && ftz;
}

int fpenv_flushing_omp_threads(int *nthreads) {
  int flushing = 0, n = 0;
#pragma omp parallel reduction(+ : flushing, n)
  {
    n += 1;
    flushing += fpenv_denormals_flushed();
  }
  if (nthreads) *nthreads = n;
  return flushing;
}
