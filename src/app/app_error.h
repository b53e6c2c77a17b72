// The only place an error becomes a message and an exit code. Library layers
// return a TsrErr (core/error.h); a command ends with one of these.
#pragma once
#include "core/error.h"

// An error every rank sees alike (a bad flag, a config, a missing file read by
// every rank), or any error in a one-rank run: rank 0 prints
// "tessera: error: <msg>", every rank shuts down (tsr_shutdown, MPI_Finalize)
// and exits with e->code (2 when unset).
_Noreturn void app_fail(const TsrErr *e);

// app_fail with a message formatted here (code TSR_EXIT_USER): a bad flag or
// argument, which every rank parses alike.
_Noreturn void app_user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

// After a step that may fail on some ranks only (each its shard of the data):
// collective over the world. When no rank failed (rc == 0 everywhere) it
// returns. Otherwise the first failing rank's message is printed once (with
// "(on rank R of N)" when R is not 0) and every rank exits with its code.
void app_check(int rc, const TsrErr *e);

// `if (lib_call(..., &err)) app_fail(&err);` spelled once.
#define APP_TRY(call, err) \
  do { if ((call) != 0) app_fail(err); } while (0)
