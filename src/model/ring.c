// Ring attention (docs/ring.md): the R ranks of a ring each hold Nr query
// tokens and the K/V of the same Nr tokens. The K/V blocks go round the ring
// (rank r sends to r+1, receives from r-1) with non-blocking point-to-point
// calls, each block attended while the next is in flight; the blocks' outputs
// are folded together by their log-sum-exp (attention_merge). The backward
// re-walks the ring with the merged out and lse (so each block's softmax is
// the global one) and passes the dK/dV partial sums along with the blocks,
// one extra hop bringing each block's complete gradient home.
#include "core/error.h"
#include "kernels/backend.h"
#include "model/parallel.h"

enum { TAG_KV = 701, TAG_DKV = 702 };  // the two streams of messages round the ring

// The ring's neighbours and the size of one K or V block (floats).
typedef struct {
  CommGroup *g;
  int R, next, prev;
  size_t X;  // B*Nr*W
  int W;     // Hh*C
} Ring;

static Ring ring_of(const Model *m, int B, int Nr, int Hh, int C) {
  Ring r = {.g = m->ring_group, .R = m->ring_group ? m->ring_group->size : 1, .W = Hh * C};
  const int me = r.g ? r.g->rank : 0;
  r.next = (me + 1) % r.R, r.prev = (me + r.R - 1) % r.R;
  r.X = (size_t)B * Nr * r.W;
  return r;
}

// Own K and V into one contiguous [2][B*Nr*W] block: the unit that travels.
static void pack_kv(const Model *m, const Ring *r, float *kv, const float *k, int ldk, const float *v, int ldv,
                    int rows) {
  be_copy2d(m->be, kv, r->W, k, ldk, rows, r->W);
  be_copy2d(m->be, kv + r->X, r->W, v, ldv, rows, r->W);
}

void ring_attention_forward(const Model *m, float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                            int ldk, const float *v, int ldv, int B, int Nr, int Hh, int C) {
  const Ring r = ring_of(m, B, Nr, Hh, C);
  if (r.R == 1) {
    be_attention_forward(m->be, out, ldo, lse, q, ldq, k, ldk, v, ldv, NULL, B, Nr, Nr, Hh, C);
    return;
  }
  const GradScratch *g = &m->acts->gs;
  pack_kv(m, &r, g->ring_kv[0], k, ldk, v, ldv, B * Nr);
  for (int s = 0; s < r.R; s++) {  // step s: the block of ring rank (me - s)
    float *cur = g->ring_kv[s % 2], *nxt = g->ring_kv[(s + 1) % 2];
    CommRequest req;
    if (s + 1 < r.R) comm_sendrecv_start(r.g, cur, 2 * r.X, r.next, nxt, 2 * r.X, r.prev, COMM_F32, TAG_KV, &req);
    if (s == 0) {
      be_attention_forward(m->be, out, ldo, lse, q, ldq, cur, r.W, cur + r.X, r.W, NULL, B, Nr, Nr, Hh, C);
    } else {
      be_attention_forward(m->be, g->ring_o, r.W, g->ring_lse, q, ldq, cur, r.W, cur + r.X, r.W, NULL, B, Nr, Nr, Hh,
                           C);
      be_attention_merge(m->be, out, ldo, lse, g->ring_o, r.W, g->ring_lse, B, Nr, Hh, C);
    }
    if (s + 1 < r.R) comm_wait(&req);
  }
}

void ring_attention_backward(const Model *m, float *dq, float *dk, float *dv, const float *dout, const float *out,
                             int ldo, const float *lse, const float *q, int ldq, const float *k, int ldk,
                             const float *v, int ldv, int B, int Nr, int Hh, int C) {
  const Ring r = ring_of(m, B, Nr, Hh, C);
  if (r.R == 1) {
    be_attention_backward(m->be, dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, NULL, B, Nr, Nr, Hh, C);
    return;
  }
  const GradScratch *g = &m->acts->gs;
  pack_kv(m, &r, g->ring_kv[0], k, ldk, v, ldv, B * Nr);
  for (int s = 0; s < r.R; s++) {
    float *cur = g->ring_kv[s % 2], *nxt = g->ring_kv[(s + 1) % 2];
    float *dkv = g->ring_dkv[s % 2], *dkv_prev = g->ring_dkv[(s + 1) % 2];
    CommRequest kv_req, dkv_req;
    if (s + 1 < r.R) comm_sendrecv_start(r.g, cur, 2 * r.X, r.next, nxt, 2 * r.X, r.prev, COMM_F32, TAG_KV, &kv_req);
    // the previous step's partial sums move on while this block is computed;
    // the partial sum of this step's block arrives from the rank before
    if (s > 0)
      comm_sendrecv_start(r.g, dkv_prev, 2 * r.X, r.next, g->ring_dkv_in, 2 * r.X, r.prev, COMM_F32, TAG_DKV,
                          &dkv_req);
    be_zero(m->be, dkv, 2 * r.X);
    be_attention_backward(m->be, dq, dkv, dkv + r.X, dout, out, ldo, lse, q, ldq, cur, r.W, cur + r.X, r.W, NULL, B,
                          Nr, Nr, Hh, C);
    if (s > 0) {
      comm_wait(&dkv_req);
      be_axpy(m->be, dkv, 1.0f, g->ring_dkv_in, (int64_t)(2 * r.X));
    }
    if (s + 1 < r.R) comm_wait(&kv_req);
  }
  // one more hop: each block's sum, complete after R ranks, goes home
  CommRequest home;
  comm_sendrecv_start(r.g, g->ring_dkv[(r.R - 1) % 2], 2 * r.X, r.next, g->ring_dkv_in, 2 * r.X, r.prev, COMM_F32,
                      TAG_DKV, &home);
  comm_wait(&home);
  be_copy2d(m->be, dk, ldk, g->ring_dkv_in, r.W, B * Nr, r.W);
  be_copy2d(m->be, dv, ldv, g->ring_dkv_in + r.X, r.W, B * Nr, r.W);
}
