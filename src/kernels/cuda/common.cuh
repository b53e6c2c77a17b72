// Shared by the CUDA kernels: error checks, launch helpers, warp reductions,
// and the deterministic (segmented) column reduction behind every dw / db /
// dshift / dscale / dgate.
#pragma once
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

#include "kernels/cuda_ops.h"

// core/error.h is C (it uses _Noreturn); the one function we need, declared
// for C++. It prints "tessera[rank R] file:line: LIB: message" and aborts
// every rank.
extern "C" [[noreturn]] void tsr_fatal(const char *file, int line, const char *lib, const char *fmt, ...);

#define CUDA_CHECK(call)                                                                                   \
  do {                                                                                                     \
    cudaError_t e_ = (call);                                                                               \
    if (e_ != cudaSuccess)                                                                                 \
      tsr_fatal(__FILE__, __LINE__, "CUDA", "%s: %s (%s)", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
  } while (0)

#define CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      tsr_fatal(__FILE__, __LINE__, "cuBLAS", "%s: %s (status %d)", #call, cublasGetStatusString(s_), (int)s_); \
  } while (0)

// After every launch (needs `cx` in scope): a bad launch configuration is
// reported where it happened; with cx->debug_sync also a fault in the kernel.
void kernel_check(const GpuCtx *cx, const char *file, int line);
#define KERNEL_CHECK() kernel_check(cx, __FILE__, __LINE__)

#define TSR_CUDA_ASSERT(cond, ...) \
  do { if (!(cond)) tsr_fatal(__FILE__, __LINE__, "assert", __VA_ARGS__); } while (0)

// Grow-only device buffers of the context, one per slot, reused by every call
// (the stream orders the uses). Growing one synchronises the stream first:
// a queued kernel may still read the old buffer. Freed by gpu_shutdown.
enum GpuBufferSlot {
  BUF_GEMM_A, BUF_GEMM_B, BUF_GEMM_C,           // gpu_gemm, gpu_linear_*: bf16 copies of the operands
  BUF_ATT_Q, BUF_ATT_K, BUF_ATT_V, BUF_ATT_DO,  // attention_gemm: packed bf16 q, k, v, dout
  BUF_ATT_S, BUF_ATT_P, BUF_ATT_D,              // scores / dP (fp32), P / dS (bf16), rowsum(dO·O)
  GPU_BUFFER_SLOTS
};
void *gpu_buffer(const GpuCtx *cx, int slot, size_t bytes);

// The row-major strided-batched GEMM of gemm.cu (C_i = alpha op(A_i) op(B_i) +
// beta C_i, i < batch, A_i = A + i*sA elements): bf16 A and B, C float or
// bf16 (c_bf16), fp32 accumulation.
void gemm_batched_bf16(const GpuCtx *cx, int ta, int tb, int M, int N, int K, float alpha, const void *A, int lda,
                       long long sA, const void *B, int ldb, long long sB, float beta, void *C, int c_bf16, int ldc,
                       long long sC, int batch);
// q, k, v (and dout unless NULL) rounded to bf16 into the context's packed
// buffers [B*N, HC] (attention_gemm.cu; every bf16 attention kernel reads these).
struct AttnBf16 {
  __nv_bfloat16 *q, *k, *v, *dout;
};
AttnBf16 attention_round(const GpuCtx *cx, const float *q, int ldq, const float *k, int ldk, const float *v, int ldv,
                         const float *dout, int ldo, int B, int Nq, int Nk, int HC);
// D[b,h,i] = sum_c dout[b,i,h,c] out[b,i,h,c] (attention backward; attention_gemm.cu).
void attention_rowdot(const GpuCtx *cx, float *D, const float *dout, const float *out, int ldo, int B, int Nq, int H,
                      int C);
// out[rows, cols] (bf16, packed: ld cols) = round(in[r*ld + c]).
void f32_to_bf16_2d(const GpuCtx *cx, void *out, const float *in, int64_t rows, int cols, int64_t ld);

static inline cudaStream_t stream_of(const GpuCtx *cx) { return (cudaStream_t)cx->stream; }

static inline unsigned blocks_for(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return (unsigned)(b < 1 ? 1 : (b > 65535LL * 16 ? 65535LL * 16 : b));  // grid-stride loops cover the rest
}

#define GRID_STRIDE(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Variant of token (b, n): 0 (timestep t) or 1 (clean t=0), as ops.h.
__device__ __forceinline__ int variant_of(const uint8_t *sel, int64_t token) {
  return sel ? (sel[token] != 0) : 0;
}

// Attention tiles: element c of key `key` of head h in sample b, from K and V
// rows of stride ldk / ldv; zero past the valid keys (nv) or the head dim C.
__device__ __forceinline__ void kv_tile_elem(const float *k, int ldk, const float *v, int ldv, int64_t b, int Nk,
                                             int64_t h, int C, int nv, int key, int c, float *kv, float *vv) {
  *kv = *vv = 0.0f;
  if (key < nv && c < C) {
    const int64_t row = b * Nk + key;
    *kv = k[row * ldk + h * C + c];
    *vv = v[row * ldv + h * C + c];
  }
}

// ---------------------------------------------------------------- column reduction
// Sums Q quantities per (segment, variant, column) over the rows of each
// segment: rows r = seg*rows_per_seg + i, i < rows_per_seg; a row's variant is
// variant_of(sel, r) (sel NULL: 0). The functor F provides
//   __device__ void load(int64_t r, int c, double q[Q]) const;
//   __device__ void store(int seg, int v, int c, const double q[Q]) const;   (adds once)
// store is called only for variants some row of the segment used. Two
// passes: per (segment, row chunk) partials in double into scratch, then a
// sum over the chunks in chunk order. Deterministic, no atomics on data.
enum { CR_TX = 32, CR_TY = 8 };

template <class F, int Q>
__global__ void colreduce_partial(F f, const uint8_t *sel, int rows_per_seg, int ncols, int nchunk,
                                  double *part, int *used) {
  const int c = blockIdx.x * CR_TX + threadIdx.x, ch = blockIdx.y, seg = blockIdx.z;
  const int64_t r0 = (int64_t)rows_per_seg * ch / nchunk, r1 = (int64_t)rows_per_seg * (ch + 1) / nchunk;
  double a0[Q], a1[Q];
#pragma unroll
  for (int q = 0; q < Q; q++) a0[q] = a1[q] = 0.0;
  int u0 = 0, u1 = 0;
  for (int64_t i = r0 + threadIdx.y; i < r1; i += CR_TY) {
    const int64_t r = (int64_t)seg * rows_per_seg + i;
    const int v = variant_of(sel, r);
    if (v) u1 = 1; else u0 = 1;
    if (c < ncols) {
      double val[Q];
      f.load(r, c, val);
#pragma unroll
      for (int q = 0; q < Q; q++) {
        if (v) a1[q] += val[q]; else a0[q] += val[q];
      }
    }
  }
  __shared__ double sm[CR_TY][2][Q][CR_TX];
  __shared__ int su[2];
  if (threadIdx.x == 0 && threadIdx.y == 0) su[0] = su[1] = 0;
  __syncthreads();
#pragma unroll
  for (int q = 0; q < Q; q++) {
    sm[threadIdx.y][0][q][threadIdx.x] = a0[q];
    sm[threadIdx.y][1][q][threadIdx.x] = a1[q];
  }
  if (u0) atomicOr(&su[0], 1);  // a flag, not data: any order gives the same bit
  if (u1) atomicOr(&su[1], 1);
  __syncthreads();
  const int64_t base = ((int64_t)seg * nchunk + ch) * 2;
  if (threadIdx.y < 2 * Q) {  // one row of threads per (variant, quantity): fixed-order sum over ty
    const int v = threadIdx.y / Q, q = threadIdx.y % Q;
    double s = 0.0;
    for (int t = 0; t < CR_TY; t++) s += sm[t][v][q][threadIdx.x];
    if (c < ncols) part[((base + v) * Q + q) * ncols + c] = s;
  }
  if (threadIdx.x == 0 && threadIdx.y == 0) {
    used[base] = su[0];
    used[base + 1] = su[1];
  }
}

template <class F, int Q>
__global__ void colreduce_final(F f, int ncols, int nchunk, const double *part, const int *used) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x, seg = blockIdx.y / 2, v = blockIdx.y % 2;
  if (c >= ncols) return;
  int any = 0;
  double s[Q];
#pragma unroll
  for (int q = 0; q < Q; q++) s[q] = 0.0;
  for (int ch = 0; ch < nchunk; ch++) {
    const int64_t pv = ((int64_t)seg * nchunk + ch) * 2 + v;
    if (!used[pv]) continue;
    any = 1;
#pragma unroll
    for (int q = 0; q < Q; q++) s[q] += part[(pv * Q + q) * ncols + c];
  }
  if (any) f.store(seg, v, c, s);
}

// Host side: chooses the chunk count from the rows and the scratch size.
template <class F, int Q>
void colreduce(const GpuCtx *cx, const F &f, const uint8_t *sel, int nseg, int rows_per_seg, int ncols) {
  if (nseg <= 0 || rows_per_seg <= 0 || ncols <= 0) return;
  const size_t per_chunk = (size_t)nseg * 2 * ((size_t)Q * ncols * sizeof(double) + sizeof(int));
  int64_t nchunk = (rows_per_seg + 255) / 256;  // ~256 rows per block: enough blocks, short final pass
  if (nchunk > 256) nchunk = 256;
  const int64_t fit = (int64_t)(cx->scratch_bytes / per_chunk);
  TSR_CUDA_ASSERT(fit >= 1, "colreduce: %d segments x %d columns do not fit the %zu-byte scratch", nseg, ncols,
                  cx->scratch_bytes);
  if (nchunk > fit) nchunk = fit;
  if (nchunk > 65535) nchunk = 65535;
  double *part = (double *)cx->scratch;
  int *used = (int *)(part + (size_t)nseg * nchunk * 2 * Q * ncols);
  TSR_CUDA_ASSERT(nseg <= 65535, "colreduce: %d segments > 65535", nseg);
  dim3 grid((ncols + CR_TX - 1) / CR_TX, (unsigned)nchunk, nseg), block(CR_TX, CR_TY);
  colreduce_partial<F, Q><<<grid, block, 0, stream_of(cx)>>>(f, sel, rows_per_seg, ncols, (int)nchunk, part, used);
  KERNEL_CHECK();
  dim3 grid2((ncols + 255) / 256, nseg * 2);
  colreduce_final<F, Q><<<grid2, 256, 0, stream_of(cx)>>>(f, ncols, (int)nchunk, part, used);
  KERNEL_CHECK();
}
