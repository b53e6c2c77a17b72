// CUDA ops of the video diffusion transformer: the ops of kernels/ops.h on
// device pointers, callable from C. Implemented in src/kernels/cuda/*.cu.
// Conventions (as ops.h):
//  - Row-major, shapes in the comments, M = rows (B*N tokens). Every pointer
//    argument of an op is a DEVICE pointer (cudaMalloc'd, e.g. gpu_alloc),
//    except GpuCtx itself and the host-side rope split `rope[3]`.
//  - Backward ops ACCUMULATE (+=) into every gradient they write; a NULL
//    gradient pointer skips it. Saved statistics (mean, rstd, lse) may be
//    NULL in forward when no backward follows.
//  - Every op is queued on cx->stream and returns without synchronising
//    (gpu_sync waits). Reductions over rows (dw, db, dshift, ...) run in a
//    fixed order with double partials: results do not depend on scheduling.
//  - Precision: "f32" ops read and write float32. The GEMMs of gpu_gemm and
//    gpu_linear_* compute in bf16 on the tensor cores with fp32 accumulation
//    (inputs rounded to bf16 inside cuBLAS); gpu_gemm_f32 is full fp32.
//    "_bf16" ops take bf16 tensors (stored as uint16_t, the upper half of
//    the float32 bits, round-to-nearest-even on conversion).
//  - Every op of kernels/oplist.h is here as gpu_<op>(cx, <the list's
//    parameters>); kernels/backend_cuda.c checks each signature at compile
//    time and builds the backend table from them.
// Without a GPU nothing here but gpu_device_count may be called.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "kernels/conv3d_geom.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef uint16_t bf16_t;  // storage type of a bfloat16 value

// ---------------------------------------------------------------- context
// One per device and thread of control: stream, cuBLAS / cuBLASLt handles,
// their workspace, and scratch for deterministic reductions. Opaque pointers
// keep CUDA headers out of C code.
typedef struct GpuCtx {
  int device;
  void *stream;          // cudaStream_t (a non-blocking stream of our own)
  void *blas;            // cublasHandle_t, bound to stream and blas_ws
  void *blaslt;          // cublasLtHandle_t
  void *blas_ws;         // device workspace of cuBLAS / cuBLASLt
  size_t blas_ws_bytes;
  void *scratch;         // device scratch of the row reductions
  size_t scratch_bytes;
  char name[256];        // "NVIDIA H100 80GB HBM3" (cudaDeviceProp.name)
  int cc_major, cc_minor, num_sms;
  size_t mem_total;      // bytes of device memory
  int debug_sync;        // 1: synchronise and check after every kernel, so a fault names
                         // the kernel that made it (slow). gpu_init: env TSR_CUDA_SYNC=1
  struct GpuBuffers *buffers;  // grow-only device buffers (bf16 operand copies, attention
                               // scores): kernels/cuda/context.cu gpu_buffer
} GpuCtx;

// Number of usable CUDA devices; 0 with the reason in `why` (no driver, no
// device, a driver too old for this runtime). Safe on a machine without a
// driver (libcudart loads without one). With devices, `why` says how many.
int gpu_device_count(char *why, size_t why_size);
// Selects `device`, creates the stream and handles, allocates the
// workspaces. Aborts (CUDA_CHECK) on failure: call device_available first.
void gpu_init(GpuCtx *cx, int device);
void gpu_shutdown(GpuCtx *cx);
void gpu_sync(const GpuCtx *cx);  // waits for everything queued on cx->stream
// "NVIDIA H100 80GB HBM3, sm_90, 132 SMs, 79.1 GiB, cuBLAS 130000"
void gpu_describe(const GpuCtx *cx, char *buf, size_t size);

// ---------------------------------------------------------------- memory
void *gpu_alloc(size_t bytes);  // cudaMalloc; aborts on failure
void gpu_free(void *p);         // NULL is fine
// Copies through cx->stream and waits for them (host memory need not be pinned).
void gpu_upload(const GpuCtx *cx, void *dst_dev, const void *src_host, size_t bytes);
void gpu_download(const GpuCtx *cx, void *dst_host, const void *src_dev, size_t bytes);
void gpu_zero(const GpuCtx *cx, void *p, size_t bytes);  // queued on cx->stream
void gpu_copy(const GpuCtx *cx, void *dst, const void *src, size_t bytes);  // device to device, queued

// ---------------------------------------------------------------- elementwise glue (ops.h)
// Same arguments and results as the CPU ops (kernels/cuda/elementwise.cu;
// fill in context.cu). One thread per output element, in the CPU's order.
void gpu_fill_f32(const GpuCtx *cx, float *x, float value, int64_t n);  // x[n] = value (e.g. NaN poison)
void gpu_axpy(const GpuCtx *cx, float *y, float alpha, const float *x, int64_t n);  // y += alpha x
void gpu_scale_f32(const GpuCtx *cx, float *x, float s, int64_t n);                 // x *= s
// out[r,c] = a[r,c] + b[r/reps, c], r < R (out may be a)
void gpu_add_broadcast(const GpuCtx *cx, float *out, const float *a, const float *b, int R, int reps, int C);
// out[g,c] = sum of in[g*reps + j, c] over j < reps, in row order
void gpu_sum_groups(const GpuCtx *cx, float *out, const float *in, int G, int reps, int C);
// dst[r*ld_dst + c] = src[r*ld_src + c] (cudaMemcpy2DAsync)
void gpu_copy2d(const GpuCtx *cx, float *dst, int ld_dst, const float *src, int ld_src, int rows, int cols);

// ---------------------------------------------------------------- optimizer glue (ops.h; cuda/reduce.cu)
// *out (one device double) = Σ x², one block in a fixed order; no sync.
void gpu_sum_squares(const GpuCtx *cx, double *out, const float *x, int64_t n);
void gpu_ema_update(const GpuCtx *cx, float *ema, const float *w, int64_t n, float decay);

// ---------------------------------------------------------------- pretrained text encoders (ops.h; cuda/text.cu)
void gpu_layernorm_eps_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M,
                               int C, float eps);
void gpu_gelu_erf_forward(const GpuCtx *cx, float *out, const float *in, int64_t n);

// ---------------------------------------------------------------- conversion
// bf16 = round-to-nearest-even(f32); f32 = exact widening.
void gpu_f32_to_bf16(const GpuCtx *cx, bf16_t *out, const float *in, int64_t n);
void gpu_bf16_to_f32(const GpuCtx *cx, float *out, const bf16_t *in, int64_t n);

// ---------------------------------------------------------------- GEMM
// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, as ops.h gemm().
// gpu_gemm: float data, bf16 tensor-core products, fp32 accumulation.
void gpu_gemm(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
// gpu_gemm_f32: full fp32 (no TF32), for checks and precision-critical use.
void gpu_gemm_f32(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
// bf16 A, B; fp32 accumulation; C is float (c_bf16 = 0) or bf16 (c_bf16 = 1).
void gpu_gemm_bf16(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const bf16_t *A,
                   int lda, const bf16_t *B, int ldb, float beta, void *C, int c_bf16, int ldc);

// ---------------------------------------------------------------- linear
// out[M,O] = in[M,I] w[O,I]^T + b[O]  (b may be NULL), float data, bf16 GEMM.
void gpu_linear_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M,
                        int I, int O);
// din[M,I] += dout w;  dw[O,I] += dout^T in;  db[O] += sum_m dout
void gpu_linear_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                         const float *w, int M, int I, int O);
// The same two in full fp32 (gpu_gemm_f32, no TF32); db by the same fixed-order
// column reduction (double partials). run.precision: fp32.
void gpu_linear_forward_f32(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b, int M,
                            int I, int O);
void gpu_linear_backward_f32(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                             const float *in, const float *w, int M, int I, int O);
// bf16 linear through cuBLASLt with a fused epilogue:
//   gelu = 0: out = in w^T + b;   gelu = 1: pre = in w^T + b, out = GELU_tanh(pre),
//   pre[M,O] saved (bf16) for the backward when not NULL.
// out, pre bf16 [M,O]; in bf16 [M,I]; w bf16 [O,I]; b bf16 [O] or NULL.
// Falls back to cuBLAS + an epilogue kernel where cuBLASLt offers no algorithm.
void gpu_linear_forward_bf16(const GpuCtx *cx, bf16_t *out, bf16_t *pre, const bf16_t *in, const bf16_t *w,
                             const bf16_t *b, int gelu, int M, int I, int O);

// bf16 operands, fp32 gradients (accumulated, fp32 accumulation in the GEMMs):
// din[M,I] += dout w;  dw[O,I] += dout^T in;  db[O] += sum_m dout.
void gpu_linear_backward_bf16(const GpuCtx *cx, float *din, float *dw, float *db, const bf16_t *dout,
                              const bf16_t *in, const bf16_t *w, int M, int I, int O);

// ---------------------------------------------------------------- LayerNorm
// As ops.h: over the last dim C of in[M,C], w,b [C] optional, eps TSR_NORM_EPS,
// mean[M], rstd[M] saved.
void gpu_layernorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                           const float *w, const float *b, int M, int C);
void gpu_layernorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                            const float *in, const float *w, const float *mean, const float *rstd, int M, int C);

// ---------------------------------------------------------------- LayerNorm + adaLN modulate (fused)
// out[B,N,D] = LN(in)·(1+scale)+shift  (LN without affine), the variant of
// token (b,n) chosen by sel as in ops.h modulate_forward. mean, rstd [B*N].
// Equals layernorm_forward(w=b=NULL) followed by modulate_forward.
void gpu_ln_modulate_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                             const float *shift, const float *scale, const uint8_t *sel, int mod_stride, int B,
                             int N, int D);
// din += LN^T(dout·(1+scale)); dshift += Σ dout; dscale += Σ dout·x̂ (per variant).
void gpu_ln_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale, const float *dout,
                              const float *in, const float *scale, const float *mean, const float *rstd,
                              const uint8_t *sel, int mod_stride, int B, int N, int D);

// ---------------------------------------------------------------- modulate / gate (ops.h)
void gpu_modulate_forward(const GpuCtx *cx, float *out, const float *in, const float *shift, const float *scale,
                          const uint8_t *sel, int mod_stride, int B, int N, int D);
void gpu_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale, const float *dout,
                           const float *in, const float *scale, const uint8_t *sel, int mod_stride, int B, int N,
                           int D);
// x[B,N,D] += gate ⊙ y  (gate NULL: x += y)
void gpu_gate_residual_forward(const GpuCtx *cx, float *x, const float *y, const float *gate, const uint8_t *sel,
                               int mod_stride, int B, int N, int D);
// dy += dx*gate; dgate += Σ dx*y
void gpu_gate_residual_backward(const GpuCtx *cx, float *dy, float *dgate, const float *dx, const float *y,
                                const float *gate, const uint8_t *sel, int mod_stride, int B, int N, int D);

// ---------------------------------------------------------------- per-head RMSNorm (ops.h)
void gpu_rmsnorm_forward(const GpuCtx *cx, float *out, int ld_out, float *rstd, const float *in, int ld_in,
                         const float *w, int M, int H, int C);
void gpu_rmsnorm_backward(const GpuCtx *cx, float *din, int ld_din, float *dw, const float *dout, int ld_dout,
                          const float *in, int ld_in, const float *w, const float *rstd, int M, int H, int C);

// ---------------------------------------------------------------- activations (ops.h)
void gpu_gelu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n);
void gpu_gelu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n);
void gpu_silu_forward(const GpuCtx *cx, float *out, const float *in, int64_t n);
void gpu_silu_backward(const GpuCtx *cx, float *din, const float *dout, const float *in, int64_t n);

// ---------------------------------------------------------------- 3D RoPE (ops.h)
// Table cos/sin [N, C/2] (device) for tokens n0..n0+N-1; angles in double.
void gpu_rope3d_table(const GpuCtx *cx, float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw,
                      const int rope[3]);
// x[B,N,H,C] rows at stride ld, rotated in place; backward = inverse rotation.
void gpu_rope3d_forward(const GpuCtx *cx, float *x, int ld, const float *cos_tab, const float *sin_tab, int B,
                        int N, int H, int C);
void gpu_rope3d_backward(const GpuCtx *cx, float *dx, int ld, const float *cos_tab, const float *sin_tab, int B,
                         int N, int H, int C);

// ---------------------------------------------------------------- attention (ops.h)
// Flash attention, fp32: tiles of queries and keys in shared memory, online
// softmax, never an Nq x Nk matrix in global memory. Head dim C <= 128.
// kvalid[B] (device int array, may be NULL): keys j >= kvalid[b] masked.
// lse [B,H,Nq] natural log (may be NULL).
void gpu_attention_forward(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                           const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq,
                           int Nk, int H, int C);
// dq, dk, dv += (strides ldq, ldk, ldv). Uses cx->scratch for D_i = dO_i·O_i
// (B*H*Nq floats). Deterministic: one pass for dk/dv, one for dq, no atomics.
void gpu_attention_backward(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                            const float *out, int ldo, const float *lse, const float *q, int ldq, const float *k,
                            int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                            int C);

// The bf16 mode's attention (same arguments, fp32 in/out): the scores of a
// group of heads materialised and multiplied through cuBLAS bf16 tensor-core
// GEMMs (fp32 scores, softmax and lse; bf16 probabilities); the flash kernels
// above where one head's Nq x Nk scores exceed the budget. bf16 accuracy
// (~1e-3 relative). Padded keys' k, v rows must be finite.
// kernels/cuda/attention_gemm.cu.
void gpu_attention_forward_gemm(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                                const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq,
                                int Nk, int H, int C);
void gpu_attention_backward_gemm(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                 const float *out, int ldo, const float *lse, const float *q, int ldq, const float *k,
                                 int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                                 int C);

// The bf16 mode's forward where the head dim allows (C % 8 == 0, C <= 128:
// gpu_attention_mma_supports): flash attention on the tensor cores with
// register-resident tiles (mma.sync), q, k, v rounded to bf16 once, fp32
// scores, softmax, lse and output. kernels/cuda/attention_mma.cu.
int gpu_attention_mma_supports(int C);
void gpu_attention_forward_mma(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                               const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq,
                               int Nk, int H, int C);
// The bf16 mode's backward where C % 8 == 0, C <= 80 (larger heads: the GEMM
// backward): flash backward on the tensor cores, P from the forward's lse,
// one kernel for dk, dv and one for dq (deterministic, no atomics).
// kernels/cuda/attention_mma_bwd.cu.
int gpu_attention_mma_bwd_supports(int C);
void gpu_attention_backward_mma(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                const float *out, int ldo, const float *lse, const float *q, int ldq, const float *k,
                                int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                                int C);

// Ring attention's merge of one block's (out, lse) into the running one (ops.h);
// kernels/cuda/attention_merge.cu.
void gpu_attention_merge(const GpuCtx *cx, float *out, int ldo, float *lse, const float *blk, int ldb,
                         const float *blk_lse, int B, int N, int H, int C);

// ---------------------------------------------------------------- embeddings (ops.h)
// t[B] device; out[B,F] (angles in double, as the CPU op).
void gpu_timestep_embedding(const GpuCtx *cx, float *out, const float *t, int B, int F);
// tokens[B,L] (device int32, >= 0: not checked here); pos may be NULL.
void gpu_embedding_forward(const GpuCtx *cx, float *out, const int32_t *tokens, const float *table,
                           const float *pos, int B, int L, int D);
void gpu_embedding_backward(const GpuCtx *cx, float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                            int B, int L, int D);
// nvalid[B] device (may be NULL = L; 1 <= nvalid <= L not checked here).
void gpu_masked_mean_forward(const GpuCtx *cx, float *out, const float *in, const int *nvalid, int B, int L, int D);
void gpu_masked_mean_backward(const GpuCtx *cx, float *din, const float *dout, const int *nvalid, int B, int L,
                              int D);

// ---------------------------------------------------------------- patches (ops.h)
void gpu_patchify(const GpuCtx *cx, float *patches, const float *video, int B, int T, int H, int W, int C, int pt,
                  int ph, int pw);
void gpu_unpatchify(const GpuCtx *cx, float *video, const float *patches, int B, int T, int H, int W, int C,
                    int pt, int ph, int pw);

// ---------------------------------------------------------------- loss (ops.h mse_loss)
// loss (a device float) = Σ w (pred−target)² / (P Σw); dpred (may be NULL) written (=).
// w[M] (may be NULL: all 1). Uses cx->scratch. No synchronisation: download loss to read it.
void gpu_mse_loss(const GpuCtx *cx, float *loss, float *dpred, const float *pred, const float *target,
                  const float *w, int M, int P);

// ---------------------------------------------------------------- optimizer (ops.h)
// AdamW on fp32 master weights p, fp32 m, v; g fp32.
void gpu_adamw_update(const GpuCtx *cx, float *p, const float *g, float *m, float *v, int64_t n, float lr,
                      float beta1, float beta2, float eps, float wd, int step);
// The same, also writing the bf16 copy of the updated weights used for compute
// (p_bf16 may be NULL).
void gpu_adamw_update_bf16(const GpuCtx *cx, float *p, bf16_t *p_bf16, const float *g, float *m, float *v,
                           int64_t n, float lr, float beta1, float beta2, float eps, float wd, int step);

// ---------------------------------------------------------------- video autoencoder (ops.h; cuda/conv3d.cu)
// NCDHW, the CPU's math. Geometry `g` is a HOST pointer. Plain kernels: one
// thread per output element (gathers, no atomics), reductions (dw, db, the
// group statistics, kl) one block per result with double partials in a fixed
// order, so results do not depend on scheduling. kl is a device float.
void gpu_conv3d_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b,
                        const Conv3dGeom *g);
void gpu_conv3d_backward_data(const GpuCtx *cx, float *din, const float *dout, const float *w, const Conv3dGeom *g);
void gpu_conv3d_backward_weights(const GpuCtx *cx, float *dw, float *db, const float *dout, const float *in,
                                 const Conv3dGeom *g);
void gpu_groupnorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in, const float *w,
                           const float *b, int N, int C, int T, int S, int G);
void gpu_groupnorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout, const float *in,
                            const float *w, const float *mean, const float *rstd, int N, int C, int T, int S, int G);
void gpu_upsample3d_forward(const GpuCtx *cx, float *out, const float *in, int NC, int D, int H, int W, int sd,
                            int sh, int sw);
void gpu_upsample3d_backward(const GpuCtx *cx, float *din, const float *dout, int NC, int D, int H, int W, int sd,
                             int sh, int sw);
void gpu_gauss_sample_forward(const GpuCtx *cx, float *z, float *kl, const float *moments, const float *eps, int N,
                              int C, int S);
void gpu_gauss_sample_backward(const GpuCtx *cx, float *dmoments, const float *dz, float kl_weight,
                               const float *moments, const float *eps, int N, int C, int S);

#ifdef __cplusplus
}
#endif
