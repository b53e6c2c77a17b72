// Layout-independent checksum of a checkpoint tensor (docs/checkpoint.md).
// Two sums, over the elements of the logical tensor, of the 32-bit halves of
// splitmix64((logical index << 32) | float bits). A sum does not depend on
// the order of its terms, so the tp writers of a sharded tensor each sum the
// elements they hold and the partial sums add up (an allreduce) to the
// checksum of the whole tensor: the same value whatever layout wrote it. A
// flipped bit changes one term, and both sums stay equal with probability
// about 2^-64. Each sum has at most 2^31 terms below 2^32: no overflow.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/params.h"

// The elements this rank holds of p (its local buffer), at their logical indices.
void ckpt_sum_local(const ParamInfo *p, const float *local, int64_t sum[2]);
// The whole logical tensor (n elements in logical order).
void ckpt_sum_full(const float *x, size_t n, int64_t sum[2]);
// This rank's local tensor out of the logical one (the hyperslab of select_local).
void ckpt_take_local(const ParamInfo *p, const float *full, float *local);
