// Ring attention's merge (ops.h attention_merge) on device pointers: one
// thread per output element reads both lse values (weights in double, as the
// CPU op), then a second kernel updates lse, so no thread reads an lse another
// has already rewritten.
#include "kernels/cuda/common.cuh"

__global__ void merge_out_kernel(float *out, int ldo, const float *lse, const float *blk, int ldb,
                                 const float *blk_lse, int N, int H, int C, int64_t total) {
  GRID_STRIDE(i, total) {
    const int c = (int)(i % C), h = (int)(i / C % H);
    const int64_t r = i / ((int64_t)C * H), b = r / N, n = r % N, li = (b * H + h) * N + n;
    const double l1 = lse[li], l2 = blk_lse[li], m = l1 > l2 ? l1 : l2;
    const double w1 = exp(l1 - m), w2 = exp(l2 - m), s = w1 + w2;
    float *o = out + r * ldo + (int64_t)h * C + c;
    *o = (float)(w1 / s) * *o + (float)(w2 / s) * blk[r * ldb + (int64_t)h * C + c];
  }
}

__global__ void merge_lse_kernel(float *lse, const float *blk_lse, int64_t n) {
  GRID_STRIDE(i, n) {
    const double l1 = lse[i], l2 = blk_lse[i], m = l1 > l2 ? l1 : l2;
    lse[i] = (float)(m + log(exp(l1 - m) + exp(l2 - m)));
  }
}

extern "C" void gpu_attention_merge(const GpuCtx *cx, float *out, int ldo, float *lse, const float *blk, int ldb,
                                    const float *blk_lse, int B, int N, int H, int C) {
  const int64_t total = (int64_t)B * N * H * C, nl = (int64_t)B * H * N;
  if (total <= 0) return;
  merge_out_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(out, ldo, lse, blk, ldb, blk_lse, N, H, C,
                                                                      total);
  KERNEL_CHECK();
  merge_lse_kernel<<<blocks_for(nl, 256), 256, 0, stream_of(cx)>>>(lse, blk_lse, nl);
  KERNEL_CHECK();
}
