// Blockwise (ring) attention from the kernels: attention_forward over each
// K/V block + attention_merge must equal attention over all keys at once
// (the plain reference, double accumulation), for the fast and the reference
// attention; the backward over each block with the merged out and lse must
// sum to the whole-sequence gradient (dq) and give each block's slice of dk,
// dv; and the blockwise composition's gradient must match central finite
// differences of the blockwise forward. attention_merge itself: a hand value.
// The multi-rank ring (src/model/ring.c) is held to one rank in
// tests/unit/test_model_parallel.c.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "testlib.h"

enum { B = 2, NQ = 23, H = 3, C = 8, NBLK = 3 };
static const int NK[NBLK] = {17, 29, 11};
enum { LDQ = H * C + 5, LDK = H * C + 3, LDO = H * C + 2 };

typedef void (*AttnFwd)(float *, int, float *, const float *, int, const float *, int, const float *, int,
                        const int *, int, int, int, int, int);

// keys/values of block j as their own [B, NK[j], LDK] buffer, cut from the whole [B, NKall, LDK]
static float *block_of(const float *all, int nk_all, int j) {
  int off = 0;
  for (int i = 0; i < j; i++) off += NK[i];
  float *b = calloc((size_t)B * NK[j] * LDK, sizeof(float));
  for (int s = 0; s < B; s++)
    memcpy(b + (size_t)s * NK[j] * LDK, all + ((size_t)s * nk_all + off) * LDK, (size_t)NK[j] * LDK * sizeof(float));
  return b;
}

static void blockwise_forward(AttnFwd fwd, float *out, float *lse, const float *q, float *const kb[], float *const vb[]) {
  float *o = calloc((size_t)B * NQ * LDO, sizeof(float)), *l = calloc((size_t)B * H * NQ, sizeof(float));
  fwd(out, LDO, lse, q, LDQ, kb[0], LDK, vb[0], LDK, NULL, B, NQ, NK[0], H, C);
  for (int j = 1; j < NBLK; j++) {
    fwd(o, LDO, l, q, LDQ, kb[j], LDK, vb[j], LDK, NULL, B, NQ, NK[j], H, C);
    attention_merge(out, LDO, lse, o, LDO, l, B, NQ, H, C);
  }
  free(o), free(l);
}

// L = sum(out * r) through the blockwise forward (reference attention)
static double loss_of(const float *q, float *const kb[], float *const vb[], const float *r) {
  const size_t no = (size_t)B * NQ * LDO;
  float *out = calloc(no, sizeof(float)), *lse = calloc((size_t)B * H * NQ, sizeof(float));
  blockwise_forward(attention_forward_ref, out, lse, q, kb, vb);
  double L = 0;
  for (int s = 0; s < B * NQ; s++)
    for (int c = 0; c < H * C; c++) L += (double)out[(size_t)s * LDO + c] * r[(size_t)s * LDO + c];
  free(out), free(lse);
  return L;
}

int main(void) {
  int nk = 0;
  for (int j = 0; j < NBLK; j++) nk += NK[j];
  const size_t nq = (size_t)B * NQ * LDQ, nkv = (size_t)B * nk * LDK, no = (size_t)B * NQ * LDO, nl = (size_t)B * H * NQ;
  float *q = calloc(nq, sizeof(float)), *k = calloc(nkv, sizeof(float)), *v = calloc(nkv, sizeof(float));
  tl_fill(q, (int64_t)nq, 1), tl_fill(k, (int64_t)nkv, 2), tl_fill(v, (int64_t)nkv, 3);
  for (size_t i = 0; i < nq; i++) q[i] *= 2.0f;  // sharper softmax: blocks matter
  float *kb[NBLK], *vb[NBLK];
  for (int j = 0; j < NBLK; j++) kb[j] = block_of(k, nk, j), vb[j] = block_of(v, nk, j);

  // 1. forward: blockwise + merge == all keys at once (reference, double)
  float *full = calloc(no, sizeof(float)), *full_lse = calloc(nl, sizeof(float));
  attention_forward_ref(full, LDO, full_lse, q, LDQ, k, LDK, v, LDK, NULL, B, NQ, nk, H, C);
  const AttnFwd fwds[2] = {attention_forward, attention_forward_ref};
  float *out = calloc(no, sizeof(float)), *lse = calloc(nl, sizeof(float));
  for (int f = 0; f < 2; f++) {
    blockwise_forward(fwds[f], out, lse, q, kb, vb);
    EXPECT_CLOSE(out, full, (int64_t)no, 1e-5, f ? "blockwise ref out vs all keys" : "blockwise fast out vs all keys");
    EXPECT_CLOSE(lse, full_lse, (int64_t)nl, 1e-6, f ? "blockwise ref lse" : "blockwise fast lse");
  }
  // one block alone is NOT the answer (the merge is what makes it right)
  float *one = calloc(no, sizeof(float)), *one_lse = calloc(nl, sizeof(float));
  attention_forward_ref(one, LDO, one_lse, q, LDQ, kb[1], LDK, vb[1], LDK, NULL, B, NQ, NK[1], H, C);
  EXPECT(tl_rel_err(one, full, (int64_t)no) > 1e-2, "a single block differs from the whole (the test can fail)");

  // 2. backward: per block with the merged out and lse, summed == whole-sequence backward
  float *dout = calloc(no, sizeof(float));
  tl_fill(dout, (int64_t)no, 4);
  float *dq_full = calloc(nq, sizeof(float)), *dk_full = calloc(nkv, sizeof(float)), *dv_full = calloc(nkv, sizeof(float));
  attention_backward_ref(dq_full, dk_full, dv_full, dout, full, LDO, full_lse, q, LDQ, k, LDK, v, LDK, NULL, B, NQ, nk,
                         H, C);
  for (int f = 0; f < 2; f++) {
    float *dq = calloc(nq, sizeof(float));
    double ek = 0, ev = 0;
    for (int j = 0; j < NBLK; j++) {
      const size_t nb = (size_t)B * NK[j] * LDK;
      float *dk = calloc(nb, sizeof(float)), *dv = calloc(nb, sizeof(float));
      (f ? attention_backward_ref : attention_backward)(dq, dk, dv, dout, full, LDO, full_lse, q, LDQ, kb[j], LDK,
                                                         vb[j], LDK, NULL, B, NQ, NK[j], H, C);
      float *wk = block_of(dk_full, nk, j), *wv = block_of(dv_full, nk, j);
      ek = fmax(ek, tl_rel_err(dk, wk, (int64_t)nb)), ev = fmax(ev, tl_rel_err(dv, wv, (int64_t)nb));
      free(dk), free(dv), free(wk), free(wv);
    }
    EXPECT_CLOSE(dq, dq_full, (int64_t)nq, 1e-5, f ? "ref blockwise dq (sum over blocks)" : "fast blockwise dq");
    EXPECT(ek <= 1e-5 && ev <= 1e-5, "%s blockwise dk %.3g dv %.3g vs the whole", f ? "ref" : "fast", ek, ev);
    free(dq);
  }

  // 3. finite differences of the blockwise forward: dq, and dk / dv of block 1
  float *r = calloc(no, sizeof(float));
  tl_fill(r, (int64_t)no, 5);
  blockwise_forward(attention_forward_ref, out, lse, q, kb, vb);
  float *dq = calloc(nq, sizeof(float)), *dk1 = calloc((size_t)B * NK[1] * LDK, sizeof(float)),
        *dv1 = calloc((size_t)B * NK[1] * LDK, sizeof(float)), *scratch = calloc(nkv, sizeof(float));
  for (int j = 0; j < NBLK; j++)
    attention_backward_ref(dq, j == 1 ? dk1 : scratch, j == 1 ? dv1 : scratch, r, out, LDO, lse, q, LDQ, kb[j], LDK,
                           vb[j], LDK, NULL, B, NQ, NK[j], H, C);
  struct { float *x, *g; size_t n; const char *name; } vars[3] = {
      {q, dq, nq, "dq"}, {kb[1], dk1, (size_t)B * NK[1] * LDK, "dk block 1"}, {vb[1], dv1, (size_t)B * NK[1] * LDK, "dv block 1"}};
  for (int vi = 0; vi < 3; vi++) {
    double num = 0, den = 0, off5 = 0;
    for (int t = 0; t < 32; t++) {
      size_t i = (size_t)(t * 7919 + 13) % vars[vi].n;
      if (i % (vi ? LDK : LDQ) >= H * C) i -= (vi ? LDK : LDQ) - H * C;  // inside a head slice
      const float x0 = vars[vi].x[i], h = 1e-3f;
      vars[vi].x[i] = x0 + h;
      double lp = loss_of(q, kb, vb, r);
      vars[vi].x[i] = x0 - h;
      double lm = loss_of(q, kb, vb, r);
      vars[vi].x[i] = x0;
      const double fd = (lp - lm) / (2.0 * h), an = vars[vi].g[i];
      num += (fd - an) * (fd - an), den += fd * fd, off5 += (fd - 1.05 * an) * (fd - 1.05 * an);
    }
    const double e = sqrt(num / den), e5 = sqrt(off5 / den);
    EXPECT(den > 1e-6 && e <= 1e-2 && e5 > 1e-2, "FD %s: rel err %.3g (a 5%% error would read %.3g)", vars[vi].name, e,
           e5);
    printf("  FD %-11s rel err %.2e (5%% planted: %.2e)\n", vars[vi].name, e, e5);
  }

  // 4. merge by hand: merging a row with itself keeps out and adds ln 2 to lse
  float o1[2] = {0.5f, -2.0f}, l1[1] = {0.25f};
  const float o2[2] = {0.5f, -2.0f}, l2[1] = {0.25f};
  attention_merge(o1, 2, l1, o2, 2, l2, 1, 1, 1, 2);
  EXPECT(o1[0] == 0.5f && o1[1] == -2.0f && fabsf(l1[0] - (0.25f + logf(2.0f))) < 1e-7f, "merge with itself: %g %g %g",
         o1[0], o1[1], l1[0]);
  float o3[1] = {1.0f}, l3[1] = {0.0f};  // weights e^0 : e^ln3 = 1:3 -> (1 + 3*5)/4 = 4, lse ln 4
  const float o4[1] = {5.0f}, l4[1] = {logf(3.0f)};
  attention_merge(o3, 1, l3, o4, 1, l4, 1, 1, 1, 1);
  EXPECT(fabsf(o3[0] - 4.0f) < 1e-6f && fabsf(l3[0] - logf(4.0f)) < 1e-6f, "merge 1:3: out %g lse %g", o3[0], l3[0]);
  return tl_finish("test_ring_attention");
}
