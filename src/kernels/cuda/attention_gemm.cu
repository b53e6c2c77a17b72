// Attention through cuBLAS, the bf16 mode's attention: the scores of one
// group of heads of one sample at a time are materialised, S = scale q k^T
// (bf16 operands, fp32 scores), then a row softmax writes P (bf16) and the
// lse, and out = P v. The backward recomputes S and P from the lse and runs
// dv += P^T dO, dP = dO v^T, dS = P (dP - D) scale, dq += dS k, dk += dS^T q:
// five tensor-core products and three row passes per group, against the
// flash kernels' CUDA-core loops (8 TFLOP/s on an H200).
// Memory: Hg x Nq x Nk x 6 bytes (fp32 scores + bf16 probabilities) in the
// context's grow-only buffers, Hg chosen under a budget (1 GiB, at most a
// sixteenth of the card); a single head over budget falls back to the flash
// kernels. Keys j >= kvalid[b] get P = 0 exactly; their k and v rows must be
// finite (0 x NaN would reach the products), as every caller's are.
#include <math.h>

#include "kernels/cuda/common.cuh"

static int heads_per_group(const GpuCtx *cx, int Nq, int Nk, int H) {
  size_t budget = cx->mem_total / 16;
  if (budget > ((size_t)1 << 30)) budget = (size_t)1 << 30;
  const size_t per_head = (size_t)Nq * Nk * 6;
  const size_t g = budget / per_head;
  return g < 1 ? 0 : (g > (size_t)H ? H : (int)g);
}

// Reductions over a block of ROW_THREADS threads; sh: 32 floats of shared memory.
enum { ROW_THREADS = 256 };
__device__ float block_max(float v, float *sh) {
  v = warp_max(v);
  __syncthreads();  // sh may still be read by a previous reduction
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  v = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : -INFINITY;
  return warp_max(v);
}
__device__ float block_sum(float v, float *sh) {
  v = warp_sum(v);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
  __syncthreads();
  v = (threadIdx.x & 31) < (blockDim.x >> 5) ? sh[threadIdx.x & 31] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ int keys_of(const int *kvalid, int b, int Nk) {
  const int nv = kvalid ? kvalid[b] : Nk;
  return nv < Nk ? nv : Nk;
}
// lse index of row r (head h0 + r / Nq, query r % Nq) of sample b
__device__ __forceinline__ int64_t lse_index(int64_t r, int b, int H, int h0, int Nq) {
  return ((int64_t)b * H + h0 + r / Nq) * Nq + r % Nq;
}

// One block per row r of the group's scores S[r, Nk] (fp32): P[r, :] (bf16) =
// exp(S - lse) over the valid keys, 0 past them; lse (may be NULL) saved.
__global__ void softmax_rows_kernel(__nv_bfloat16 *P, const float *S, float *lse, const int *kvalid, int b, int H,
                                    int h0, int Nq, int Nk) {
  __shared__ float sh[32];
  const int64_t r = blockIdx.x;
  const float *s = S + r * Nk;
  __nv_bfloat16 *p = P + r * Nk;
  const int nv = keys_of(kvalid, b, Nk);
  float m = -INFINITY;
  for (int j = threadIdx.x; j < nv; j += blockDim.x) m = fmaxf(m, s[j]);
  m = block_max(m, sh);
  float l = 0.0f;
  for (int j = threadIdx.x; j < nv; j += blockDim.x) l += expf(s[j] - m);
  l = block_sum(l, sh);
  const float lg = m + logf(l);
  for (int j = threadIdx.x; j < Nk; j += blockDim.x) p[j] = __float2bfloat16_rn(j < nv ? expf(s[j] - lg) : 0.0f);
  if (lse && threadIdx.x == 0) lse[lse_index(r, b, H, h0, Nq)] = lg;
}

// The backward's P from the saved lse: P[r, j] = exp(S[r, j] - lse), 0 past the valid keys.
__global__ void probs_from_lse_kernel(__nv_bfloat16 *P, const float *S, const float *lse, const int *kvalid, int b,
                                      int H, int h0, int Nq, int Nk) {
  const int64_t r = blockIdx.x;
  const float lg = lse[lse_index(r, b, H, h0, Nq)];
  const int nv = keys_of(kvalid, b, Nk);
  for (int j = threadIdx.x; j < Nk; j += blockDim.x)
    P[r * Nk + j] = __float2bfloat16_rn(j < nv ? expf(S[r * Nk + j] - lg) : 0.0f);
}

// In place on the bf16 buffer: P[r, j] <- P (dP - D_r) scale, 0 past the valid keys.
__global__ void dscores_kernel(__nv_bfloat16 *P, const float *dP, const float *D, const int *kvalid, int b, int H,
                               int h0, int Nq, int Nk, float scale) {
  const int64_t r = blockIdx.x;
  const float d = D[lse_index(r, b, H, h0, Nq)];
  const int nv = keys_of(kvalid, b, Nk);
  for (int j = threadIdx.x; j < Nk; j += blockDim.x) {
    const int64_t e = r * Nk + j;
    P[e] = __float2bfloat16_rn(j < nv ? __bfloat162float(P[e]) * (dP[e] - d) * scale : 0.0f);
  }
}

// D[b,h,i] = sum_c dout[b,i,h,c] out[b,i,h,c]: one warp per (b, i, h).
__global__ void rowdot_kernel(float *D, const float *dout, const float *out, int ldo, int B, int Nq, int H, int C) {
  const int lane = threadIdx.x & 31;
  const int64_t nwarps = (int64_t)gridDim.x * blockDim.x >> 5;
  // whole warps stay together: w is the same across a warp
  for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < (int64_t)B * Nq * H; w += nwarps) {
    const int64_t bi = w / H;
    const int h = (int)(w % H);
    const float *g = dout + bi * ldo + (int64_t)h * C, *o = out + bi * ldo + (int64_t)h * C;
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += g[c] * o[c];
    s = warp_sum(s);
    if (lane == 0) D[(bi / Nq * H + h) * Nq + bi % Nq] = s;
  }
}

AttnBf16 attention_round(const GpuCtx *cx, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                         const float *dout, int ldo, int B, int Nq, int Nk, int HC) {
  AttnBf16 r;
  r.q = (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_Q, (size_t)B * Nq * HC * 2);
  r.k = (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_K, (size_t)B * Nk * HC * 2);
  r.v = (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_V, (size_t)B * Nk * HC * 2);
  r.dout = dout ? (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_DO, (size_t)B * Nq * HC * 2) : NULL;
  f32_to_bf16_2d(cx, r.q, q, (int64_t)B * Nq, HC, ldq);
  f32_to_bf16_2d(cx, r.k, k, (int64_t)B * Nk, HC, ldk);
  f32_to_bf16_2d(cx, r.v, v, (int64_t)B * Nk, HC, ldv);
  if (dout) f32_to_bf16_2d(cx, r.dout, dout, (int64_t)B * Nq, HC, ldo);
  return r;
}

void attention_rowdot(const GpuCtx *cx, float *D, const float *dout, const float *out, int ldo, int B, int Nq, int H,
                      int C) {
  const int64_t warps = (int64_t)B * Nq * H;
  rowdot_kernel<<<blocks_for(warps * 32, 256), 256, 0, stream_of(cx)>>>(D, dout, out, ldo, B, Nq, H, C);
  KERNEL_CHECK();
}

typedef const __nv_bfloat16 *cbf;

extern "C" void gpu_attention_forward_gemm(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q,
                                           int ldq, const float *k, int ldk, const float *v, int ldv,
                                           const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0) return;
  const int G = Nk > 0 ? heads_per_group(cx, Nq, Nk, H) : 0;
  if (G == 0) {
    gpu_attention_forward(cx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
    return;
  }
  const int HC = H * C;
  const float scale = 1.0f / sqrtf((float)C);
  const AttnBf16 r = attention_round(cx, q, ldq, k, ldk, v, ldv, NULL, 0, B, Nq, Nk, HC);
  cbf q16 = r.q, k16 = r.k, v16 = r.v;
  float *S = (float *)gpu_buffer(cx, BUF_ATT_S, (size_t)G * Nq * Nk * 4);
  __nv_bfloat16 *P = (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_P, (size_t)G * Nq * Nk * 2);
  const long long sS = (long long)Nq * Nk;
  for (int b = 0; b < B; b++)
    for (int h0 = 0; h0 < H; h0 += G) {
      const int nh = H - h0 < G ? H - h0 : G;
      cbf qb = q16 + (int64_t)b * Nq * HC + h0 * C, kb = k16 + (int64_t)b * Nk * HC + h0 * C,
          vb = v16 + (int64_t)b * Nk * HC + h0 * C;
      // S_h[Nq,Nk] = scale q_h k_h^T
      gemm_batched_bf16(cx, 0, 1, Nq, Nk, C, scale, qb, HC, C, kb, HC, C, 0.0f, S, 0, Nk, sS, nh);
      softmax_rows_kernel<<<(unsigned)(nh * Nq), ROW_THREADS, 0, stream_of(cx)>>>(P, S, lse, kvalid, b, H, h0, Nq,
                                                                                  Nk);
      KERNEL_CHECK();
      // out_h[Nq,C] = P_h v_h, at stride ldo
      gemm_batched_bf16(cx, 0, 0, Nq, C, Nk, 1.0f, P, Nk, sS, vb, HC, C, 0.0f,
                        out + (int64_t)b * Nq * ldo + h0 * C, 0, ldo, C, nh);
    }
}

extern "C" void gpu_attention_backward_gemm(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                            const float *out, int ldo, const float *lse, const float *q, int ldq,
                                            const float *k, int ldk, const float *v, int ldv, const int *kvalid,
                                            int B, int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || C <= 0) return;
  const int G = Nk > 0 ? heads_per_group(cx, Nq, Nk, H) : 0;
  if (G == 0) {
    gpu_attention_backward(cx, dq, dk, dv, dout, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
    return;
  }
  const int HC = H * C;
  const float scale = 1.0f / sqrtf((float)C);
  const AttnBf16 r = attention_round(cx, q, ldq, k, ldk, v, ldv, dout, ldo, B, Nq, Nk, HC);
  cbf q16 = r.q, k16 = r.k, v16 = r.v, do16 = r.dout;
  float *D = (float *)gpu_buffer(cx, BUF_ATT_D, (size_t)B * H * Nq * 4);
  attention_rowdot(cx, D, dout, out, ldo, B, Nq, H, C);
  float *S = (float *)gpu_buffer(cx, BUF_ATT_S, (size_t)G * Nq * Nk * 4);  // S, then dP
  __nv_bfloat16 *P = (__nv_bfloat16 *)gpu_buffer(cx, BUF_ATT_P, (size_t)G * Nq * Nk * 2);  // P, then dS
  const long long sS = (long long)Nq * Nk;
  for (int b = 0; b < B; b++)
    for (int h0 = 0; h0 < H; h0 += G) {
      const int nh = H - h0 < G ? H - h0 : G;
      cbf qb = q16 + (int64_t)b * Nq * HC + h0 * C, kb = k16 + (int64_t)b * Nk * HC + h0 * C,
          vb = v16 + (int64_t)b * Nk * HC + h0 * C, gb = do16 + (int64_t)b * Nq * HC + h0 * C;
      gemm_batched_bf16(cx, 0, 1, Nq, Nk, C, scale, qb, HC, C, kb, HC, C, 0.0f, S, 0, Nk, sS, nh);
      probs_from_lse_kernel<<<(unsigned)(nh * Nq), ROW_THREADS, 0, stream_of(cx)>>>(P, S, lse, kvalid, b, H, h0,
                                                                                    Nq, Nk);
      KERNEL_CHECK();
      if (dv)  // dv_h[Nk,C] += P_h^T dO_h
        gemm_batched_bf16(cx, 1, 0, Nk, C, Nq, 1.0f, P, Nk, sS, gb, HC, C, 1.0f,
                          dv + (int64_t)b * Nk * ldv + h0 * C, 0, ldv, C, nh);
      // dP_h[Nq,Nk] = dO_h v_h^T (over S)
      gemm_batched_bf16(cx, 0, 1, Nq, Nk, C, 1.0f, gb, HC, C, vb, HC, C, 0.0f, S, 0, Nk, sS, nh);
      dscores_kernel<<<(unsigned)(nh * Nq), ROW_THREADS, 0, stream_of(cx)>>>(P, S, D, kvalid, b, H, h0, Nq, Nk,
                                                                             scale);
      KERNEL_CHECK();
      if (dq)  // dq_h[Nq,C] += dS_h k_h
        gemm_batched_bf16(cx, 0, 0, Nq, C, Nk, 1.0f, P, Nk, sS, kb, HC, C, 1.0f,
                          dq + (int64_t)b * Nq * ldq + h0 * C, 0, ldq, C, nh);
      if (dk)  // dk_h[Nk,C] += dS_h^T q_h
        gemm_batched_bf16(cx, 1, 0, Nk, C, Nq, 1.0f, P, Nk, sS, qb, HC, C, 1.0f,
                          dk + (int64_t)b * Nk * ldk + h0 * C, 0, ldk, C, nh);
    }
}
