// Flash attention backward on the tensor cores (mma.sync m16n8k16, bf16
// operands, fp32 accumulation), the bf16 mode's backward for head dims
// C % 8 == 0, C <= 80 (gpu_attention_mma_bwd_supports; larger heads would
// spill the register tiles: the GEMM backward takes them). Same math as
// gpu_attention_backward, with P recomputed from the forward's lse:
//   P = exp(scale q k - lse), dP = dO v, dS = P (dP - D), D = rowsum(dO o)
//   dq += scale dS k, dk += scale dS^T q, dv += P^T dO
// Two kernels, each output element with one writer (no atomics: the same
// bits every run):
//   dkdv  a block owns 64 keys of one (b, h), 4 warps x 16: their K and V A
//         fragments stay in registers; per tile of 64 queries (Q and dO tiles,
//         lse and D in shared memory): S^T = K Q^T, dP^T = V dO^T, then
//         P^T and dS^T in the accumulators, dV += P^T dO and dK += dS^T Q
//         (B fragments by ldmatrix.trans of the row-major Q and dO tiles)
//   dq    a block owns 64 queries: Q and dO fragments in registers; per key
//         tile (K, V tiles): S = Q K^T, dP = dO V^T, dS, dQ += dS K
// Keys >= kvalid[b] get P = 0 and keep their dk, dv; queries past Nq, P = 0.
// Tiles (and the lse, D of a query tile) arrive by cp.async, two stages.
// The building blocks and fragment layouts: kernels/cuda/mma.cuh.
#include <math.h>

#include "kernels/cuda/mma.cuh"

#define BWD_LOG2E 1.4426950408889634f
enum { BWD_THREADS = 128, BWD_TILE = 64 };

// q16, k16, v16, g16 (dout): packed bf16 [B*N, H*C]; lse, D [B,H,Nq].
template <int CK>
__global__ void __launch_bounds__(BWD_THREADS)
    attn_bwd_dkdv_kernel(float *dk, int ldk, float *dv, int ldv, const __nv_bfloat16 *q16, const __nv_bfloat16 *k16,
                         const __nv_bfloat16 *v16, const __nv_bfloat16 *g16, int HC, const float *lse, const float *D,
                         const int *kvalid, int Nq, int Nk, int H, int C, float scale_log2, float scale) {
  constexpr int CP = 16 * CK, CN = 2 * CK, S = CP + 8, TILE = BWD_TILE * S;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 *sm = (__nv_bfloat16 *)smem_raw;               // [stage][Q, dO][query][S]
  float *LD = (float *)(smem_raw + (size_t)4 * TILE * 2);      // [stage][lse, D][query]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int b = blockIdx.y / H, h = blockIdx.y % H;
  int nv = kvalid ? kvalid[b] : Nk;
  if (nv > Nk) nv = Nk;
  const int key0 = blockIdx.x * BWD_TILE;
  if (key0 >= nv) return;  // only masked keys (the whole block alike): dk, dv untouched
  const int j0 = key0 + warp * 16 + (lane >> 2);  // this lane's key rows j0, j0 + 8
  uint32_t ka[CK][4], va[CK][4];
  load_a_frags<CK>(ka, k16, (int64_t)b * Nk, j0, nv, HC, h, C);
  load_a_frags<CK>(va, v16, (int64_t)b * Nk, j0, nv, HC, h, C);
  float dka[CN][4], dva[CN][4];
#pragma unroll
  for (int nb = 0; nb < CN; nb++)
#pragma unroll
    for (int i = 0; i < 4; i++) dka[nb][i] = dva[nb][i] = 0.0f;
  const float *lse_bh = lse + ((int64_t)b * H + h) * Nq, *D_bh = D + ((int64_t)b * H + h) * Nq;

  const int ntiles = (Nq + BWD_TILE - 1) / BWD_TILE;
  auto fill = [&](int stage, int tile) {
    const int i0 = tile * BWD_TILE;
    load_pair_async<CP, S>(sm, stage, q16, g16, (int64_t)b * Nq, i0, Nq, HC, h, C);
    if (threadIdx.x < BWD_TILE) {
      const int i = i0 + threadIdx.x;
      float *ld = LD + stage * 2 * BWD_TILE;
      cp_async4(ld + threadIdx.x, i < Nq ? lse_bh + i : lse_bh, i < Nq);
      cp_async4(ld + BWD_TILE + threadIdx.x, i < Nq ? D_bh + i : D_bh, i < Nq);
    }
    cp_async_commit();
  };
  fill(0, 0);
  for (int it = 0; it < ntiles; it++) {
    const int i0 = it * BWD_TILE;
    pipeline_advance(it, ntiles, fill);
    const __nv_bfloat16 *Qs = sm + (2 * (it & 1)) * TILE, *Gs = Qs + TILE;
    const float *Ls = LD + (it & 1) * 2 * BWD_TILE, *Ds = Ls + BWD_TILE;
    float st[8][4], dpt[8][4];
    mma_rows_by_tile<CK, S>(st, ka, Qs);   // S^T = K Q^T   [16 keys x 64 queries]
    mma_rows_by_tile<CK, S>(dpt, va, Gs);  // dP^T = V dO^T
#pragma unroll
    for (int nb = 0; nb < 8; nb++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int qi = nb * 8 + 2 * t + (i & 1);
        const float p = i0 + qi < Nq ? exp2f(st[nb][i] * scale_log2 - Ls[qi] * BWD_LOG2E) : 0.0f;
        st[nb][i] = p;
        dpt[nb][i] = p * (dpt[nb][i] - Ds[qi]) * scale;
      }
    mma_acc_by_tile<CK, S>(dva, st, Gs);   // dV += P^T dO
    mma_acc_by_tile<CK, S>(dka, dpt, Qs);  // dK += dS^T Q
    __syncthreads();                       // every warp is done with this stage before it is refilled
  }
  if (dv) store_rows<CK>(dv, ldv, (int64_t)b * Nk, j0, nv, h, C, dva, 1.0f, 1.0f, 1);
  if (dk) store_rows<CK>(dk, ldk, (int64_t)b * Nk, j0, nv, h, C, dka, 1.0f, 1.0f, 1);
}

template <int CK>
__global__ void __launch_bounds__(BWD_THREADS)
    attn_bwd_dq_kernel(float *dq, int ldq, const __nv_bfloat16 *q16, const __nv_bfloat16 *k16,
                       const __nv_bfloat16 *v16, const __nv_bfloat16 *g16, int HC, const float *lse, const float *D,
                       const int *kvalid, int Nq, int Nk, int H, int C, float scale_log2, float scale) {
  constexpr int CP = 16 * CK, CN = 2 * CK, S = CP + 8, TILE = BWD_TILE * S;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16 *sm = (__nv_bfloat16 *)smem_raw;  // [stage][K, V][key][S]
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, t = lane & 3;
  const int b = blockIdx.y / H, h = blockIdx.y % H;
  int nv = kvalid ? kvalid[b] : Nk;
  if (nv > Nk) nv = Nk;
  const int r0 = blockIdx.x * BWD_TILE + warp * 16 + (lane >> 2), r1 = r0 + 8;  // this lane's query rows
  uint32_t qa[CK][4], ga[CK][4];
  load_a_frags<CK>(qa, q16, (int64_t)b * Nq, r0, Nq, HC, h, C);
  load_a_frags<CK>(ga, g16, (int64_t)b * Nq, r0, Nq, HC, h, C);
  const int64_t bh = ((int64_t)b * H + h) * Nq;
  const float l0 = r0 < Nq ? lse[bh + r0] * BWD_LOG2E : 0.0f, l1 = r1 < Nq ? lse[bh + r1] * BWD_LOG2E : 0.0f;
  const float d0 = r0 < Nq ? D[bh + r0] : 0.0f, d1 = r1 < Nq ? D[bh + r1] : 0.0f;
  float acc[CN][4];
#pragma unroll
  for (int nb = 0; nb < CN; nb++) acc[nb][0] = acc[nb][1] = acc[nb][2] = acc[nb][3] = 0.0f;

  const int ntiles = (nv + BWD_TILE - 1) / BWD_TILE;
  auto fill = [&](int stage, int tile) {
    load_pair_async<CP, S>(sm, stage, k16, v16, (int64_t)b * Nk, tile * BWD_TILE, nv, HC, h, C);
    cp_async_commit();
  };
  fill(0, 0);
  for (int it = 0; it < ntiles; it++) {
    const int k0 = it * BWD_TILE;
    pipeline_advance(it, ntiles, fill);
    const __nv_bfloat16 *Ks = sm + (2 * (it & 1)) * TILE, *Vs = Ks + TILE;
    float s[8][4], dp[8][4];
    mma_rows_by_tile<CK, S>(s, qa, Ks);   // S = Q K^T
    mma_rows_by_tile<CK, S>(dp, ga, Vs);  // dP = dO V^T
#pragma unroll
    for (int nb = 0; nb < 8; nb++)
#pragma unroll
      for (int i = 0; i < 4; i++) {
        const int key = k0 + nb * 8 + 2 * t + (i & 1);
        const float p = key < nv ? exp2f(s[nb][i] * scale_log2 - (i < 2 ? l0 : l1)) : 0.0f;
        s[nb][i] = p * (dp[nb][i] - (i < 2 ? d0 : d1)) * scale;
      }
    mma_acc_by_tile<CK, S>(acc, s, Ks);  // dQ += dS K
    __syncthreads();
  }
  store_rows<CK>(dq, ldq, (int64_t)b * Nq, r0, Nq, h, C, acc, 1.0f, 1.0f, 1);
}

extern "C" int gpu_attention_mma_bwd_supports(int C) { return C > 0 && C % 8 == 0 && C <= 80; }

template <int CK>
static void launch_bwd(const GpuCtx *cx, float *dq, float *dk, float *dv, const __nv_bfloat16 *q16,
                       const __nv_bfloat16 *k16, const __nv_bfloat16 *v16, const __nv_bfloat16 *g16, const float *lse,
                       const float *D, int ldq, int ldk, int ldv, const int *kvalid, int B, int Nq, int Nk, int H,
                       int C) {
  const float scale = (float)(1.0 / sqrt((double)C)), scale_log2 = (float)(1.4426950408889634 / sqrt((double)C));
  const size_t tiles = (size_t)4 * BWD_TILE * (16 * CK + 8) * 2;  // 2 stages x 2 tiles
  if (dk || dv) {
    const dim3 grid((unsigned)((Nk + BWD_TILE - 1) / BWD_TILE), (unsigned)(B * H));
    const size_t smem = tiles + (size_t)2 * 2 * BWD_TILE * sizeof(float);  // + lse, D per stage
    allow_smem(attn_bwd_dkdv_kernel<CK>, smem);
    attn_bwd_dkdv_kernel<CK><<<grid, BWD_THREADS, smem, stream_of(cx)>>>(dk, ldk, dv, ldv, q16, k16, v16, g16, H * C, lse,
                                                                       D, kvalid, Nq, Nk, H, C, scale_log2, scale);
    KERNEL_CHECK();
  }
  if (dq) {
    const dim3 grid((unsigned)((Nq + BWD_TILE - 1) / BWD_TILE), (unsigned)(B * H));
    allow_smem(attn_bwd_dq_kernel<CK>, tiles);
    attn_bwd_dq_kernel<CK><<<grid, BWD_THREADS, tiles, stream_of(cx)>>>(dq, ldq, q16, k16, v16, g16, H * C, lse, D,
                                                                     kvalid, Nq, Nk, H, C, scale_log2, scale);
    KERNEL_CHECK();
  }
}

extern "C" void gpu_attention_backward_mma(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                           const float *out, int ldo, const float *lse, const float *q, int ldq,
                                           const float *k, int ldk, const float *v, int ldv, const int *kvalid,
                                           int B, int Nq, int Nk, int H, int C) {
  TSR_CUDA_ASSERT(gpu_attention_mma_bwd_supports(C), "gpu_attention_backward_mma: head dim %d (needs C %% 8 == 0, <= 80)",
                  C);
  TSR_CUDA_ASSERT(Nk >= 1 && B * H <= 65535, "gpu_attention_backward_mma: Nk %d, B*H %d", Nk, B * H);
  if (B <= 0 || Nq <= 0 || H <= 0) return;
  const int HC = H * C;
  const AttnBf16 r = attention_round(cx, q, ldq, k, ldk, v, ldv, dout, ldo, B, Nq, Nk, HC);
  const __nv_bfloat16 *q16 = r.q, *k16 = r.k, *v16 = r.v, *g16 = r.dout;
  float *D = (float *)gpu_buffer(cx, BUF_ATT_D, (size_t)B * H * Nq * 4);
  attention_rowdot(cx, D, dout, out, ldo, B, Nq, H, C);
  switch ((C + 15) / 16) {
#define BWD_CASE(ck) \
  case ck: launch_bwd<ck>(cx, dq, dk, dv, q16, k16, v16, g16, lse, D, ldq, ldk, ldv, kvalid, B, Nq, Nk, H, C); break;
    BWD_CASE(1) BWD_CASE(2) BWD_CASE(3) BWD_CASE(4) BWD_CASE(5)
#undef BWD_CASE
  }
}
