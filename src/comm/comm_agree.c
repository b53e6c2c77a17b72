// Agreement over the whole world about an error (src/app/app_error.c): which
// ranks failed, and the message of the first. Every rank calls these.
#include <string.h>
#ifdef TSR_HAVE_MPI
#include <mpi.h>
#endif

#include "comm/comm.h"
#include "core/error.h"

int comm_world_first_failure(int failed) {
  int mine = failed ? comm_world_rank() : comm_world_size(), first = mine;
#ifdef TSR_HAVE_MPI
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_CHECK(MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD));
#endif
  return first < comm_world_size() ? first : -1;
}

void comm_world_bcast_bytes(void *buf, size_t n, int root) {
#ifdef TSR_HAVE_MPI
  int up = 0, down = 0;
  MPI_Initialized(&up);
  MPI_Finalized(&down);
  if (up && !down) MPI_CHECK(MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD));
#else
  (void)buf, (void)n, (void)root;
#endif
}
