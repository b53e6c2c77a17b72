// fp32 <-> bf16. bf16 keeps the upper 16 bits of a float32; the conversion
// from float rounds to nearest even (__float2bfloat16_rn), NaN stays NaN.
#include "kernels/cuda/common.cuh"

// out[n] (bf16) = round(in[n])
__global__ void f32_to_bf16_kernel(__nv_bfloat16 *out, const float *in, int64_t n) {
  GRID_STRIDE(i, n) out[i] = __float2bfloat16_rn(in[i]);
}
// out[n] (f32) = in[n]
__global__ void bf16_to_f32_kernel(float *out, const __nv_bfloat16 *in, int64_t n) {
  GRID_STRIDE(i, n) out[i] = __bfloat162float(in[i]);
}

extern "C" void gpu_f32_to_bf16(const GpuCtx *cx, bf16_t *out, const float *in, int64_t n) {
  if (n <= 0) return;
  f32_to_bf16_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>((__nv_bfloat16 *)out, in, n);
  KERNEL_CHECK();
}

extern "C" void gpu_bf16_to_f32(const GpuCtx *cx, float *out, const bf16_t *in, int64_t n) {
  if (n <= 0) return;
  bf16_to_f32_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(out, (const __nv_bfloat16 *)in, n);
  KERNEL_CHECK();
}

// out[r*cols + c] (bf16) = round(in[r*ld + c]), r < rows, c < cols
__global__ void f32_to_bf16_2d_kernel(__nv_bfloat16 *out, const float *in, int64_t rows, int cols, int64_t ld) {
  GRID_STRIDE(i, rows * cols) {
    const int64_t r = i / cols, c = i - r * cols;
    out[i] = __float2bfloat16_rn(in[r * ld + c]);
  }
}

void f32_to_bf16_2d(const GpuCtx *cx, void *out, const float *in, int64_t rows, int cols, int64_t ld) {
  if (rows <= 0 || cols <= 0) return;
  if (ld == cols) {
    gpu_f32_to_bf16(cx, (bf16_t *)out, in, rows * cols);
    return;
  }
  f32_to_bf16_2d_kernel<<<blocks_for(rows * cols, 256), 256, 0, stream_of(cx)>>>((__nv_bfloat16 *)out, in, rows,
                                                                                  cols, ld);
  KERNEL_CHECK();
}
