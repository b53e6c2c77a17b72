#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

// The process context: which rank this process is (set once at start-up).
static int g_rank = 0;

void log_set_rank(int rank) { g_rank = rank; }
int log_rank(void) { return g_rank; }

void log_info(const char *fmt, ...) {
  if (g_rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
}

void log_warn(const char *fmt, ...) {
  if (g_rank != 0) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("tessera: warning: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}
