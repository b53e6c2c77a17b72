// The op list, written once. Every op the model computes with, as
//   X(kind, name, (parameters), (argument names))
// kind REF: the CPU backend has `name` (fast) and `name_ref` (plain loops)
//           with these parameters; tests hold the one to the other.
// kind ONE: a single CPU implementation (plain enough to be its own
//           reference; held to PyTorch or to ground truth in the tests).
// From this list come the CPU prototypes (kernels/ops.h), the backend
// table's entries and the `be_<name>(be, ...)` calls (kernels/backend.h),
// the CPU backend (backend_cpu.c) and the CUDA backend (backend_cuda.c,
// which calls `gpu_<name>(ctx, ...)` of kernels/cuda_ops.h).
// What each op computes, with shapes: the comment at its prototype in ops.h.
// Adding an op: docs/kernels.md.
#pragma once
#include "kernels/conv3d_geom.h"

#define TSR_OPS(X)                                                                                              \
  /* GEMM and Linear */                                                                                         \
  X(REF, gemm,                                                                                                  \
    (int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,       \
     float beta, float *C, int ldc),                                                                            \
    (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))                                                     \
  X(REF, linear_forward, (float *out, const float *in, const float *w, const float *b, int M, int I, int O),   \
    (out, in, w, b, M, I, O))                                                                                   \
  X(REF, linear_backward,                                                                                       \
    (float *din, float *dw, float *db, const float *dout, const float *in, const float *w, int M, int I,       \
     int O),                                                                                                    \
    (din, dw, db, dout, in, w, M, I, O))                                                                        \
  /* norms */                                                                                                   \
  X(REF, layernorm_forward,                                                                                     \
    (float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int M, int C),     \
    (out, mean, rstd, in, w, b, M, C))                                                                          \
  X(REF, layernorm_backward,                                                                                    \
    (float *din, float *dw, float *db, const float *dout, const float *in, const float *w, const float *mean,  \
     const float *rstd, int M, int C),                                                                          \
    (din, dw, db, dout, in, w, mean, rstd, M, C))                                                               \
  X(REF, rmsnorm_forward,                                                                                       \
    (float *out, int ld_out, float *rstd, const float *in, int ld_in, const float *w, int M, int H, int C),    \
    (out, ld_out, rstd, in, ld_in, w, M, H, C))                                                                 \
  X(REF, rmsnorm_backward,                                                                                      \
    (float *din, int ld_din, float *dw, const float *dout, int ld_dout, const float *in, int ld_in,            \
     const float *w, const float *rstd, int M, int H, int C),                                                   \
    (din, ld_din, dw, dout, ld_dout, in, ld_in, w, rstd, M, H, C))                                              \
  /* activations */                                                                                             \
  X(REF, gelu_forward, (float *out, const float *in, int64_t n), (out, in, n))                                  \
  X(REF, gelu_backward, (float *din, const float *dout, const float *in, int64_t n), (din, dout, in, n))        \
  X(REF, silu_forward, (float *out, const float *in, int64_t n), (out, in, n))                                  \
  X(REF, silu_backward, (float *din, const float *dout, const float *in, int64_t n), (din, dout, in, n))        \
  /* adaLN modulation and gated residual */                                                                     \
  X(REF, modulate_forward,                                                                                      \
    (float *out, const float *in, const float *shift, const float *scale, const uint8_t *sel, int mod_stride,  \
     int B, int N, int D),                                                                                      \
    (out, in, shift, scale, sel, mod_stride, B, N, D))                                                          \
  X(REF, modulate_backward,                                                                                     \
    (float *din, float *dshift, float *dscale, const float *dout, const float *in, const float *scale,         \
     const uint8_t *sel, int mod_stride, int B, int N, int D),                                                  \
    (din, dshift, dscale, dout, in, scale, sel, mod_stride, B, N, D))                                           \
  X(REF, gate_residual_forward,                                                                                 \
    (float *x, const float *y, const float *gate, const uint8_t *sel, int mod_stride, int B, int N, int D),    \
    (x, y, gate, sel, mod_stride, B, N, D))                                                                     \
  X(REF, gate_residual_backward,                                                                                \
    (float *dy, float *dgate, const float *dx, const float *y, const float *gate, const uint8_t *sel,          \
     int mod_stride, int B, int N, int D),                                                                      \
    (dy, dgate, dx, y, gate, sel, mod_stride, B, N, D))                                                         \
  /* 3D RoPE (the references compute angles directly: declared in ops.h) */                                    \
  X(ONE, rope3d_table,                                                                                          \
    (float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw, const int rope[3]),                        \
    (cos_tab, sin_tab, n0, N, gh, gw, rope))                                                                    \
  X(ONE, rope3d_forward,                                                                                        \
    (float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C),                \
    (x, ld, cos_tab, sin_tab, B, N, H, C))                                                                      \
  X(ONE, rope3d_backward,                                                                                       \
    (float *dx, int ld, const float *cos_tab, const float *sin_tab, int B, int N, int H, int C),               \
    (dx, ld, cos_tab, sin_tab, B, N, H, C))                                                                     \
  /* attention */                                                                                               \
  X(REF, attention_forward,                                                                                     \
    (float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk, const float *v,        \
     int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C),                                          \
    (out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C))                                           \
  X(REF, attention_backward,                                                                                    \
    (float *dq, float *dk, float *dv, const float *dout, const float *out, int ldo, const float *lse,          \
     const float *q, int ldq, const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,      \
     int Nq, int Nk, int H, int C),                                                                             \
    (dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C))                         \
  X(ONE, attention_merge,                                                                                       \
    (float *out, int ldo, float *lse, const float *blk, int ldb, const float *blk_lse, int B, int N, int H,     \
     int C),                                                                                                    \
    (out, ldo, lse, blk, ldb, blk_lse, B, N, H, C))                                                             \
  /* embeddings */                                                                                              \
  X(ONE, timestep_embedding, (float *out, const float *t, int B, int F), (out, t, B, F))                       \
  X(ONE, embedding_forward,                                                                                     \
    (float *out, const int32_t *tokens, const float *table, const float *pos, int B, int L, int D),            \
    (out, tokens, table, pos, B, L, D))                                                                         \
  X(ONE, embedding_backward,                                                                                    \
    (float *dtable, float *dpos, const float *dout, const int32_t *tokens, int B, int L, int D),               \
    (dtable, dpos, dout, tokens, B, L, D))                                                                      \
  X(ONE, masked_mean_forward, (float *out, const float *in, const int *nvalid, int B, int L, int D),           \
    (out, in, nvalid, B, L, D))                                                                                 \
  X(ONE, masked_mean_backward, (float *din, const float *dout, const int *nvalid, int B, int L, int D),        \
    (din, dout, nvalid, B, L, D))                                                                               \
  /* patches */                                                                                                 \
  X(ONE, patchify,                                                                                              \
    (float *patches, const float *video, int B, int T, int H, int W, int C, int pt, int ph, int pw),           \
    (patches, video, B, T, H, W, C, pt, ph, pw))                                                                \
  X(ONE, unpatchify,                                                                                            \
    (float *video, const float *patches, int B, int T, int H, int W, int C, int pt, int ph, int pw),           \
    (video, patches, B, T, H, W, C, pt, ph, pw))                                                                \
  /* loss and optimizer */                                                                                      \
  X(ONE, mse_loss,                                                                                              \
    (float *loss, float *dpred, const float *pred, const float *target, const float *w, int M, int P),         \
    (loss, dpred, pred, target, w, M, P))                                                                       \
  X(REF, adamw_update,                                                                                          \
    (float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2, float eps,   \
     float wd, int step),                                                                                       \
    (p, g, m, v, n, lr, beta1, beta2, eps, wd, step))                                                           \
  /* elementwise glue (kernels/cpu/elementwise.c) */                                                            \
  X(REF, fill_f32, (float *x, float value, int64_t n), (x, value, n))                                          \
  X(REF, axpy, (float *y, float alpha, const float *x, int64_t n), (y, alpha, x, n))                           \
  X(REF, scale_f32, (float *x, float s, int64_t n), (x, s, n))                                                 \
  X(REF, add_broadcast, (float *out, const float *a, const float *b, int R, int reps, int C),                  \
    (out, a, b, R, reps, C))                                                                                    \
  X(REF, sum_groups, (float *out, const float *in, int G, int reps, int C), (out, in, G, reps, C))             \
  X(REF, copy2d, (float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols),                   \
    (dst, ld_dst, src, ld_src, rows, cols))                                                                     \
  /* optimizer glue (kernels/cpu/reduce.c) */                                                                   \
  X(REF, sum_squares, (double *out, const float *x, int64_t n), (out, x, n))                                   \
  X(REF, ema_update, (float *ema, const float *w, int64_t n, float decay), (ema, w, n, decay))                  \
  /* pretrained text encoders (forward only; kernels/cpu/layernorm_eps.c, gelu_erf.c) */                          \
  X(REF, layernorm_eps_forward,                                                                                 \
    (float *out, const float *in, const float *w, const float *b, int M, int C, float eps),                    \
    (out, in, w, b, M, C, eps))                                                                                 \
  X(REF, gelu_erf_forward, (float *out, const float *in, int64_t n), (out, in, n))                                \
  /* the video autoencoder (kernels/cpu/conv3d*.c, groupnorm.c, upsample.c, gauss.c; docs/vae.md) */            \
  X(REF, conv3d_forward, (float *out, const float *in, const float *w, const float *b, const Conv3dGeom *g),  \
    (out, in, w, b, g))                                                                                         \
  X(REF, conv3d_backward_data, (float *din, const float *dout, const float *w, const Conv3dGeom *g),          \
    (din, dout, w, g))                                                                                          \
  X(REF, conv3d_backward_weights, (float *dw, float *db, const float *dout, const float *in, const Conv3dGeom *g), \
    (dw, db, dout, in, g))                                                                                      \
  X(REF, groupnorm_forward,                                                                                     \
    (float *out, float *mean, float *rstd, const float *in, const float *w, const float *b, int N, int C,      \
     int T, int S, int G),                                                                                      \
    (out, mean, rstd, in, w, b, N, C, T, S, G))                                                                    \
  X(REF, groupnorm_backward,                                                                                    \
    (float *din, float *dw, float *db, const float *dout, const float *in, const float *w, const float *mean,  \
     const float *rstd, int N, int C, int T, int S, int G),                                                     \
    (din, dw, db, dout, in, w, mean, rstd, N, C, T, S, G))                                                         \
  X(REF, upsample3d_forward, (float *out, const float *in, int NC, int D, int H, int W, int sd, int sh, int sw), \
    (out, in, NC, D, H, W, sd, sh, sw))                                                                         \
  X(REF, upsample3d_backward,                                                                                   \
    (float *din, const float *dout, int NC, int D, int H, int W, int sd, int sh, int sw),                      \
    (din, dout, NC, D, H, W, sd, sh, sw))                                                                       \
  X(ONE, gauss_sample_forward,                                                                                  \
    (float *z, float *kl, const float *moments, const float *eps, int N, int C, int S),                        \
    (z, kl, moments, eps, N, C, S))                                                                             \
  X(ONE, gauss_sample_backward,                                                                                 \
    (float *dmoments, const float *dz, float kl_weight, const float *moments, const float *eps, int N, int C,  \
     int S),                                                                                                    \
    (dmoments, dz, kl_weight, moments, eps, N, C, S))
