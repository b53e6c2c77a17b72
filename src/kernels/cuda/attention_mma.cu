// Flash attention forward on the tensor cores with register-resident tiles
// (mma.sync m16n8k16, bf16 operands, fp32 accumulation), the bf16 mode's
// forward for head dims C % 8 == 0, C <= 128. Same math as
// gpu_attention_forward; q, k, v are rounded to bf16 once (packed copies in
// the context's buffers), P to bf16 before P v; scores, softmax and lse are
// fp32, so the lse matches the reference fed the rounded q, k (1e-4).
//
// Block: 4 warps x 16 queries of one (b, h); per key tile of 64:
//   S = Q K^T     Q's A fragments live in registers for the whole loop; K from
//                 shared memory (rows padded by 8: conflict-free 32-bit loads);
//                 the K, V tiles arrive by cp.async, the next pair in flight
//                 while this one is computed on (two stages)
//   softmax       online, base 2, in the accumulators: a quad of lanes holds
//                 a row (shuffles for its max), keys >= kvalid[b] are -inf
//   O += P V      the S accumulators repacked as the A fragments of P (the
//                 m16n8k16 C layout of two adjacent n-blocks is the A layout of
//                 one k-chunk), V's B fragments by ldmatrix.trans from its
//                 row-major tile
// The fragment layouts and building blocks: kernels/cuda/mma.cuh.
#include <math.h>

#include "kernels/cuda/mma.cuh"

enum { MMA_WARPS = 4, MMA_BQ = 16 * MMA_WARPS, MMA_BK = 64 };
#define MMA_LN2 0.6931471805599453f

// q16, k16, v16: packed bf16 [B*N, H*C] (row stride HC). CK = padded C / 16.
template <int CK>
__global__ void __launch_bounds__(MMA_WARPS * 32)
    attn_fwd_mma_kernel(float *out, int ldo, float *lse, const __nv_bfloat16 *q16, const __nv_bfloat16 *k16,
                        const __nv_bfloat16 *v16, int HC, const int *kvalid, int Nq, int Nk, int H, int C,
                        float scale_log2) {
  constexpr int CP = 16 * CK, CN = 2 * CK;  // padded head dim; its 8-wide n-blocks
  constexpr int KS = CP + 8, TILE = MMA_BK * KS;  // shared row stride (bf16), one tile's elements
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 *sm = (__nv_bfloat16 *)smem_raw;  // [stage][K, V][key][KS]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int b = blockIdx.y / H, h = blockIdx.y % H;
  const int r0 = blockIdx.x * MMA_BQ + warp * 16 + g, r1 = r0 + 8;  // this lane's two query rows
  int nv = kvalid ? kvalid[b] : Nk;
  if (nv > Nk) nv = Nk;

  uint32_t qa[CK][4];
  load_a_frags<CK>(qa, q16, (int64_t)b * Nq, r0, Nq, HC, h, C);
  float o[CN][4];
#pragma unroll
  for (int nb = 0; nb < CN; nb++) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;  // per row (base 2); l: this lane's part

  const int ntiles = (nv + MMA_BK - 1) / MMA_BK;
  auto fill = [&](int stage, int tile) {
    load_pair_async<CP, KS>(sm, stage, k16, v16, (int64_t)b * Nk, tile * MMA_BK, nv, HC, h, C);
    cp_async_commit();
  };
  fill(0, 0);
  for (int it = 0; it < ntiles; it++) {
    const int k0 = it * MMA_BK;
    pipeline_advance(it, ntiles, fill);
    const __nv_bfloat16 *Ks = sm + (2 * (it & 1)) * TILE, *Vs = Ks + TILE;

    float s[MMA_BK / 8][4];
    mma_rows_by_tile<CK, KS>(s, qa, Ks);  // S = Q K^T
    // scale to base 2, mask, row maxima over the quad
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < MMA_BK / 8; nb++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int key = k0 + nb * 8 + 2 * t + (i & 1);
        s[nb][i] = key < nv ? s[nb][i] * scale_log2 : -INFINITY;
        if (i < 2) mx0 = fmaxf(mx0, s[nb][i]);
        else mx1 = fmaxf(mx1, s[nb][i]);
      }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);  // finite: key k0 is valid
    const float al0 = exp2f(m0 - mn0), al1 = exp2f(m1 - mn1);  // 0 on the first tile
    m0 = mn0, m1 = mn1;
    float ls0 = 0.0f, ls1 = 0.0f;
#pragma unroll
    for (int nb = 0; nb < MMA_BK / 8; nb++) {
      s[nb][0] = exp2f(s[nb][0] - mn0), s[nb][1] = exp2f(s[nb][1] - mn0);
      s[nb][2] = exp2f(s[nb][2] - mn1), s[nb][3] = exp2f(s[nb][3] - mn1);
      ls0 += s[nb][0] + s[nb][1];
      ls1 += s[nb][2] + s[nb][3];
    }
    l0 = l0 * al0 + ls0;
    l1 = l1 * al1 + ls1;
#pragma unroll
    for (int nb = 0; nb < CN; nb++) o[nb][0] *= al0, o[nb][1] *= al0, o[nb][2] *= al1, o[nb][3] *= al1;
    mma_acc_by_tile<CK, KS>(o, s, Vs);  // O += P V
    __syncthreads();  // every warp is done with this stage before it is refilled
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  store_rows<CK>(out, ldo, (int64_t)b * Nq, r0, Nq, h, C, o, 1.0f / l0, 1.0f / l1, 0);
  if (lse && t == 0) {
    if (r0 < Nq) lse[((int64_t)b * H + h) * Nq + r0] = (m0 + log2f(l0)) * MMA_LN2;
    if (r1 < Nq) lse[((int64_t)b * H + h) * Nq + r1] = (m1 + log2f(l1)) * MMA_LN2;
  }
}

extern "C" int gpu_attention_mma_supports(int C) { return C > 0 && C % 8 == 0 && C <= 128; }

template <int CK>
static void launch_mma(const GpuCtx *cx, float *out, int ldo, float *lse, const __nv_bfloat16 *q16,
                       const __nv_bfloat16 *k16, const __nv_bfloat16 *v16, const int *kvalid, int B, int Nq, int Nk,
                       int H, int C) {
  const dim3 grid((unsigned)((Nq + MMA_BQ - 1) / MMA_BQ), (unsigned)(B * H));
  const float scale_log2 = (float)(1.4426950408889634 / sqrt((double)C));
  const size_t smem = (size_t)4 * MMA_BK * (16 * CK + 8) * 2;  // 2 stages x (K, V)
  allow_smem(attn_fwd_mma_kernel<CK>, smem);
  attn_fwd_mma_kernel<CK><<<grid, MMA_WARPS * 32, smem, stream_of(cx)>>>(out, ldo, lse, q16, k16, v16, H * C, kvalid, Nq,
                                                                       Nk, H, C, scale_log2);
  KERNEL_CHECK();
}

extern "C" void gpu_attention_forward_mma(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                                          const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                          int Nq, int Nk, int H, int C) {
  TSR_CUDA_ASSERT(gpu_attention_mma_supports(C), "gpu_attention_forward_mma: head dim %d (needs C %% 8 == 0, <= 128)", C);
  TSR_CUDA_ASSERT(Nk >= 1 && B * H <= 65535, "gpu_attention_forward_mma: Nk %d, B*H %d", Nk, B * H);
  if (B <= 0 || Nq <= 0 || H <= 0) return;
  const int HC = H * C;
  const AttnBf16 r = attention_round(cx, q, ldq, k, ldk, v, ldv, NULL, 0, B, Nq, Nk, HC);
  const __nv_bfloat16 *q16 = r.q, *k16 = r.k, *v16 = r.v;
  switch ((C + 15) / 16) {
    case 1: launch_mma<1>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 2: launch_mma<2>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 3: launch_mma<3>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 4: launch_mma<4>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 5: launch_mma<5>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 6: launch_mma<6>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    case 7: launch_mma<7>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
    default: launch_mma<8>(cx, out, ldo, lse, q16, k16, v16, kvalid, B, Nq, Nk, H, C); break;
  }
}
