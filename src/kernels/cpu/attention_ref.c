// Reference multi-head scaled-dot-product attention: plain loops, no threads,
// one query row of scores at a time (the row buffer is Nk floats). Dot
// products and softmax sums are accumulated in double so the reference is a
// trustworthy golden for the tiled float kernels in attention.c.
#include <math.h>
#include <stddef.h>

#include "core/error.h"
#include "kernels/ops.h"

static int valid_keys(const int *kvalid, int b, int Nk) {
  if (!kvalid) return Nk;
  int kv = kvalid[b];
  TSR_ASSERT(kv >= 1 && kv <= Nk, "attention: kvalid[%d] = %d outside [1, %d]", b, kv, Nk);
  return kv;
}

void attention_forward_ref(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  const double scale = 1.0 / sqrt((double)C);
  double *s = tsr_calloc((size_t)(Nk > 0 ? Nk : 1), sizeof(double));
  double *o = tsr_calloc((size_t)(C > 0 ? C : 1), sizeof(double));
  for (int b = 0; b < B; b++) {
    const int nv = valid_keys(kvalid, b, Nk);
    for (int h = 0; h < H; h++) {
      for (int i = 0; i < Nq; i++) {
        const float *qi = q + ((size_t)b * Nq + i) * ldq + (size_t)h * C;
        double m = -INFINITY;
        for (int j = 0; j < nv; j++) {
          const float *kj = k + ((size_t)b * Nk + j) * ldk + (size_t)h * C;
          double d = 0;
          for (int c = 0; c < C; c++) d += (double)qi[c] * kj[c];
          s[j] = d * scale;
          if (s[j] > m) m = s[j];
        }
        double l = 0;
        for (int j = 0; j < nv; j++) {
          s[j] = exp(s[j] - m);
          l += s[j];
        }
        for (int c = 0; c < C; c++) o[c] = 0;
        for (int j = 0; j < nv; j++) {
          const float *vj = v + ((size_t)b * Nk + j) * ldv + (size_t)h * C;
          for (int c = 0; c < C; c++) o[c] += s[j] * vj[c];
        }
        float *oi = out + ((size_t)b * Nq + i) * ldo + (size_t)h * C;
        for (int c = 0; c < C; c++) oi[c] = (float)(o[c] / l);
        if (lse) lse[((size_t)b * H + h) * Nq + i] = (float)(m + log(l));
      }
    }
  }
  tsr_free(o);
  tsr_free(s);
}

// With P = exp(S - lse), D_i = sum_c dO_ic O_ic:
//   dV_j += sum_i P_ij dO_i;  dP_ij = dO_i . V_j;  dS_ij = P_ij (dP_ij - D_i)
//   dQ_i += scale sum_j dS_ij K_j;  dK_j += scale sum_i dS_ij Q_i
void attention_backward_ref(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                            const float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  const double scale = 1.0 / sqrt((double)C);
  const size_t nk1 = (size_t)(Nk > 0 ? Nk : 1), c1 = (size_t)(C > 0 ? C : 1);
  double *dqd = tsr_calloc(c1, sizeof(double));
  double *dkd = tsr_calloc(nk1 * c1, sizeof(double));
  double *dvd = tsr_calloc(nk1 * c1, sizeof(double));
  for (int b = 0; b < B; b++) {
    const int nv = valid_keys(kvalid, b, Nk);
    for (int h = 0; h < H; h++) {
      const size_t col = (size_t)h * C;
      for (size_t e = 0; e < (size_t)nv * C; e++) dkd[e] = dvd[e] = 0;
      for (int i = 0; i < Nq; i++) {
        const size_t rq = ((size_t)b * Nq + i);
        const float *qi = q + rq * ldq + col, *doi = dout + rq * ldo + col, *oi = out + rq * ldo + col;
        const double li = lse[((size_t)b * H + h) * Nq + i];
        double D = 0;
        for (int c = 0; c < C; c++) D += (double)doi[c] * oi[c];
        for (int c = 0; c < C; c++) dqd[c] = 0;
        for (int j = 0; j < nv; j++) {
          const size_t rk = (size_t)b * Nk + j;
          const float *kj = k + rk * ldk + col, *vj = v + rk * ldv + col;
          double s = 0, dp = 0;
          for (int c = 0; c < C; c++) s += (double)qi[c] * kj[c];
          for (int c = 0; c < C; c++) dp += (double)doi[c] * vj[c];
          const double pj = exp(s * scale - li), ds = pj * (dp - D);
          for (int c = 0; c < C; c++) {
            dvd[(size_t)j * C + c] += pj * doi[c];
            dkd[(size_t)j * C + c] += scale * ds * qi[c];
            dqd[c] += scale * ds * kj[c];
          }
        }
        if (dq)
          for (int c = 0; c < C; c++) dq[rq * ldq + col + c] += (float)dqd[c];
      }
      for (int j = 0; j < nv; j++) {
        const size_t rk = (size_t)b * Nk + j;
        if (dk)
          for (int c = 0; c < C; c++) dk[rk * ldk + col + c] += (float)dkd[(size_t)j * C + c];
        if (dv)
          for (int c = 0; c < C; c++) dv[rk * ldv + col + c] += (float)dvd[(size_t)j * C + c];
      }
    }
  }
  tsr_free(dvd);
  tsr_free(dkd);
  tsr_free(dqd);
}
