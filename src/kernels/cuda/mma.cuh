// The tensor-core building blocks of the flash attention kernels
// (attention_mma.cu, attention_mma_bwd.cu): mma.sync m16n8k16 with bf16
// operands and fp32 accumulators, fragments from registers, shared memory
// (32-bit loads, ldmatrix.trans) and packed bf16 tensors in global memory.
// m16n8k16 fragments (g = lane / 4, t = lane % 4): A a0 (g, 2t..2t+1), a1 (g+8, ..),
// a2 (g, 2t+8..), a3 (g+8, 2t+8..); B b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g);
// C c0,c1 (g, 2t..2t+1), c2,c3 (g+8, ..). The C layout of two adjacent
// n-blocks is the A layout of one 16-wide k-chunk: an accumulator tile
// becomes the next product's A operand in registers (pack_bf16x2).
// Shared tiles are [64 rows][CP + 8] bf16 (CP = head dim padded to 16): the
// padding makes the 32-bit fragment loads and ldmatrix conflict-free.
#pragma once
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ void mma_16816(float d[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {  // lo in the low half
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *(uint32_t *)&v;
}
__device__ __forceinline__ uint32_t ld32(const __nv_bfloat16 *p) { return *(const uint32_t *)p; }
// Four 8x8 bf16 matrices from shared memory, transposed: lane T gives the
// address of row T % 8 of matrix T / 8 and receives, of matrix i, the elements
// (rows 2(T%4), 2(T%4)+1; column T/4): for M = a row-major [k][n] tile, the B
// fragment b0 (matrix of k 0..7) or b1 (k 8..15) of m16n8k16.
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const __nv_bfloat16 *p) {
  const unsigned a = (unsigned)__cvta_generic_to_shared(p);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}
// acc[nb], acc[nb+1] += A (16 rows x 16 k) x T[k0..k0+15][8nb .. 8nb+15], T a
// row-major shared tile of row stride ts (the B operand without a transposed copy)
__device__ __forceinline__ void mma_pair_trans(float acc0[4], float acc1[4], const uint32_t a[4],
                                               const __nv_bfloat16 *T, int ts, int k0, int nb, int lane) {
  const int m = lane >> 3, r = lane & 7;
  uint32_t bb[4];
  ldsm_x4_trans(bb, T + (k0 + (m & 1) * 8 + r) * ts + (nb + (m >> 1)) * 8);
  mma_16816(acc0, a, bb[0], bb[1]);
  mma_16816(acc1, a, bb[2], bb[3]);
}
// cp.async: 16 (or 4) bytes global -> shared without passing through
// registers, zero-filled when !in (nothing is read then); a group of copies
// is committed, and cp_async_wait<N> waits until at most N groups are in flight.
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool in) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(in ? 16 : 0));
}
__device__ __forceinline__ void cp_async4(void *dst, const void *src, bool in) {
  const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(in ? 4 : 0));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Queues the copy of rows [row0, row0 + 64) of a packed bf16 [*, HC] tensor's
// head slice (h*C .. h*C + C) into a [64][S] shared tile, zero past `valid`
// rows and past C (C % 8 == 0: a 16-byte vector is wholly inside or outside).
template <int CP, int S>
__device__ __forceinline__ void load_tile_async(__nv_bfloat16 *T, const __nv_bfloat16 *x, int64_t base_row, int row0,
                                                int valid, int HC, int h, int C) {
  for (int e = threadIdx.x; e < 64 * (CP / 8); e += blockDim.x) {
    const int j = e / (CP / 8), c = (e % (CP / 8)) * 8;
    const bool in = row0 + j < valid && c < C;
    cp_async16(T + j * S + c, in ? x + (base_row + row0 + j) * HC + (int64_t)h * C + c : x, in);
  }
}

// Queues stage `stage` of a two-tensor pipeline (shared [stage][x, y][64][S]):
// rows [row0, row0 + 64) of x and of y, as load_tile_async.
template <int CP, int S>
__device__ __forceinline__ void load_pair_async(__nv_bfloat16 *sm, int stage, const __nv_bfloat16 *x,
                                                const __nv_bfloat16 *y, int64_t base_row, int row0, int valid, int HC,
                                                int h, int C) {
  load_tile_async<CP, S>(sm + (2 * stage) * 64 * S, x, base_row, row0, valid, HC, h, C);
  load_tile_async<CP, S>(sm + (2 * stage + 1) * 64 * S, y, base_row, row0, valid, HC, h, C);
}

// The kernels' loops over 64-row tiles are two-stage pipelines: the copies of
// tile it+1 are in flight while tile it is computed on. fill(stage, tile)
// queues a tile's copies into a stage and commits them; fill(0, 0) comes
// before the loop; at the top of iteration it, pipeline_advance queues tile
// it+1 and waits for tile it (stage it & 1), then a barrier; a barrier at the
// bottom keeps a stage from being refilled while a warp still reads it.
template <class Fill>
__device__ __forceinline__ void pipeline_advance(int it, int ntiles, Fill &fill) {
  if (it + 1 < ntiles) {
    fill((it + 1) & 1, it + 1);
    cp_async_wait<1>();
  } else {
    cp_async_wait<0>();
  }
  __syncthreads();  // tile it is in shared memory for every warp
}

// Dynamic shared memory of `bytes`; above the default 48 KiB the kernel must be allowed it.
template <class K>
static void allow_smem(K kernel, size_t bytes) {
  if (bytes > 48 * 1024) CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

// A fragments (16 rows x CK*16 columns) of rows r0 = 16-row base + g and r0 + 8
// of a packed bf16 [*, HC] tensor's head slice, zero past `valid` rows and C.
template <int CK>
__device__ __forceinline__ void load_a_frags(uint32_t a[CK][4], const __nv_bfloat16 *x, int64_t base_row, int r0,
                                             int valid, int HC, int h, int C) {
  const int t = threadIdx.x & 3, r1 = r0 + 8;
  const __nv_bfloat16 *x0 = x + (base_row + r0) * HC + (int64_t)h * C, *x1 = x0 + (int64_t)8 * HC;
#pragma unroll
  for (int kc = 0; kc < CK; kc++) {
    const int c = kc * 16 + 2 * t;
    a[kc][0] = r0 < valid && c < C ? ld32(x0 + c) : 0u;
    a[kc][1] = r1 < valid && c < C ? ld32(x1 + c) : 0u;
    a[kc][2] = r0 < valid && c + 8 < C ? ld32(x0 + c + 8) : 0u;
    a[kc][3] = r1 < valid && c + 8 < C ? ld32(x1 + c + 8) : 0u;
  }
}

// acc[nb][..] = A (16 rows x CK*16) x T^T for the 64 rows of a shared tile T
// [64][S] (n = T's row, k = its column): the 16 x 64 scores of a warp.
template <int CK, int S>
__device__ __forceinline__ void mma_rows_by_tile(float acc[8][4], const uint32_t a[CK][4], const __nv_bfloat16 *T) {
  const int g = (threadIdx.x & 31) >> 2, t = threadIdx.x & 3;
#pragma unroll
  for (int nb = 0; nb < 8; nb++) {
    acc[nb][0] = acc[nb][1] = acc[nb][2] = acc[nb][3] = 0.0f;
    const __nv_bfloat16 *tr = T + (nb * 8 + g) * S + 2 * t;
#pragma unroll
    for (int kc = 0; kc < CK; kc++) mma_16816(acc[nb], a[kc], ld32(tr + kc * 16), ld32(tr + kc * 16 + 8));
  }
}

// acc[0..2CK) += X (16 rows x 64, accumulator layout in x[8][4], rounded to
// bf16) x T[64][CP] (a row-major shared tile): P V, dS K, P^T dO, dS^T Q.
template <int CK, int S>
__device__ __forceinline__ void mma_acc_by_tile(float acc[2 * CK][4], const float x[8][4], const __nv_bfloat16 *T) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int kc = 0; kc < 4; kc++) {
    const uint32_t pa[4] = {pack_bf16x2(x[2 * kc][0], x[2 * kc][1]), pack_bf16x2(x[2 * kc][2], x[2 * kc][3]),
                            pack_bf16x2(x[2 * kc + 1][0], x[2 * kc + 1][1]),
                            pack_bf16x2(x[2 * kc + 1][2], x[2 * kc + 1][3])};
#pragma unroll
    for (int nb = 0; nb < 2 * CK; nb += 2) mma_pair_trans(acc[nb], acc[nb + 1], pa, T, S, kc * 16, nb, lane);
  }
}

// Rows r0 and r0 + 8 (< valid) of y[(base_row + r)*ld + h*C + c], c < C, from
// the accumulator tile acc (16 rows x 2CK*8): y = acc * mul (add 0) or
// y += acc * mul (add 1), mul0 / mul1 the rows' factors. One writer per element.
template <int CK>
__device__ __forceinline__ void store_rows(float *y, int ld, int64_t base_row, int r0, int valid, int h, int C,
                                           const float acc[2 * CK][4], float mul0, float mul1, int add) {
  const int t = threadIdx.x & 3, r1 = r0 + 8;
  float *y0 = y + (base_row + r0) * ld + (int64_t)h * C, *y1 = y + (base_row + r1) * ld + (int64_t)h * C;
#pragma unroll
  for (int nb = 0; nb < 2 * CK; nb++) {
    const int c = nb * 8 + 2 * t;
    if (c >= C) continue;  // C % 8 == 0: c + 1 < C too
    if (r0 < valid) {
      y0[c] = (add ? y0[c] : 0.0f) + acc[nb][0] * mul0;
      y0[c + 1] = (add ? y0[c + 1] : 0.0f) + acc[nb][1] * mul0;
    }
    if (r1 < valid) {
      y1[c] = (add ? y1[c] : 0.0f) + acc[nb][2] * mul1;
      y1[c + 1] = (add ? y1[c + 1] : 0.0f) + acc[nb][3] * mul1;
    }
  }
}
