// attention_merge (ops.h): fold one K/V block's attention (out, lse) into the
// running result, the log-sum-exp way (ring attention, docs/ring.md).
#include <math.h>

#include "kernels/ops.h"

void attention_merge(float *out, int ldo, float *lse, const float *blk, int ldb, const float *blk_lse, int B, int N,
                     int H, int C) {
  const long rows = (long)B * N;
#pragma omp parallel for schedule(static) if (rows * H * C > 1 << 15)
  for (long r = 0; r < rows; r++) {
    const long b = r / N, n = r % N;
    for (int h = 0; h < H; h++) {
      const long li = (b * H + h) * N + n;
      const double l1 = lse[li], l2 = blk_lse[li], m = l1 > l2 ? l1 : l2;
      const double w1 = exp(l1 - m), w2 = exp(l2 - m), s = w1 + w2;
      const float a1 = (float)(w1 / s), a2 = (float)(w2 / s);
      float *o = out + r * ldo + (long)h * C;
      const float *x = blk + r * ldb + (long)h * C;
      for (int c = 0; c < C; c++) o[c] = a1 * o[c] + a2 * x[c];
      lse[li] = (float)(m + log(s));
    }
  }
}
