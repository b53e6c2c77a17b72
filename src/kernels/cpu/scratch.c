// Per-thread scratch of the CPU kernels (scratch.h).
#include "kernels/cpu/scratch.h"

#include <pthread.h>

#include "core/error.h"

typedef struct {
  float *buf[SCRATCH_NSLOTS];
  size_t cap[SCRATCH_NSLOTS];
  int registered;
} Scratch;
static _Thread_local Scratch tl_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_release(void *p) {
  Scratch *s = p;
  for (int i = 0; i < SCRATCH_NSLOTS; i++) tsr_free(s->buf[i]), s->buf[i] = NULL, s->cap[i] = 0;
  s->registered = 0;
}
static void scratch_make_key(void) {
  TSR_ASSERT(pthread_key_create(&scratch_key, scratch_release) == 0, "pthread_key_create failed");
}

float *cpu_scratch(ScratchSlot slot, size_t n) {
  Scratch *s = &tl_scratch;
  if (n > s->cap[slot]) {
    if (!s->registered) {
      pthread_once(&scratch_once, scratch_make_key);
      pthread_setspecific(scratch_key, s);
      s->registered = 1;
    }
    tsr_free(s->buf[slot]);
    s->buf[slot] = tsr_calloc(n, sizeof(float));
    s->cap[slot] = n;
  }
  return s->buf[slot];
}
