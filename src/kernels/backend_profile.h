// A profiling backend: wraps another backend and times every op call it
// forwards (wall clock, after a sync of the inner backend so a device's
// queued work is charged to the op that queued it). Results are bit for bit
// those of the inner backend; only the time between ops changes (on a GPU,
// profiling serialises the queue). `tessera bench step --profile` prints the
// table: where a training step and a denoising step spend their time, per op.
#pragma once
#include <stddef.h>

#include "kernels/backend.h"

// A backend that forwards to `inner` (which stays owned by the caller and
// must outlive it). Free with backend_close.
Backend *backend_profiled(const Backend *inner);
// The ops of kernels/oplist.h, in its order: how many, and the name of op i.
int profile_op_count(void);
const char *profile_op_name(int i);
// Each op's seconds and calls since backend_profiled, in oplist order
// (profile_op_count entries each).
void profile_totals(const Backend *profiled, double *seconds, long *calls);
