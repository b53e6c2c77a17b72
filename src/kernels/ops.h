// CPU ops of the video diffusion transformer. Every op of kernels/oplist.h
// is declared here from that list; this file documents what each computes.
//   <op>_forward(out, cache..., in, weights..., dims...)
//   <op>_backward(din, dweight..., dout, in, cache..., dims...)
// Conventions (every backend keeps them)
//  - Row-major float32. Shapes in the comments; M = rows (B*N tokens).
//  - Backward ops ACCUMULATE (+=) into every gradient they write, inputs'
//    gradients included (so residual branches just add). Callers zero them.
//    Any gradient pointer may be NULL to skip it.
//  - A REF op has a plain reference `<op>_ref` (straight loops, no threads)
//    beside the fast version without suffix (OpenMP, GEMM library); tests
//    hold the fast one to the reference and the reference to finite
//    differences or PyTorch.
//  - Linear layers use PyTorch's layout: weight [out,in], bias [out].
// Code above src/kernels calls these through a backend (kernels/backend.h),
// never directly, so the same model runs on every device.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels/oplist.h"

#define TSR_OP_PROTO_REF(name, params) void name##_ref params;
#define TSR_OP_PROTO_ONE(name, params)
#define TSR_OP_PROTO(kind, name, params, args) void name params; TSR_OP_PROTO_##kind(name, params)
TSR_OPS(TSR_OP_PROTO)

// ---------------------------------------------------------------- GEMM
// gemm: C[M,N] = alpha * op(A) * op(B) + beta * C, row-major; op(X) = X or X^T.
// A is [M,K] (or [K,M] when ta), B is [K,N] (or [N,K] when tb).
const char *gemm_library(void);  // "oneDNN x.y" or "reference"
// The CPU backend's bf16 mode (kernels/cpu/gemm_bf16.c): gemm with A and B
// rounded to bf16 (nearest even), fp32 accumulation, through oneDNN's matmul;
// only where the CPU has AVX512-BF16 (gemm_bf16_available: 0 and the reason
// otherwise, or without oneDNN).
int gemm_bf16_available(char *why, size_t why_size);
void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
// The bf16 linear backward's two products with dout rounded once:
// din[M,I] += dout[M,O] w[O,I], dw[O,I] += dout^T in[M,I] (either may be NULL).
void linear_grads_bf16(float *din, float *dw, const float *dout, const float *in, const float *w, int M, int I, int O);

// ---------------------------------------------------------------- linear
// linear_forward:  out[M,O] = in[M,I] w[O,I]^T + b[O]   (b may be NULL)
// linear_backward: din[M,I] += dout w;  dw[O,I] += dout^T in;  db[O] += sum_m dout
// _bf16: the same through gemm_bf16 (the bias and db in fp32)
void linear_forward_bf16(float *out, const float *in, const float *w, const float *b, int M, int I, int O);
void linear_backward_bf16(float *din, float *dw, float *db, const float *dout, const float *in, const float *w, int M,
                          int I, int O);
// attention_forward_bf16 / attention_backward_bf16 (kernels/cpu/attention_bf16.c): attention_forward /
// attention_backward (same arguments and semantics, see "attention" below) with every tile product on bf16
// operands (nearest even) and fp32 accumulation (AVX512-BF16); softmax statistics, exp, lse, D and all
// accumulators in fp32. Without AVX512-BF16 they are the fp32 functions.
void attention_forward_bf16(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);
void attention_backward_bf16(float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo,
                             const float *lse, const float *q, int ldq, const float *k, int ldk, const float *v,
                             int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C);

// ---------------------------------------------------------------- LayerNorm
// Over the last dim C of in[M,C]. w,b [C] may be NULL (no affine).
// mean[M], rstd[M] are saved for backward. eps = 1e-6 everywhere in tessera.
#define TSR_NORM_EPS 1e-6f

// ---------------------------------------------------------------- RMSNorm per head
// in rows of C = head_dim values, each row at stride ld from the previous one
// within a token: element (m, h, c) is at in[m*ld_in + h*C + c]; H heads.
// out (m,h,c) at out[m*ld_out + h*C + c]. w[C] learned. rstd[M*H] saved.
// out = in * rsqrt(mean(in^2) + eps) * w

// ---------------------------------------------------------------- activations
// gelu: GELU with tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
// silu: x * sigmoid(x).  *_backward: din += dout * f'(in)

// ---------------------------------------------------------------- adaLN modulate / gate
// Per-token modulation. The modulation vectors of sample b come in two
// variants v = sel[b*N+n] (0: the sample's timestep t, 1: the clean t=0 of
// conditioned frames). The vector for token (b,n) starts at
//   shift + (b*2 + v) * mod_stride     (same for scale, gate)
// and has D entries. sel may be NULL (all variant 0).
// modulate_forward:  out[B,N,D] = in * (1 + scale) + shift
// modulate_backward: din += dout*(1+scale); dshift += dout; dscale += dout*in (same strided layout)
// gate_residual_forward:  gated residual x[B,N,D] += gate ⊙ y   (gate NULL: plain residual x += y)
// gate_residual_backward: dy += dx*gate; dgate += dx*y   (dx itself flows on unchanged: the caller keeps it)

// ---------------------------------------------------------------- 3D RoPE
// Head dim C split into (rope[0], rope[1], rope[2]) for the (t,h,w) axes,
// each even. Within axis a's segment, pair i (elements 2i, 2i+1) rotates by
// angle pos_a * 10000^(-2i/rope[a]) with integer token coordinates:
// token index n (global: n0 + local n) -> t = n/(gh*gw), h = (n/gw)%gh, w = n%gw.
// rope3d_table: cos/sin [N, C/2] for local tokens n0..n0+N-1.
// rope3d_forward: x[B,N,H,C] (rows at stride ld between tokens) rotated in place.
// rope3d_backward: the inverse rotation applied in place to the gradient.
// References: compute angles directly (no table).
void rope3d_forward_ref(float *x, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C);
void rope3d_backward_ref(float *dx, int ld, int n0, int gh, int gw, const int rope[3], int B, int N, int H, int C);

// ---------------------------------------------------------------- attention
// Multi-head scaled-dot-product attention, softmax(q k^T / sqrt(C)) v,
// tiled with an online softmax: never holds an Nq x Nk score matrix.
// q (b,n,h,c) at q[(b*Nq+n)*ldq + h*C + c]; k, v likewise with Nk, ldk, ldv;
// out at out[(b*Nq+n)*ldo + h*C + c]. kvalid[B] (may be NULL): keys
// j >= kvalid[b] are padding and masked out (kvalid[b] >= 1).
// lse[B,H,Nq]: log-sum-exp of each query's scaled scores, saved for backward.
// attention_backward: dq, dk, dv accumulate (+=) with strides ldq, ldk, ldv; dout at ldo.
// The reference materialises one query row of scores at a time, plain loops.
// Blockwise (ring) attention: attention_forward over one K/V block gives that
// block's out and lse; attention_merge folds it into the running result:
//   lse' = log(e^lse + e^blk_lse),  out' = e^(lse-lse')·out + e^(blk_lse-lse')·blk
// out/blk at ldo/ldb as above, lse/blk_lse [B,H,N]; the weights in double.
// attention_backward over one block with the MERGED out and lse gives that
// block's exact share of dq and its dk, dv (P = exp(S - lse) is the global
// softmax restricted to the block), so the backward needs no merge.

// ---------------------------------------------------------------- embeddings
// timestep_embedding: sinusoidal embedding of 1000*t: out[B,F], first F/2 = cos,
//   then sin, f_i = exp(-ln(10000) * i / (F/2)).
// embedding_forward: token + learned position: out[B,L,D] = table[tokens[b,l]] + pos[l]
//   (pos may be NULL); embedding_backward accumulates into dtable, dpos.
// masked_mean_forward: out[B,D] = mean_{l<nvalid[b]} in[b,l,:]; backward: din +=.

// ---------------------------------------------------------------- patches
// patchify: video[B,T,H,W,C] -> patches[B,N,P], token order (t,h,w), patch
// vector (pt,ph,pw,C); unpatchify the inverse.

// ---------------------------------------------------------------- loss
// Rectified-flow loss: mean over the weighted tokens of (pred - target)^2,
//   *loss = sum_{b,n,p} w[b,n] (pred-target)^2 / (P * sum_{b,n} w[b,n])
// w[M] in {0,1} (NULL: all 1). Writes (=) dpred = d loss / d pred (may be NULL).

// ---------------------------------------------------------------- optimizer
// AdamW (decoupled weight decay), bias-corrected with `step` (1-based):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m/(1-b1^step)) / (sqrt(v/(1-b2^step)) + eps) + wd * p )

// ---------------------------------------------------------------- elementwise glue
// The small steps between the ops above, so that no layer above the kernels
// loops over an activation buffer of its own:
// fill_f32:      x[n] = value
// axpy:          y[n] += alpha * x[n]   (alpha = 1 is an exact add)
// scale_f32:     x[n] *= s
// add_broadcast: out[r,c] = a[r,c] + b[r/reps, c], r < R (out may be a: in place;
//                b = bias with reps = R adds one row to every row)
// sum_groups:    out[g,c] = in[g*reps,c] + in[g*reps+1,c] + ... (reps rows, in order), g < G
// copy2d:        dst[r*ld_dst + c] = src[r*ld_src + c], r < rows, c < cols (no overlap)

// ---------------------------------------------------------------- optimizer glue
// sum_squares: *out = sum_i x[i]^2, accumulated in double (out: one double
//   in the backend's memory). The fast version's sum depends on the thread
//   count (OpenMP reduction), not on the run: same threads, same bits.
// ema_update:  ema[i] = decay * ema[i] + (1 - decay) * w[i]

// ---------------------------------------------------------------- pretrained text encoders
// Forward only (the encoders are frozen).
// layernorm_eps_forward: LayerNorm over the last dim C of in[M,C] with a given
//   eps (BERT: 1e-12): out = (x - mean) / sqrt(var + eps) * w + b, var biased;
//   w, b [C] required; out may equal in.
// gelu_erf_forward: exact GELU (BERT, PyTorch's default) 0.5 x (1 + erf(x / sqrt 2)); out may equal in.

// ---------------------------------------------------------------- video autoencoder (docs/vae.md)
// NCDHW float32; S = D*H*W spatial-temporal sites per channel.
// conv3d_forward:          out[n,o,od,oh,ow] = b[o] + sum_{c,kd,kh,kw} w[o,c,kd,kh,kw] *
//                          in[n,c, od*sd+kd-pd0, oh*sh+kh-ph0, ow*sw+kw-pw0]   (zero outside; b may be NULL)
//                          geometry and output sizes: kernels/conv3d_geom.h
// conv3d_backward_data:    din += the transpose of that map applied to dout
// conv3d_backward_weights: dw[o,c,kd,kh,kw] += sum dout * in (same indexing); db[o] += sum dout (NULL skips)
// groupnorm_forward: frame-wise GroupNorm of in[N,C,T,S] (S = H*W), G groups of C/G consecutive
//   channels; per (n,g,t) mean and rstd = 1/sqrt(var + TSR_NORM_EPS) (biased var over the group's
//   (C/G)*S values of frame t), saved as mean/rstd [N,G,T]; out = (in - mean) rstd w[c] + b[c]
//   (w, b [C]; both given). T = 1 with S = D*H*W is PyTorch's GroupNorm.
// groupnorm_backward: din += rstd (g - mean(g) - xhat mean(g xhat)) with g = dout w, over each (n,g,t);
//   dw[c] += sum dout xhat; db[c] += sum dout
// upsample3d_forward: nearest, causal in time: in [NC,D,H,W] -> out [NC, 1+(D-1)sd, H sh, W sw],
//   out[t,y,x] = in[(t+sd-1)/sd, y/sh, x/sw]: output frame 0 comes from input frame 0 alone and
//   every later input frame gives sd output frames (sd = 1: no temporal upsampling)
// upsample3d_backward: din[t,y,x] += sum of dout over the output sites that copy it
// gauss_sample_forward: moments [N,2C,S] = (mean [C,S]; logvar [C,S]) per sample; lv = clamp(logvar, -30, 20);
//   z[N,C,S] = mean + exp(lv/2) eps (eps [N,C,S]; NULL: z = mean);
//   *kl = sum 0.5 (mean^2 + exp(lv) - 1 - lv) / (N C S)   (a single float in the backend's memory; may be NULL)
// gauss_sample_backward: dmoments += d(z)/d(moments)^T dz (dz may be NULL) + kl_weight d(kl)/d(moments)
//   (the clamp passes no gradient to logvar outside [-30, 20])
#define TSR_LOGVAR_MIN -30.0f
#define TSR_LOGVAR_MAX 20.0f
