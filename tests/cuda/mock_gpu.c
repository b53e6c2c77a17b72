// A CPU stand-in for the CUDA ops (kernels/cuda_ops.h): "device" memory is
// host memory and every gpu_* op calls the fast CPU op of kernels/ops.h
// (bf16 paths round their operands to bf16 first, as the tensor cores do).
// The fp32 paths (gpu_gemm_f32, gpu_linear_*_f32 and every other op of
// kernels/oplist.h) call exactly the CPU backend's op, so the CUDA backend
// (kernels/backend_cuda.c) over this stand-in in fp32 mode gives the CPU
// backend's results bit for bit: what differs is only the backend's own
// host code (device memory, upload / download, the table), which is what
// the stand-in tests exercise.
// Linked into build/cuda/test_cuda_ops_mock (the kernel test: checks the
// checker before a GPU is spent on it) and build/cuda/test_model_standin
// (the whole model through backend_cuda). Never linked into tessera.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda_ops.h"
#include "kernels/ops.h"

// ---------------------------------------------------------------- context, memory
// As many stand-in devices as TSR_MOCK_GPUS says (default 4: a node's worth,
// so several ranks each find "their" GPU; 1 tests the too-few-GPUs refusal).
int gpu_device_count(char *why, size_t why_size) {
  const char *env = getenv("TSR_MOCK_GPUS");
  const int n = env && atoi(env) >= 0 ? atoi(env) : 4;
  if (why && why_size) snprintf(why, why_size, "%d CPU stand-in device(s) (tests/cuda/mock_gpu.c)", n);
  return n;
}
void gpu_init(GpuCtx *cx, int device) {
  memset(cx, 0, sizeof *cx);
  cx->device = device;
  snprintf(cx->name, sizeof cx->name, "CPU mock of the CUDA ops");
}
void gpu_shutdown(GpuCtx *cx) { memset(cx, 0, sizeof *cx); }
void gpu_sync(const GpuCtx *cx) { (void)cx; }
void gpu_describe(const GpuCtx *cx, char *buf, size_t size) { snprintf(buf, size, "%s", cx->name); }
// Fresh device memory holds whatever was there: here all-ones bytes (NaN as
// floats), so a caller that relies on cudaMalloc'd memory being zero fails.
void *gpu_alloc(size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) abort();
  memset(p, 0xff, bytes ? bytes : 1);
  return p;
}
void gpu_free(void *p) { free(p); }
void gpu_upload(const GpuCtx *cx, void *dst, const void *src, size_t bytes) { (void)cx, memcpy(dst, src, bytes); }
void gpu_download(const GpuCtx *cx, void *dst, const void *src, size_t bytes) { (void)cx, memcpy(dst, src, bytes); }
void gpu_copy(const GpuCtx *cx, void *dst, const void *src, size_t bytes) { (void)cx, memmove(dst, src, bytes); }
void gpu_zero(const GpuCtx *cx, void *p, size_t bytes) { (void)cx, memset(p, 0, bytes); }

// ---------------------------------------------------------------- elementwise glue
void gpu_fill_f32(const GpuCtx *cx, float *x, float value, int64_t n) { (void)cx, fill_f32(x, value, n); }
void gpu_axpy(const GpuCtx *cx, float *y, float alpha, const float *x, int64_t n) { (void)cx, axpy(y, alpha, x, n); }
void gpu_scale_f32(const GpuCtx *cx, float *x, float s, int64_t n) { (void)cx, scale_f32(x, s, n); }
void gpu_add_broadcast(const GpuCtx *cx, float *out, const float *a, const float *b, int R, int reps, int C) {
  (void)cx, add_broadcast(out, a, b, R, reps, C);
}
void gpu_sum_groups(const GpuCtx *cx, float *out, const float *in, int G, int reps, int C) {
  (void)cx, sum_groups(out, in, G, reps, C);
}
void gpu_copy2d(const GpuCtx *cx, float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols) {
  (void)cx, copy2d(dst, ld_dst, src, ld_src, rows, cols);
}
void gpu_sum_squares(const GpuCtx *cx, double *out, const float *x, int64_t n) { (void)cx, sum_squares(out, x, n); }
void gpu_ema_update(const GpuCtx *cx, float *ema, const float *w, int64_t n, float decay) {
  (void)cx, ema_update(ema, w, n, decay);
}
void gpu_layernorm_eps_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M,
                               int C, float eps) {
  (void)cx, layernorm_eps_forward(out, in, w, b, M, C, eps);
}
void gpu_gelu_erf_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) {
  (void)cx, gelu_erf_forward(out, in, n);
}

// ---------------------------------------------------------------- bf16
static bf16_t to_bf16(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16_t)((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (bf16_t)(u >> 16);
}
static float from_bf16(bf16_t h) {
  const uint32_t u = (uint32_t)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}
void gpu_f32_to_bf16(const GpuCtx *cx, bf16_t *out, const float *in, int64_t n) {
  (void)cx;
  for (int64_t i = 0; i < n; i++) out[i] = to_bf16(in[i]);
}
void gpu_bf16_to_f32(const GpuCtx *cx, float *out, const bf16_t *in, int64_t n) {
  (void)cx;
  for (int64_t i = 0; i < n; i++) out[i] = from_bf16(in[i]);
}
static float *widen(const bf16_t *a, int64_t n) {
  float *x = gpu_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = from_bf16(a[i]);
  return x;
}
static float *rounded(const float *a, int64_t n) {
  float *x = gpu_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  for (int64_t i = 0; i < n; i++) x[i] = from_bf16(to_bf16(a[i]));
  return x;
}

// ---------------------------------------------------------------- GEMM, linear
void gpu_gemm(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
  (void)cx;
  const int64_t na = (int64_t)(ta ? K : M) * lda, nb = (int64_t)(tb ? N : K) * ldb;
  float *Ar = rounded(A, na), *Br = rounded(B, nb);
  gemm(ta, tb, M, N, K, alpha, Ar, lda, Br, ldb, beta, C, ldc);
  free(Ar), free(Br);
}
void gpu_gemm_f32(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
  (void)cx;
  gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void gpu_gemm_bf16(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const bf16_t *A, int lda,
                   const bf16_t *B, int ldb, float beta, void *C, int c_bf16, int ldc) {
  (void)cx;
  float *Af = widen(A, (int64_t)(ta ? K : M) * lda), *Bf = widen(B, (int64_t)(tb ? N : K) * ldb);
  if (c_bf16) {
    const int64_t nc = (int64_t)M * ldc;
    float *Cf = beta != 0.0f ? widen(C, nc) : gpu_alloc((size_t)nc * sizeof(float));
    gemm(ta, tb, M, N, K, alpha, Af, lda, Bf, ldb, beta, Cf, ldc);
    for (int m = 0; m < M; m++)
      for (int n = 0; n < N; n++) ((bf16_t *)C)[(int64_t)m * ldc + n] = to_bf16(Cf[(int64_t)m * ldc + n]);
    free(Cf);
  } else {
    gemm(ta, tb, M, N, K, alpha, Af, lda, Bf, ldb, beta, C, ldc);
  }
  free(Af), free(Bf);
}
void gpu_linear_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M, int I,
                        int O) {
  float *inr = rounded(in, (int64_t)M * I), *wr = rounded(w, (int64_t)O * I);
  (void)cx;
  linear_forward(out, inr, wr, b, M, I, O);
  free(inr), free(wr);
}
void gpu_linear_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O) {
  float *gr = rounded(dout, (int64_t)M * O), *inr = rounded(in, (int64_t)M * I), *wr = rounded(w, (int64_t)O * I);
  (void)cx;
  linear_backward(din, dw, NULL, gr, inr, wr, M, I, O);
  linear_backward(NULL, NULL, db, dout, in, w, M, I, O);  // the bias sum is fp32 on the GPU
  free(gr), free(inr), free(wr);
}
void gpu_linear_forward_f32(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M,
                            int I, int O) {
  (void)cx, linear_forward(out, in, w, b, M, I, O);
}
void gpu_linear_backward_f32(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                             const float *w, int M, int I, int O) {
  (void)cx, linear_backward(din, dw, db, dout, in, w, M, I, O);
}
void gpu_linear_backward_bf16(const GpuCtx *cx, float *din, float *dw, float *db, const bf16_t *dout,
                              const bf16_t *in, const bf16_t *w, int M, int I, int O) {
  float *g = widen(dout, (int64_t)M * O), *x = widen(in, (int64_t)M * I), *wf = widen(w, (int64_t)O * I);
  (void)cx;
  linear_backward(din, dw, db, g, x, wf, M, I, O);
  free(g), free(x), free(wf);
}
void gpu_linear_forward_bf16(const GpuCtx *cx, bf16_t *out, bf16_t *pre, const bf16_t *in, const bf16_t *w,
                             const bf16_t *b, int gelu, int M, int I, int O) {
  (void)cx;
  const int64_t no = (int64_t)M * O;
  float *x = widen(in, (int64_t)M * I), *wf = widen(w, (int64_t)O * I), *bf = b ? widen(b, O) : NULL;
  float *y = gpu_alloc((size_t)no * sizeof(float));
  linear_forward(y, x, wf, bf, M, I, O);
  if (gelu) {
    if (pre)
      for (int64_t i = 0; i < no; i++) pre[i] = to_bf16(y[i]);
    gelu_forward(y, y, no);
  }
  for (int64_t i = 0; i < no; i++) out[i] = to_bf16(y[i]);
  free(x), free(wf), free(bf), free(y);
}

// ---------------------------------------------------------------- norms, modulate
void gpu_layernorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int M, int C) {
  (void)cx;
  layernorm_forward(out, mean, rstd, in, w, b, M, C);
}
void gpu_layernorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int M, int C) {
  (void)cx;
  layernorm_backward(din, dw, db, dout, in, w, mean, rstd, M, C);
}
void gpu_ln_modulate_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                             const float *shift, const float *scale, const uint8_t *sel, int mod_stride, int B, int N,
                             int D) {
  (void)cx;
  float *h = gpu_alloc((size_t)B * N * D * sizeof(float));
  layernorm_forward(h, mean, rstd, in, NULL, NULL, B * N, D);
  modulate_forward(out, h, shift, scale, sel, mod_stride, B, N, D);
  free(h);
}
void gpu_ln_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale, const float *dout,
                              const float *in, const float *scale, const float *mean, const float *rstd,
                              const uint8_t *sel, int mod_stride, int B, int N, int D) {
  (void)cx;
  const int64_t n = (int64_t)B * N * D;
  float *h = gpu_alloc((size_t)n * sizeof(float)), *dh = calloc((size_t)n, sizeof(float));
  for (int64_t r = 0; r < (int64_t)B * N; r++)  // x̂ from the saved statistics
    for (int d = 0; d < D; d++) h[r * D + d] = (in[r * D + d] - mean[r]) * rstd[r];
  modulate_backward(dh, dshift, dscale, dout, h, scale, sel, mod_stride, B, N, D);
  if (din) layernorm_backward(din, NULL, NULL, dh, in, NULL, mean, rstd, B * N, D);
  free(h), free(dh);
}
void gpu_modulate_forward(const GpuCtx *cx, float *out, const float *in, const float *shift, const float *scale,
                          const uint8_t *sel, int mod_stride, int B, int N, int D) {
  (void)cx;
  modulate_forward(out, in, shift, scale, sel, mod_stride, B, N, D);
}
void gpu_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale, const float *dout,
                           const float *in, const float *scale, const uint8_t *sel, int mod_stride, int B, int N,
                           int D) {
  (void)cx;
  modulate_backward(din, dshift, dscale, dout, in, scale, sel, mod_stride, B, N, D);
}
void gpu_gate_residual_forward(const GpuCtx *cx, float *x, const float *y, const float *gate, const uint8_t *sel,
                               int mod_stride, int B, int N, int D) {
  (void)cx;
  gate_residual_forward(x, y, gate, sel, mod_stride, B, N, D);
}
void gpu_gate_residual_backward(const GpuCtx *cx, float *dy, float *dgate, const float *dx, const float *y,
                                const float *gate, const uint8_t *sel, int mod_stride, int B, int N, int D) {
  (void)cx;
  gate_residual_backward(dy, dgate, dx, y, gate, sel, mod_stride, B, N, D);
}
void gpu_rmsnorm_forward(const GpuCtx *cx, float *out, int ld_out, float *rstd, const float *in, int ld_in,
                         const float *w, int M, int H, int C) {
  (void)cx;
  rmsnorm_forward(out, ld_out, rstd, in, ld_in, w, M, H, C);
}
void gpu_rmsnorm_backward(const GpuCtx *cx, float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                          const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C) {
  (void)cx;
  rmsnorm_backward(din, ld_din, dw, dout, ld_dout, in, ld_in, w, rstd, M, H, C);
}

// ---------------------------------------------------------------- activations, RoPE, attention
void gpu_gelu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) { (void)cx, gelu_forward(out, in, n); }
void gpu_gelu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n) {
  (void)cx, gelu_backward(din, dout, in, n);
}
void gpu_silu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n) { (void)cx, silu_forward(out, in, n); }
void gpu_silu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n) {
  (void)cx, silu_backward(din, dout, in, n);
}
void gpu_rope3d_table(const GpuCtx *cx, float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw,
                      const int rope[3]) {
  (void)cx, rope3d_table(cos_tab, sin_tab, n0, N, gh, gw, rope);
}
void gpu_rope3d_forward(const GpuCtx *cx, float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N,
                        int H, int C) {
  (void)cx, rope3d_forward(x, ld, cos_tab, sin_tab, B, N, H, C);
}
void gpu_rope3d_backward(const GpuCtx *cx, float *dx, int ld, const float *cos_tab, const float *sin_tab, int B,
                         int N, int H, int C) {
  (void)cx, rope3d_backward(dx, ld, cos_tab, sin_tab, B, N, H, C);
}
void gpu_attention_forward(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                           int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  (void)cx, attention_forward(out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
void gpu_attention_backward(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout, const float *out,
                            int ldo, const float *lse, const float *q, int ldq, const float *k, int ldk,
                            const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  (void)cx, attention_backward(dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}

void gpu_attention_merge(const GpuCtx *cx, float *out, int ldo, float *lse, const float *blk, int ldb,
                         const float *blk_lse, int B, int N, int H, int C) {
  (void)cx, attention_merge(out, ldo, lse, blk, ldb, blk_lse, B, N, H, C);
}
// the bf16 mode's attention: the fp32 op on bf16-rounded q, k, v (and dout)
void gpu_attention_forward_gemm(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                                const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq,
                                int Nk, int H, int C) {
  (void)cx;
  float *qr = rounded(q, (int64_t)B * Nq * ldq), *kr = rounded(k, (int64_t)B * Nk * ldk),
        *vr = rounded(v, (int64_t)B * Nk * ldv);
  attention_forward(out, ldo, lse, qr, ldq, kr, ldk, vr, ldv, kvalid, B, Nq, Nk, H, C);
  free(qr), free(kr), free(vr);
}
int gpu_attention_mma_supports(int C) { return C > 0 && C % 8 == 0 && C <= 128; }
void gpu_attention_forward_mma(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                               const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq,
                               int Nk, int H, int C) {
  gpu_attention_forward_gemm(cx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
int gpu_attention_mma_bwd_supports(int C) { return C > 0 && C % 8 == 0 && C <= 80; }
void gpu_attention_backward_mma(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                const float *out, int ldo, const float *lse, const float *q, int ldq, const float *k,
                                int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                                int C) {
  gpu_attention_backward_gemm(cx, dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
void gpu_attention_backward_gemm(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                 const float *out, int ldo, const float *lse, const float *q, int ldq, const float *k,
                                 int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                                 int C) {
  (void)cx;
  float *qr = rounded(q, (int64_t)B * Nq * ldq), *kr = rounded(k, (int64_t)B * Nk * ldk),
        *vr = rounded(v, (int64_t)B * Nk * ldv), *gr = rounded(dout, (int64_t)B * Nq * ldo);
  attention_backward(dq, dk, dv, gr, out, ldo, lse, qr, ldq, kr, ldk, vr, ldv, kvalid, B, Nq, Nk, H, C);
  free(qr), free(kr), free(vr), free(gr);
}

// ---------------------------------------------------------------- embeddings, patches, loss, AdamW
void gpu_timestep_embedding(const GpuCtx *cx, float *out, const float *t, int B, int F) {
  (void)cx, timestep_embedding(out, t, B, F);
}
void gpu_embedding_forward(const GpuCtx *cx, float *out, const int32_t *tokens, const float *table, const float *pos,
                           int B, int L, int D) {
  (void)cx, embedding_forward(out, tokens, table, pos, B, L, D);
}
void gpu_embedding_backward(const GpuCtx *cx, float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                            int B, int L, int D) {
  (void)cx, embedding_backward(dtable, dpos, dout, tokens, B, L, D);
}
void gpu_masked_mean_forward(const GpuCtx *cx, float *out, const float *in, const int *nvalid, int B, int L, int D) {
  (void)cx, masked_mean_forward(out, in, nvalid, B, L, D);
}
void gpu_masked_mean_backward(const GpuCtx *cx, float *din, const float *dout, const int *nvalid, int B, int L,
                              int D) {
  (void)cx, masked_mean_backward(din, dout, nvalid, B, L, D);
}
void gpu_patchify(const GpuCtx *cx, float *patches, const float *video, int B, int T, int H, int W, int C, int pt,
                  int ph, int pw) {
  (void)cx, patchify(patches, video, B, T, H, W, C, pt, ph, pw);
}
void gpu_unpatchify(const GpuCtx *cx, float *video, const float *patches, int B, int T, int H, int W, int C, int pt,
                    int ph, int pw) {
  (void)cx, unpatchify(video, patches, B, T, H, W, C, pt, ph, pw);
}
void gpu_mse_loss(const GpuCtx *cx, float *loss, float *dpred, const float *pred, const float *target, const float *w,
                  int M, int P) {
  (void)cx;
  mse_loss(loss, dpred, pred, target, w, M, P);
}
void gpu_adamw_update(const GpuCtx *cx, float *p, const float *g, float *m, float *v, int64_t n, float lr, float beta1,
                      float beta2, float eps, float wd, int step) {
  (void)cx, adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, wd, step);
}
void gpu_adamw_update_bf16(const GpuCtx *cx, float *p, bf16_t *p_bf16, const float *g, float *m, float *v, int64_t n,
                           float lr, float beta1, float beta2, float eps, float wd, int step) {
  adamw_update(p, g, m, v, n, lr, beta1, beta2, eps, wd, step);
  if (p_bf16) gpu_f32_to_bf16(cx, p_bf16, p, n);
}

// ---------------------------------------------------------------- video autoencoder
void gpu_conv3d_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b,
                        const Conv3dGeom *g) {
  (void)cx, conv3d_forward(out, in, w, b, g);
}
void gpu_conv3d_backward_data(const GpuCtx *cx, float *din, const float *dout, const float *w, const Conv3dGeom *g) {
  (void)cx, conv3d_backward_data(din, dout, w, g);
}
void gpu_conv3d_backward_weights(const GpuCtx *cx, float *dw, float *db, const float *dout, const float *in,
                                 const Conv3dGeom *g) {
  (void)cx, conv3d_backward_weights(dw, db, dout, in, g);
}
void gpu_groupnorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int N, int C, int T, int S, int G) {
  (void)cx, groupnorm_forward(out, mean, rstd, in, w, b, N, C, T, S, G);
}
void gpu_groupnorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int N, int C, int T, int S, int G) {
  (void)cx, groupnorm_backward(din, dw, db, dout, in, w, mean, rstd, N, C, T, S, G);
}
void gpu_upsample3d_forward(const GpuCtx *cx, float *out, const float *in, int NC, int D, int H, int W, int sd,
                            int sh, int sw) {
  (void)cx, upsample3d_forward(out, in, NC, D, H, W, sd, sh, sw);
}
void gpu_upsample3d_backward(const GpuCtx *cx, float *din, const float *dout, int NC, int D, int H, int W, int sd,
                             int sh, int sw) {
  (void)cx, upsample3d_backward(din, dout, NC, D, H, W, sd, sh, sw);
}
void gpu_gauss_sample_forward(const GpuCtx *cx, float *z, float *kl, const float *moments, const float *eps, int N,
                              int C, int S) {
  (void)cx, gauss_sample_forward(z, kl, moments, eps, N, C, S);
}
void gpu_gauss_sample_backward(const GpuCtx *cx, float *dmoments, const float *dz, float kl_weight,
                               const float *moments, const float *eps, int N, int C, int S) {
  (void)cx, gauss_sample_backward(dmoments, dz, kl_weight, moments, eps, N, C, S);
}
