// The backward's dQ write-back shared by the CPU attention kernels (attention_tiles.h).
#include "kernels/cpu/attention_tiles.h"

void attention_dq_add(float *dq, int ldq, const float *dQ, int Cp, int b, int h, int Nq, int C, float scale) {
  for (int i = 0; i < Nq; i++) {
    float *d = dq + ((size_t)b * Nq + i) * ldq + (size_t)h * C;
    const float *src = dQ + (size_t)i * Cp;
    for (int c = 0; c < C; c++) d[c] += src[c] * scale;
  }
}

void attention_dq_sum_splits(float *dq, int ldq, const float *part, int nsplit, int Nqx, int Cp, int BH, int H,
                             int Nq, int C, float scale) {
#pragma omp for schedule(static)
  for (long r = 0; r < (long)BH * Nq; r++) {  // r = bh*Nq + i; sum the splits in order
    const int bh = (int)(r / Nq), i = (int)(r % Nq), b = bh / H, h = bh % H;
    float *d = dq + ((size_t)b * Nq + i) * ldq + (size_t)h * C;
    const float *p0 = part + (size_t)bh * nsplit * Nqx * Cp + (size_t)i * Cp;
    for (int c = 0; c < C; c++) {
      float s = 0;
      for (int sp = 0; sp < nsplit; sp++) s += p0[(size_t)sp * Nqx * Cp + c];
      d[c] += s * scale;
    }
  }
}
