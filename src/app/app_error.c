#include "app/app_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"

_Noreturn static void leave(const TsrErr *e, int from_rank) {
  int code = e->code ? e->code : TSR_EXIT_USER;
  if (comm_world_rank() == 0) {
    if (from_rank > 0) fprintf(stderr, "tessera: error: %s (on rank %d of %d)\n", e->msg, from_rank, comm_world_size());
    else fprintf(stderr, "tessera: error: %s\n", e->msg);
    fflush(stderr);
  }
  tsr_shutdown();   // helper threads stop before HDF5 and MPI go down
  comm_finalize();  // every rank is here, so MPI_Finalize completes
  exit(code);
}

void app_fail(const TsrErr *e) { leave(e, 0); }

void app_user_error(const char *fmt, ...) {
  TsrErr e = {.code = TSR_EXIT_USER};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  leave(&e, 0);
}

void app_check(int rc, const TsrErr *e) {
  int first = comm_world_first_failure(rc != 0);
  if (first < 0) return;
  TsrErr shared = {0};
  if (comm_world_rank() == first) shared = *e;
  comm_world_bcast_bytes(&shared, sizeof shared, first);
  leave(&shared, first);
}
