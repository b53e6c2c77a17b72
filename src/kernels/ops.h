// CPU ops of the video diffusion transformer. One signature per op:
//   <op>_forward(out, cache..., in, weights..., dims...)
//   <op>_backward(din, dweight..., dout, in, cache..., dims...)
// Conventions
//  - Row-major float32. Shapes in the comments; M = rows (B*N tokens).
//  - Backward ops ACCUMULATE (+=) into every gradient they write, inputs'
//    gradients included (so residual branches just add). Callers zero them.
//    Any gradient pointer may be NULL to skip it.
//  - Each op has a plain reference `<op>_..._ref` (straight loops, no
//    threads) and the fast version without suffix (OpenMP, GEMM library);
//    tests hold the fast one to the reference and the reference to finite
//    differences.
//  - Linear layers use PyTorch's layout: weight [out,in], bias [out].
#pragma once
#include <stdint.h>

// ---------------------------------------------------------------- GEMM
// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
// A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb).
void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);
void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
const char *gemm_library(void);  // "oneDNN x.y" or "reference"

// ---------------------------------------------------------------- linear
// out[M,O] = in[M,I] w[O,I]^T + b[O]   (b may be NULL)
void linear_forward(float *out, const float *in, const float *w, const float *b, int M, int I, int O);
// din[M,I] += dout w;  dw[O,I] += dout^T in;  db[O] += sum_m dout
void linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                     const float *w, int M, int I, int O);
void linear_forward_ref(float *out, const float *in, const float *w, const float *b, int M, int I, int O);
void linear_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O);

// ---------------------------------------------------------------- LayerNorm
// Over the last dim C of in[M,C]. w,b [C] may be NULL (no affine).
// mean[M], rstd[M] are saved for backward. eps = 1e-6 everywhere in tessera.
#define TSR_NORM_EPS 1e-6f
void layernorm_forward(float *out, float *mean, float *rstd, const float *in, const float *w,
                       const float *b, int M, int C);
void layernorm_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, const float *mean, const float *rstd, int M, int C);
void layernorm_forward_ref(float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int M, int C);
void layernorm_backward_ref(float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int M, int C);

// ---------------------------------------------------------------- RMSNorm per head
// in rows of C = head_dim values, each row at stride ld from the previous one
// within a token: element (m, h, c) is at in[m*ld_in + h*C + c]; H heads.
// out (m,h,c) at out[m*ld_out + h*C + c]. w[C] learned. rstd[M*H] saved.
// out = in * rsqrt(mean(in^2) + eps) * w
void rmsnorm_forward(float *out, int ld_out, float *rstd, const float *in, int ld_in,
                     const float *w, int M, int H, int C);
void rmsnorm_backward(float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                      const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C);
void rmsnorm_forward_ref(float *out, int ld_out, float *rstd, const float *in, int ld_in,
                         const float *w, int M, int H, int C);
void rmsnorm_backward_ref(float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                          const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C);

// ---------------------------------------------------------------- activations
// GELU with tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
void gelu_forward(float *out, const float *in, int64_t n);
void gelu_backward(float *din, const float *dout, const float *in, int64_t n);
void gelu_forward_ref(float *out, const float *in, int64_t n);
void gelu_backward_ref(float *din, const float *dout, const float *in, int64_t n);
// SiLU: x * sigmoid(x)
void silu_forward(float *out, const float *in, int64_t n);
void silu_backward(float *din, const float *dout, const float *in, int64_t n);
void silu_forward_ref(float *out, const float *in, int64_t n);
void silu_backward_ref(float *din, const float *dout, const float *in, int64_t n);

// ---------------------------------------------------------------- adaLN modulate / gate
// Per-token modulation. The modulation vectors of sample b come in two
// variants v = sel[b*N+n] (0: the sample's timestep t, 1: the clean t=0 of
// conditioned frames). The vector for token (b,n) starts at
//   shift + (b*2 + v) * mod_stride     (same for scale, gate)
// and has D entries. sel may be NULL (all variant 0).
// out[B,N,D] = in * (1 + scale) + shift
void modulate_forward(float *out, const float *in, const float *shift, const float *scale,
                      const uint8_t *sel, int mod_stride, int B, int N, int D);
// din += dout*(1+scale); dshift += dout; dscale += dout*in (same strided layout)
void modulate_backward(float *din, float *dshift, float *dscale, const float *dout, const float *in,
                       const float *scale, const uint8_t *sel, int mod_stride, int B, int N, int D);
void modulate_forward_ref(float *out, const float *in, const float *shift, const float *scale,
                          const uint8_t *sel, int mod_stride, int B, int N, int D);
void modulate_backward_ref(float *din, float *dshift, float *dscale, const float *dout, const float *in,
                           const float *scale, const uint8_t *sel, int mod_stride, int B, int N, int D);
// Gated residual: x[B,N,D] += gate ⊙ y   (gate NULL: plain residual x += y)
void gate_residual_forward(float *x, const float *y, const float *gate, const uint8_t *sel,
                           int mod_stride, int B, int N, int D);
// dy += dx*gate; dgate += dx*y   (dx itself flows on unchanged: the caller keeps it)
void gate_residual_backward(float *dy, float *dgate, const float *dx, const float *y, const float *gate,
                            const uint8_t *sel, int mod_stride, int B, int N, int D);
void gate_residual_forward_ref(float *x, const float *y, const float *gate, const uint8_t *sel,
                               int mod_stride, int B, int N, int D);
void gate_residual_backward_ref(float *dy, float *dgate, const float *dx, const float *y, const float *gate,
                                const uint8_t *sel, int mod_stride, int B, int N, int D);

// ---------------------------------------------------------------- 3D RoPE
// Head dim C split into (rope[0], rope[1], rope[2]) for the (t,h,w) axes,
// each even. Within axis a's segment, pair i (elements 2i, 2i+1) rotates by
// angle pos_a * 10000^(-2i/rope[a]) with integer token coordinates:
// token index n (global: n0 + local n) -> t = n/(gh*gw), h = (n/gw)%gh, w = n%gw.
// Table: cos/sin [N, C/2] for local tokens n0..n0+N-1.
void rope3d_table(float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw, const int rope[3]);
// x[B,N,H,C] (rows at stride ld between tokens) rotated in place.
void rope3d_forward(float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C);
// Backward is the inverse rotation applied in place to the gradient.
void rope3d_backward(float *dx, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C);
// Reference: computes angles directly (no table).
void rope3d_forward_ref(float *x, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C);
void rope3d_backward_ref(float *dx, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C);

// ---------------------------------------------------------------- attention
// Multi-head scaled-dot-product attention, softmax(q k^T / sqrt(C)) v,
// tiled with an online softmax: never holds an Nq x Nk score matrix.
// q (b,n,h,c) at q[(b*Nq+n)*ldq + h*C + c]; k, v likewise with Nk, ldk, ldv;
// out at out[(b*Nq+n)*ldo + h*C + c]. kvalid[B] (may be NULL): keys
// j >= kvalid[b] are padding and masked out (kvalid[b] >= 1).
// lse[B,H,Nq]: log-sum-exp of each query's scaled scores, saved for backward.
void attention_forward(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);
// dq, dk, dv accumulate (+=) with strides ldq, ldk, ldv; dout at ldo.
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                        const float *lse, const float *q, int ldq, const float *k, int ldk,
                        const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);
// Reference: materialises one query row of scores at a time, plain loops.
void attention_forward_ref(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                           const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);
void attention_backward_ref(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                            const float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);

// ---------------------------------------------------------------- embeddings
// Sinusoidal timestep embedding of 1000*t: out[B,F], first F/2 = cos, then sin,
// f_i = exp(-ln(10000) * i / (F/2)).
void timestep_embedding(float *out, const float *t, int B, int F);
// Token + learned position: out[B,L,D] = table[tokens[b,l]] + pos[l]
void embedding_forward(float *out, const int32_t *tokens, const float *table, const float *pos,
                       int B, int L, int D);
void embedding_backward(float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                        int B, int L, int D);
// Masked mean over the first nvalid[b] rows: out[B,D] = mean_{l<nvalid[b]} in[b,l,:]
void masked_mean_forward(float *out, const float *in, const int *nvalid, int B, int L, int D);
void masked_mean_backward(float *din, const float *dout, const int *nvalid, int B, int L, int D);

// ---------------------------------------------------------------- patches
// video[B,T,H,W,C] -> patches[B,N,P], token order (t,h,w), patch vector (pt,ph,pw,C)
void patchify(float *patches, const float *video, int B, int T, int H, int W, int C, int pt, int ph, int pw);
void unpatchify(float *video, const float *patches, int B, int T, int H, int W, int C, int pt, int ph, int pw);

// ---------------------------------------------------------------- loss
// Rectified-flow loss: mean over the weighted tokens of (pred - target)^2,
//   loss = sum_{b,n,p} w[b,n] (pred-target)^2 / (P * sum_{b,n} w[b,n])
// w[M] in {0,1} (NULL: all 1). Writes (=) dpred = d loss / d pred. Returns loss.
float mse_loss(float *dpred, const float *pred, const float *target, const float *w, int M, int P);

// ---------------------------------------------------------------- optimizer
// AdamW (decoupled weight decay), bias-corrected with `step` (1-based):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps) + wd * p )
void adamw_update(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                  float beta2, float eps, float wd, int step);
void adamw_update_ref(float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                      float beta2, float eps, float wd, int step);
