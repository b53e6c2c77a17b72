// Flash attention (fp32, SIMT), forward and backward, the math of
// kernels/cpu/attention_ref.c: softmax(q kᵀ/√C) v per (b, h) with key
// padding kvalid[b]; lse[B,H,Nq] (natural log) saved for the backward.
// Layouts: q (b,n,h,c) at q[(b*Nq+n)*ldq + h*C + c]; k, v with Nk, ldk, ldv;
// out and dout with ldo. Keys j >= kvalid[b] are never read, their dk, dv
// never written; memory between head slices is never touched.
//
// Tiles live in shared memory; no Nq x Nk matrix exists anywhere.
// Forward, block = (query tile of BQ = 32, b·H+h), 4 warps x 8 queries (two
// groups of G = 4). Per key tile of BK = 32 keys (lane j = key j): scores of
// the group's 4 queries, online softmax in base 2 (q pre-scaled by
// log2(e)/√C), O += P V with P broadcast by warp shuffles. Each lane keeps
// output columns lane, lane+32, ... (CMAX/32 of them) in registers.
// Backward (FlashAttention-2 math, no atomics, deterministic):
//   D_i = Σ_c dO_ic O_ic;  P = 2^(S·log2e − lse·log2e);  dS = P∘(dP − D), dP = dO Vᵀ
//   kernel dq: per query tile, loop over key tiles:   dQ += scale·dS K
//   kernel dkdv: per key tile, loop over query tiles: dV += Pᵀ dO, dK += scale·dSᵀ Q
// (S is recomputed in both: 2 extra tile GEMMs bought determinism.)
// Head dim C <= 128, compiled for CMAX = 32, 64, 128 (columns >= C are zero).
// This is the correctness-first kernel; a bf16 tensor-core version (wgmma /
// mma.sync) is the next step for speed (docs/cuda.md).
#include <math.h>

#include "kernels/cuda/common.cuh"

enum { AT_WARPS = 4, AT_G = 4, AT_NG = 2, AT_QPW = AT_G * AT_NG, AT_BQ = AT_WARPS * AT_QPW, AT_BK = 32 };
static_assert(AT_BQ == 32, "tiles assume 32 queries and 32 keys (one per lane)");
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

__device__ __forceinline__ int valid_keys(const int *kvalid, int b, int Nk) { return kvalid ? kvalid[b] : Nk; }

// ---------------------------------------------------------------- forward
template <int CMAX>
__global__ void __launch_bounds__(AT_WARPS * 32)
    attn_fwd_kernel(float *out, int ldo, float *lse, const float *q, int ldq, const float *k, int ldk, const float *v,
                    int ldv, const int *kvalid, int Nq, int Nk, int H, int C, float qscale) {
  constexpr int NC = CMAX / 32, KT = AT_BK + 1;
  extern __shared__ float smem[];
  float *Qs = smem;                 // [BQ][CMAX], pre-scaled by log2(e)/sqrt(C)
  float *Kt = Qs + AT_BQ * CMAX;    // [CMAX][BK+1], keys transposed (padded: conflict-free)
  float *Vs = Kt + CMAX * KT;       // [BK][CMAX]
  const int b = blockIdx.y / H, h = blockIdx.y % H, q0 = blockIdx.x * AT_BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nv = valid_keys(kvalid, b, Nk);
  for (int e = threadIdx.x; e < AT_BQ * CMAX; e += blockDim.x) {
    const int i = e / CMAX, c = e % CMAX;
    Qs[e] = (q0 + i < Nq && c < C) ? q[((int64_t)b * Nq + q0 + i) * ldq + (int64_t)h * C + c] * qscale : 0.0f;
  }
  float o[AT_NG][AT_G][NC], mrow[AT_NG][AT_G], lrow[AT_NG][AT_G];
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++) {
      mrow[g][gi] = -INFINITY;
      lrow[g][gi] = 0.0f;
#pragma unroll
      for (int cc = 0; cc < NC; cc++) o[g][gi][cc] = 0.0f;
    }
  for (int k0 = 0; k0 < nv; k0 += AT_BK) {
    __syncthreads();  // the previous tile is consumed
    for (int e = threadIdx.x; e < AT_BK * CMAX; e += blockDim.x) {
      const int j = e / CMAX, c = e % CMAX;
      float kv, vv;
      kv_tile_elem(k, ldk, v, ldv, b, Nk, h, C, nv, k0 + j, c, &kv, &vv);
      Kt[c * KT + j] = kv;
      Vs[j * CMAX + c] = vv;
    }
    __syncthreads();
    const bool key_ok = k0 + lane < nv;
#pragma unroll
    for (int g = 0; g < AT_NG; g++) {
      const float *qg = Qs + (warp * AT_QPW + g * AT_G) * CMAX;
      float s[AT_G];
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) s[gi] = 0.0f;
#pragma unroll 8
      for (int c = 0; c < C; c++) {
        const float kc = Kt[c * KT + lane];
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) s[gi] += qg[gi * CMAX + c] * kc;
      }
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) {
        const float sv = key_ok ? s[gi] : -INFINITY;
        const float mnew = fmaxf(mrow[g][gi], warp_max(sv));
        const float alpha = exp2f(mrow[g][gi] - mnew);  // 0 on the first tile (m = -inf)
        const float p = exp2f(sv - mnew);                // 0 for masked keys
        lrow[g][gi] = lrow[g][gi] * alpha + warp_sum(p);
        mrow[g][gi] = mnew;
#pragma unroll
        for (int cc = 0; cc < NC; cc++) o[g][gi][cc] *= alpha;
        s[gi] = p;
      }
#pragma unroll 4
      for (int j = 0; j < AT_BK; j++) {
        float vj[NC];
#pragma unroll
        for (int cc = 0; cc < NC; cc++) vj[cc] = Vs[j * CMAX + lane + 32 * cc];
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) {
          const float pj = __shfl_sync(0xffffffffu, s[gi], j);
#pragma unroll
          for (int cc = 0; cc < NC; cc++) o[g][gi][cc] += pj * vj[cc];
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++) {
      const int i = q0 + warp * AT_QPW + g * AT_G + gi;
      if (i >= Nq) continue;
      const float inv = 1.0f / lrow[g][gi];
      float *oi = out + ((int64_t)b * Nq + i) * ldo + (int64_t)h * C;
#pragma unroll
      for (int cc = 0; cc < NC; cc++) {
        const int c = lane + 32 * cc;
        if (c < C) oi[c] = o[g][gi][cc] * inv;
      }
      if (lse && lane == 0) lse[((int64_t)b * H + h) * Nq + i] = (mrow[g][gi] + log2f(lrow[g][gi])) * LN2;
    }
}

// ---------------------------------------------------------------- backward: D_i
// Dsum[B,H,Nq] = Σ_c dout·out
__global__ void attn_bwd_dsum_kernel(float *Dsum, const float *dout, const float *out, int ldo, int Nq, int H, int C,
                                     int64_t total) {
  GRID_STRIDE(t, total) {  // t = (b*H + h)*Nq + i
    const int64_t i = t % Nq, bh = t / Nq, h = bh % H, b = bh / H;
    const float *d = dout + (b * Nq + i) * ldo + h * C, *o = out + (b * Nq + i) * ldo + h * C;
    float s = 0.0f;
    for (int c = 0; c < C; c++) s += d[c] * o[c];
    Dsum[t] = s;
  }
}

// ---------------------------------------------------------------- backward: dq
template <int CMAX>
__global__ void __launch_bounds__(AT_WARPS * 32)
    attn_bwd_dq_kernel(float *dq, const float *dout, int ldo, const float *lse, const float *Dsum, const float *q,
                       int ldq, const float *k, int ldk, const float *v, int ldv, const int *kvalid, int Nq, int Nk,
                       int H, int C, float qscale, float scale) {
  constexpr int NC = CMAX / 32, KT = AT_BK + 1;
  extern __shared__ float smem[];
  float *Qs = smem;                  // [BQ][CMAX] pre-scaled
  float *dOs = Qs + AT_BQ * CMAX;    // [BQ][CMAX]
  float *Kt = dOs + AT_BQ * CMAX;    // [CMAX][BK+1]
  float *Vt = Kt + CMAX * KT;        // [CMAX][BK+1]
  const int b = blockIdx.y / H, h = blockIdx.y % H, q0 = blockIdx.x * AT_BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nv = valid_keys(kvalid, b, Nk);
  for (int e = threadIdx.x; e < AT_BQ * CMAX; e += blockDim.x) {
    const int i = e / CMAX, c = e % CMAX;
    const bool ok = q0 + i < Nq && c < C;
    const int64_t row = (int64_t)b * Nq + q0 + i;
    Qs[e] = ok ? q[row * ldq + (int64_t)h * C + c] * qscale : 0.0f;
    dOs[e] = ok ? dout[row * ldo + (int64_t)h * C + c] : 0.0f;
  }
  float acc[AT_NG][AT_G][NC], lse2[AT_NG][AT_G], Dv[AT_NG][AT_G];
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++) {
      const int i = q0 + warp * AT_QPW + g * AT_G + gi;
      const int64_t t = ((int64_t)b * H + h) * Nq + i;
      lse2[g][gi] = i < Nq ? lse[t] * LOG2E : 0.0f;
      Dv[g][gi] = i < Nq ? Dsum[t] : 0.0f;
#pragma unroll
      for (int cc = 0; cc < NC; cc++) acc[g][gi][cc] = 0.0f;
    }
  for (int k0 = 0; k0 < nv; k0 += AT_BK) {
    __syncthreads();
    for (int e = threadIdx.x; e < AT_BK * CMAX; e += blockDim.x) {
      const int j = e / CMAX, c = e % CMAX;
      float kv, vv;
      kv_tile_elem(k, ldk, v, ldv, b, Nk, h, C, nv, k0 + j, c, &kv, &vv);
      Kt[c * KT + j] = kv;
      Vt[c * KT + j] = vv;
    }
    __syncthreads();
    const bool key_ok = k0 + lane < nv;
#pragma unroll
    for (int g = 0; g < AT_NG; g++) {
      const float *qg = Qs + (warp * AT_QPW + g * AT_G) * CMAX, *dog = dOs + (warp * AT_QPW + g * AT_G) * CMAX;
      float s[AT_G], dp[AT_G];
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) s[gi] = dp[gi] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < C; c++) {
        const float kc = Kt[c * KT + lane], vc = Vt[c * KT + lane];
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) {
          s[gi] += qg[gi * CMAX + c] * kc;
          dp[gi] += dog[gi * CMAX + c] * vc;
        }
      }
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) {
        const float p = key_ok ? exp2f(s[gi] - lse2[g][gi]) : 0.0f;
        s[gi] = p * (dp[gi] - Dv[g][gi]);  // dS
      }
#pragma unroll 4
      for (int j = 0; j < AT_BK; j++) {
        float kj[NC];
#pragma unroll
        for (int cc = 0; cc < NC; cc++) kj[cc] = Kt[(lane + 32 * cc) * KT + j];
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) {
          const float dsj = __shfl_sync(0xffffffffu, s[gi], j);
#pragma unroll
          for (int cc = 0; cc < NC; cc++) acc[g][gi][cc] += dsj * kj[cc];
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++) {
      const int i = q0 + warp * AT_QPW + g * AT_G + gi;
      if (i >= Nq) continue;
      float *dqi = dq + ((int64_t)b * Nq + i) * ldq + (int64_t)h * C;
#pragma unroll
      for (int cc = 0; cc < NC; cc++) {
        const int c = lane + 32 * cc;
        if (c < C) dqi[c] += scale * acc[g][gi][cc];
      }
    }
}

// ---------------------------------------------------------------- backward: dk, dv
// Block = (key tile of 32 keys: 4 warps x 8, b·H+h); lane = query within a query tile.
template <int CMAX>
__global__ void __launch_bounds__(AT_WARPS * 32)
    attn_bwd_dkdv_kernel(float *dk, float *dv, const float *dout, int ldo, const float *lse, const float *Dsum,
                         const float *q, int ldq, const float *k, int ldk, const float *v, int ldv, const int *kvalid,
                         int Nq, int Nk, int H, int C, float qscale, float scale) {
  constexpr int NC = CMAX / 32, QT = AT_BQ + 1;
  extern __shared__ float smem[];
  float *Ks = smem;                  // [32 keys][CMAX]
  float *Vs = Ks + AT_BK * CMAX;     // [32 keys][CMAX]
  float *Qt = Vs + AT_BK * CMAX;     // [CMAX][BQ+1], q transposed (unscaled)
  float *dOt = Qt + CMAX * QT;       // [CMAX][BQ+1]
  float *lse2s = dOt + CMAX * QT;    // [BQ]
  float *Ds = lse2s + AT_BQ;         // [BQ]
  const int b = blockIdx.y / H, h = blockIdx.y % H, k0 = blockIdx.x * AT_BK;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int nv = valid_keys(kvalid, b, Nk);
  if (k0 >= nv) return;  // whole tile masked: nothing read, nothing written
  for (int e = threadIdx.x; e < AT_BK * CMAX; e += blockDim.x) {
    const int j = e / CMAX, c = e % CMAX;
    const bool ok = k0 + j < nv && c < C;
    const int64_t row = (int64_t)b * Nk + k0 + j;
    Ks[e] = ok ? k[row * ldk + (int64_t)h * C + c] : 0.0f;
    Vs[e] = ok ? v[row * ldv + (int64_t)h * C + c] : 0.0f;
  }
  float ak[AT_NG][AT_G][NC], av[AT_NG][AT_G][NC];
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++)
#pragma unroll
      for (int cc = 0; cc < NC; cc++) ak[g][gi][cc] = av[g][gi][cc] = 0.0f;
  for (int i0 = 0; i0 < Nq; i0 += AT_BQ) {
    __syncthreads();
    for (int e = threadIdx.x; e < AT_BQ * CMAX; e += blockDim.x) {
      const int i = e / CMAX, c = e % CMAX;
      const bool ok = i0 + i < Nq && c < C;
      const int64_t row = (int64_t)b * Nq + i0 + i;
      Qt[c * QT + i] = ok ? q[row * ldq + (int64_t)h * C + c] : 0.0f;
      dOt[c * QT + i] = ok ? dout[row * ldo + (int64_t)h * C + c] : 0.0f;
    }
    if (threadIdx.x < AT_BQ) {
      const int i = i0 + threadIdx.x;
      const int64_t t = ((int64_t)b * H + h) * Nq + i;
      lse2s[threadIdx.x] = i < Nq ? lse[t] * LOG2E : 0.0f;
      Ds[threadIdx.x] = i < Nq ? Dsum[t] : 0.0f;
    }
    __syncthreads();
    const bool q_ok = i0 + lane < Nq;
    const float my_lse2 = lse2s[lane], my_D = Ds[lane];
#pragma unroll
    for (int g = 0; g < AT_NG; g++) {
      const float *kg = Ks + (warp * AT_QPW + g * AT_G) * CMAX, *vg = Vs + (warp * AT_QPW + g * AT_G) * CMAX;
      float s[AT_G], dp[AT_G];
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) s[gi] = dp[gi] = 0.0f;
#pragma unroll 4
      for (int c = 0; c < C; c++) {
        const float qc = Qt[c * QT + lane], dc = dOt[c * QT + lane];
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) {
          s[gi] += kg[gi * CMAX + c] * qc;
          dp[gi] += vg[gi * CMAX + c] * dc;
        }
      }
      float p[AT_G];
#pragma unroll
      for (int gi = 0; gi < AT_G; gi++) {
        p[gi] = q_ok ? exp2f(s[gi] * qscale - my_lse2) : 0.0f;
        s[gi] = p[gi] * (dp[gi] - my_D);  // dS
      }
#pragma unroll 4
      for (int i = 0; i < AT_BQ; i++) {
        float qi[NC], di[NC];
#pragma unroll
        for (int cc = 0; cc < NC; cc++) {
          qi[cc] = Qt[(lane + 32 * cc) * QT + i];
          di[cc] = dOt[(lane + 32 * cc) * QT + i];
        }
#pragma unroll
        for (int gi = 0; gi < AT_G; gi++) {
          const float pi = __shfl_sync(0xffffffffu, p[gi], i), dsi = __shfl_sync(0xffffffffu, s[gi], i);
#pragma unroll
          for (int cc = 0; cc < NC; cc++) {
            av[g][gi][cc] += pi * di[cc];
            ak[g][gi][cc] += dsi * qi[cc];
          }
        }
      }
    }
  }
#pragma unroll
  for (int g = 0; g < AT_NG; g++)
#pragma unroll
    for (int gi = 0; gi < AT_G; gi++) {
      const int j = k0 + warp * AT_QPW + g * AT_G + gi;
      if (j >= nv) continue;
      const int64_t row = (int64_t)b * Nk + j;
#pragma unroll
      for (int cc = 0; cc < NC; cc++) {
        const int c = lane + 32 * cc;
        if (c >= C) continue;
        if (dk) dk[row * ldk + (int64_t)h * C + c] += scale * ak[g][gi][cc];
        if (dv) dv[row * ldv + (int64_t)h * C + c] += av[g][gi][cc];
      }
    }
}

// ---------------------------------------------------------------- host side
static size_t fwd_smem(int cmax) { return sizeof(float) * (size_t)(AT_BQ * cmax + cmax * (AT_BK + 1) + AT_BK * cmax); }
static size_t dq_smem(int cmax) { return sizeof(float) * (size_t)(2 * AT_BQ * cmax + 2 * cmax * (AT_BK + 1)); }
static size_t dkdv_smem(int cmax) {
  return sizeof(float) * (size_t)(2 * AT_BK * cmax + 2 * cmax * (AT_BQ + 1) + 2 * AT_BQ);
}

// Raises the kernel's dynamic shared-memory limit (above 48 KiB needs asking) and launches.
template <typename Kernel, typename... Args>
static void launch(const GpuCtx *cx, Kernel kernel, dim3 grid, size_t smem, Args... args) {
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  kernel<<<grid, AT_WARPS * 32, smem, stream_of(cx)>>>(args...);
  KERNEL_CHECK();
}

static int cmax_for(int C) {
  TSR_CUDA_ASSERT(C >= 1 && C <= 128, "attention: head dim %d outside [1, 128]", C);
  return C <= 32 ? 32 : (C <= 64 ? 64 : 128);
}

static void check_kvalid_host(int B, int Nk, const int *kvalid) {
  (void)B;
  (void)kvalid;  // device array: the kernels trust 1 <= kvalid[b] <= Nk (the model computes it)
  TSR_CUDA_ASSERT(Nk >= 1, "attention: Nk = %d", Nk);
}

extern "C" void gpu_attention_forward(const GpuCtx *cx, float *out, int ldo, float *lse, const float *q, int ldq,
                                      const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                      int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0) return;
  check_kvalid_host(B, Nk, kvalid);
  const int cmax = cmax_for(C);
  const float qscale = (float)(1.4426950408889634 / sqrt((double)C));
  dim3 grid((Nq + AT_BQ - 1) / AT_BQ, B * H);
  const size_t sm = fwd_smem(cmax);
  if (cmax == 32)
    launch(cx, attn_fwd_kernel<32>, grid, sm, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, Nq, Nk, H, C, qscale);
  else if (cmax == 64)
    launch(cx, attn_fwd_kernel<64>, grid, sm, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, Nq, Nk, H, C, qscale);
  else
    launch(cx, attn_fwd_kernel<128>, grid, sm, out, ldo, lse, q, ldq, k, ldk, v, ldv, kvalid, Nq, Nk, H, C, qscale);
}

extern "C" void gpu_attention_backward(const GpuCtx *cx, float *dq, float *dk, float *dv, const float *dout,
                                       const float *out, int ldo, const float *lse, const float *q, int ldq,
                                       const float *k, int ldk, const float *v, int ldv, const int *kvalid, int B,
                                       int Nq, int Nk, int H, int C) {
  if (B <= 0 || Nq <= 0 || H <= 0 || (!dq && !dk && !dv)) return;
  check_kvalid_host(B, Nk, kvalid);
  const int cmax = cmax_for(C);
  const int64_t nd = (int64_t)B * H * Nq;
  TSR_CUDA_ASSERT((size_t)nd * sizeof(float) <= cx->scratch_bytes, "attention: D of %lld rows exceeds the scratch",
                  (long long)nd);
  float *Dsum = (float *)cx->scratch;
  attn_bwd_dsum_kernel<<<blocks_for(nd, 256), 256, 0, stream_of(cx)>>>(Dsum, dout, out, ldo, Nq, H, C, nd);
  KERNEL_CHECK();
  const float scale = (float)(1.0 / sqrt((double)C)), qscale = (float)(1.4426950408889634 / sqrt((double)C));
  if (dq) {
    dim3 grid((Nq + AT_BQ - 1) / AT_BQ, B * H);
    const size_t sm = dq_smem(cmax);
#define DQ_ARGS dq, dout, ldo, lse, (const float *)Dsum, q, ldq, k, ldk, v, ldv, kvalid, Nq, Nk, H, C, qscale, scale
    if (cmax == 32) launch(cx, attn_bwd_dq_kernel<32>, grid, sm, DQ_ARGS);
    else if (cmax == 64) launch(cx, attn_bwd_dq_kernel<64>, grid, sm, DQ_ARGS);
    else launch(cx, attn_bwd_dq_kernel<128>, grid, sm, DQ_ARGS);
#undef DQ_ARGS
  }
  if (dk || dv) {
    dim3 grid((Nk + AT_BK - 1) / AT_BK, B * H);
    const size_t sm = dkdv_smem(cmax);
#define DKDV_ARGS dk, dv, dout, ldo, lse, (const float *)Dsum, q, ldq, k, ldk, v, ldv, kvalid, Nq, Nk, H, C, qscale, scale
    if (cmax == 32) launch(cx, attn_bwd_dkdv_kernel<32>, grid, sm, DKDV_ARGS);
    else if (cmax == 64) launch(cx, attn_bwd_dkdv_kernel<64>, grid, sm, DKDV_ARGS);
    else launch(cx, attn_bwd_dkdv_kernel<128>, grid, sm, DKDV_ARGS);
#undef DKDV_ARGS
  }
}
