// Flash attention forward on the tensor cores (bf16 products, fp32
// accumulation and softmax), fp32 in and out: the same arguments and math as
// gpu_attention_forward (kernels/cuda/attention.cu), for inference and as the
// pattern of the bf16 training kernels. Accuracy is bf16's: q, k, v and P are
// rounded to bf16 before their products (~2^-9 relative each); given the
// rounded q, k, v, the scores and lse are fp32-exact and only P's rounding
// remains in the output.
//
// Block = 64 queries x (b, h), 4 warps x 16 query rows. Per key tile of 64
// keys (staged in shared memory as bf16, zero past the valid keys and past C):
//   S = Q Kᵀ          WMMA 16x16x16, fp32 accumulators, stored to the warp's S tile
//   online softmax    two lanes per row (32 columns each), base 2 (S scaled by
//                     log2(e)/√C in fp32); masked keys get P = 0; P stored as bf16;
//                     the warp's fp32 O rows (shared memory) scaled by 2^(m_old−m_new)
//   O += P V          WMMA with O loaded as the accumulator and stored back
// O lives in shared memory because WMMA fragments have no defined row layout
// (a per-row rescale needs one). Head dim C <= 128, padded to CMAX = 64 or 128.
// Shared memory: 3·64·CMAX bf16 (Q, K, V) + S, P, O tiles: 64 KiB (CMAX 64),
// 104.5 KiB (CMAX 128).
#include <mma.h>

#include "kernels/cuda/common.cuh"

using namespace nvcuda;

enum { TC_WARPS = 4, TC_WQ = 16, TC_BQ = TC_WARPS * TC_WQ, TC_BK = 64 };
#define TC_LN2 0.6931471805599453f

template <int CMAX>
struct TcSmem {  // offsets in bytes; every tile starts 32-byte aligned (WMMA needs 256-bit alignment)
  static constexpr size_t q = 0, k = q + 2 * TC_BQ * CMAX, v = k + 2 * TC_BK * CMAX, s = v + 2 * TC_BK * CMAX,
                          p = s + 4 * TC_WARPS * TC_WQ * TC_BK, o = p + 2 * TC_WARPS * TC_WQ * TC_BK,
                          m = o + 4 * TC_WARPS * TC_WQ * CMAX, l = m + 4 * TC_WARPS * TC_WQ,
                          total = l + 4 * TC_WARPS * TC_WQ;
};

template <int CMAX>
__global__ void __launch_bounds__(TC_WARPS * 32)
    attn_fwd_tc_kernel(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk,
                       const float *v, int ldv, const int *kvalid, int Nq, int Nk, int H, int C, float qscale) {
  using L = TcSmem<CMAX>;
  extern __shared__ __align__(128) unsigned char smem[];
  __nv_bfloat16 *Qs = (__nv_bfloat16 *)(smem + L::q);  // [BQ][CMAX]
  __nv_bfloat16 *Ks = (__nv_bfloat16 *)(smem + L::k);  // [BK][CMAX]
  __nv_bfloat16 *Vs = (__nv_bfloat16 *)(smem + L::v);  // [BK][CMAX]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  float *S = (float *)(smem + L::s) + warp * TC_WQ * TC_BK;                  // [WQ][BK]
  __nv_bfloat16 *P = (__nv_bfloat16 *)(smem + L::p) + warp * TC_WQ * TC_BK;  // [WQ][BK]
  float *O = (float *)(smem + L::o) + warp * TC_WQ * CMAX;                   // [WQ][CMAX]
  float *Mrow = (float *)(smem + L::m) + warp * TC_WQ, *Lrow = (float *)(smem + L::l) + warp * TC_WQ;
  const int b = blockIdx.y / H, h = blockIdx.y % H, q0 = blockIdx.x * TC_BQ;
  const int nv = kvalid ? kvalid[b] : Nk;

  for (int e = threadIdx.x; e < TC_BQ * CMAX; e += blockDim.x) {
    const int i = e / CMAX, c = e % CMAX;
    const float x = (q0 + i < Nq && c < C) ? q[((int64_t)b * Nq + q0 + i) * ldq + (int64_t)h * C + c] : 0.0f;
    Qs[e] = __float2bfloat16_rn(x);  // unscaled: S is the exact-input product, scaled in fp32 below
  }
  for (int e = lane; e < TC_WQ * CMAX; e += 32) O[e] = 0.0f;
  if (lane < TC_WQ) {
    Mrow[lane] = -INFINITY;
    Lrow[lane] = 0.0f;
  }
  const int r = lane >> 1, half = lane & 1;  // softmax: two lanes per row

  for (int k0 = 0; k0 < nv; k0 += TC_BK) {
    __syncthreads();  // the previous K, V tiles are consumed (and Q is stored)
    for (int e = threadIdx.x; e < TC_BK * CMAX; e += blockDim.x) {
      const int j = e / CMAX, c = e % CMAX;
      float kv, vv;
      kv_tile_elem(k, ldk, v, ldv, b, Nk, h, C, nv, k0 + j, c, &kv, &vv);
      Ks[e] = __float2bfloat16_rn(kv);
      Vs[e] = __float2bfloat16_rn(vv);
    }
    __syncthreads();
    // S[16][64] = Q[warp rows] Kᵀ
#pragma unroll
    for (int jt = 0; jt < TC_BK / 16; jt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll
      for (int kt = 0; kt < CMAX / 16; kt++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;  // Kᵀ: (c, key) at K[key][c]
        wmma::load_matrix_sync(fa, Qs + warp * TC_WQ * CMAX + kt * 16, CMAX);
        wmma::load_matrix_sync(fb, Ks + jt * 16 * CMAX + kt * 16, CMAX);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(S + jt * 16, acc, TC_BK, wmma::mem_row_major);
    }
    __syncwarp();
    {  // online softmax of row r over this tile; lanes 2r, 2r+1 take 32 columns each
      const float *srow = S + r * TC_BK;
      const int c0 = half * 32;
      float mx = -INFINITY;
      for (int j = c0; j < c0 + 32; j++)
        if (k0 + j < nv) mx = fmaxf(mx, srow[j] * qscale);
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      const float m_old = Mrow[r], m_new = fmaxf(m_old, mx);  // finite: key k0 is valid
      const float alpha = exp2f(m_old - m_new);               // 0 on the first tile
      float sum = 0.0f;
      for (int j = c0; j < c0 + 32; j++) {
        const float p = k0 + j < nv ? exp2f(srow[j] * qscale - m_new) : 0.0f;
        sum += p;
        P[r * TC_BK + j] = __float2bfloat16_rn(p);
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      for (int c = half * (CMAX / 2); c < (half + 1) * (CMAX / 2); c++) O[r * CMAX + c] *= alpha;
      const float l_old = Lrow[r];
      __syncwarp();  // both lanes of the row have read m_old, l_old
      if (!half) {
        Mrow[r] = m_new;
        Lrow[r] = l_old * alpha + sum;
      }
    }
    __syncwarp();
    // O[16][CMAX] += P[16][64] V[64][CMAX]
#pragma unroll
    for (int nt = 0; nt < CMAX / 16; nt++) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
      wmma::load_matrix_sync(acc, O + nt * 16, CMAX, wmma::mem_row_major);
#pragma unroll
      for (int kt = 0; kt < TC_BK / 16; kt++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
        wmma::load_matrix_sync(fa, P + kt * 16, TC_BK);
        wmma::load_matrix_sync(fb, Vs + kt * 16 * CMAX + nt * 16, CMAX);
        wmma::mma_sync(acc, fa, fb, acc);
      }
      wmma::store_matrix_sync(O + nt * 16, acc, CMAX, wmma::mem_row_major);
    }
    __syncwarp();
  }
  // out = O / l; lse = (m + log2 l)·ln 2
  const int i = q0 + warp * TC_WQ + r;
  if (i < Nq) {
    const float inv = 1.0f / Lrow[r];
    float *oi = out + ((int64_t)b * Nq + i) * ldo + (int64_t)h * C;
    for (int c = half * (CMAX / 2); c < (half + 1) * (CMAX / 2); c++)
      if (c < C) oi[c] = O[r * CMAX + c] * inv;
    if (lse && !half) lse[((int64_t)b * H + h) * Nq + i] = (Mrow[r] + log2f(Lrow[r])) * TC_LN2;
  }
}

template <int CMAX>
static void launch_tc(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq, const float *k,
                      int ldk, const float *v, int ldv, const int *kvalid, int B, int Nq, int Nk, int H, int C) {
  const size_t sm = TcSmem<CMAX>::total;
  CUDA_CHECK(cudaFuncSetAttribute(attn_fwd_tc_kernel<CMAX>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
  const float qscale = (float)(1.4426950408889634 / sqrt((double)C));
  dim3 grid((Nq + TC_BQ - 1) / TC_BQ, B * H);
  attn_fwd_tc_kernel<CMAX><<<grid, TC_WARPS * 32, sm, stream_of(cx)>>>(out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid,
                                                                        Nq, Nk, H, C, qscale);
  KERNEL_CHECK();
}

extern "C" void gpu_attention_forward_tc(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                                         const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                         int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0) return;
  TSR_CUDA_ASSERT(C >= 1 && C <= 128 && Nk >= 1, "attention_tc: head dim %d (1..128), Nk %d", C, Nk);
  if (C <= 64) launch_tc<64>(cx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
  else launch_tc<128>(cx, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, B, Nq, Nk, H, C);
}
