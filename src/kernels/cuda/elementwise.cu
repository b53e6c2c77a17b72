// The elementwise glue of ops.h ("elementwise glue") on device pointers:
// axpy, scale, broadcast add, grouped row sums, strided 2-D copy (fill is in
// context.cu). Each output element is computed by one thread in the CPU
// op's order (sum_groups adds its rows in row order), so nothing depends on
// scheduling; the only difference from the CPU can be the contraction of
// y + alpha*x into one fused multiply-add (the GPU always fuses).
#include "kernels/cuda/common.cuh"

__global__ void axpy_kernel(float *y, float alpha, const float *x, int64_t n) {
  GRID_STRIDE(i, n) y[i] += alpha * x[i];
}
extern "C" void gpu_axpy(const GpuCtx *cx, float *y, float alpha, const float *x, int64_t n) {
  if (n <= 0) return;
  axpy_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(y, alpha, x, n);
  KERNEL_CHECK();
}

__global__ void scale_kernel(float *x, float s, int64_t n) {
  GRID_STRIDE(i, n) x[i] *= s;
}
extern "C" void gpu_scale_f32(const GpuCtx *cx, float *x, float s, int64_t n) {
  if (n <= 0) return;
  scale_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(x, s, n);
  KERNEL_CHECK();
}

// out[r,c] = a[r,c] + b[r/reps, c]; out may be a (each element read then written by one thread)
__global__ void add_broadcast_kernel(float *out, const float *a, const float *b, int64_t R, int reps, int C) {
  GRID_STRIDE(i, R * C) {
    const int64_t r = i / C, c = i % C;
    out[i] = a[i] + b[(r / reps) * C + c];
  }
}
extern "C" void gpu_add_broadcast(const GpuCtx *cx, float *out, const float *a, const float *b, int R, int reps,
                                  int C) {
  if (R <= 0 || C <= 0) return;
  TSR_CUDA_ASSERT(reps >= 1, "add_broadcast: reps %d", reps);
  add_broadcast_kernel<<<blocks_for((int64_t)R * C, 256), 256, 0, stream_of(cx)>>>(out, a, b, R, reps, C);
  KERNEL_CHECK();
}

// out[g,c] = in[g*reps,c] + in[g*reps+1,c] + ... in row order (the CPU's order: bit-identical)
__global__ void sum_groups_kernel(float *out, const float *in, int64_t G, int reps, int C) {
  GRID_STRIDE(i, G * C) {
    const int64_t g = i / C, c = i % C;
    const float *col = in + g * reps * C + c;
    float s = col[0];
    for (int j = 1; j < reps; j++) s += col[(int64_t)j * C];
    out[i] = s;
  }
}
extern "C" void gpu_sum_groups(const GpuCtx *cx, float *out, const float *in, int G, int reps, int C) {
  if (G <= 0 || C <= 0) return;
  TSR_CUDA_ASSERT(reps >= 1, "sum_groups: reps %d", reps);
  sum_groups_kernel<<<blocks_for((int64_t)G * C, 256), 256, 0, stream_of(cx)>>>(out, in, G, reps, C);
  KERNEL_CHECK();
}

extern "C" void gpu_copy2d(const GpuCtx *cx, float *dst, int ld_dst, const float *src, int ld_src, int rows,
                           int cols) {
  if (rows <= 0 || cols <= 0) return;
  CUDA_CHECK(cudaMemcpy2DAsync(dst, (size_t)ld_dst * sizeof(float), src, (size_t)ld_src * sizeof(float),
                               (size_t)cols * sizeof(float), (size_t)rows, cudaMemcpyDeviceToDevice, stream_of(cx)));
}
