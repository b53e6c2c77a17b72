// The forward's and the backward's write-backs shared by the CPU attention kernels (attention_tiles.h).
#include "kernels/cpu/attention_tiles.h"

#include <math.h>

void attention_out_write(float *out, int ldo, float *lse, const float *O, int Cp, const float *m, const float *l,
                         int b, int h, int H, int Nq, int i0, int nq, int C) {
  for (int i = 0; i < nq; i++) {
    const float inv = 1.0f / l[i];
    const float *o = O + (size_t)i * Cp;
    float *dst = out + ((size_t)b * Nq + i0 + i) * ldo + (size_t)h * C;
    for (int c = 0; c < C; c++) dst[c] = o[c] * inv;
    if (lse) lse[((size_t)b * H + h) * Nq + i0 + i] = (m[i] + log2f(l[i])) * LN2;
  }
}

void attention_dkv_add(float *dk, int ldk, float *dv, int ldv, const float *dK, const float *dV, int Cp, size_t rk,
                       size_t col, int nk, int C) {
  for (int j = 0; j < nk; j++) {
    if (dk) {
      float *d = dk + (rk + j) * ldk + col;
      const float *s = dK + (size_t)j * Cp;
      for (int c = 0; c < C; c++) d[c] += s[c] * (1.0f / LOG2E);
    }
    if (dv) {
      float *d = dv + (rk + j) * ldv + col;
      const float *s = dV + (size_t)j * Cp;
      for (int c = 0; c < C; c++) d[c] += s[c];
    }
  }
}

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
