// AdamW on fp32 master weights, the update of kernels/cpu/adamw.c:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²
//   p -= lr·((m·ib1) / (sqrt(v·ib2) + eps) + wd·p),  ib = 1/(1 − b^step) in double, once per call
// optionally writing the bf16 copy of p used by the bf16 GEMMs.
#include <math.h>

#include "kernels/cuda/common.cuh"

__global__ void adamw_kernel(float *p, __nv_bfloat16 *p16, const float *g, float *m, float *v, int64_t n, float lr,
                             float b1, float b2, float c1, float c2, float ib1, float ib2, float eps, float wd) {
  GRID_STRIDE(i, n) {
    const float gi = g[i];
    const float mi = b1 * m[i] + c1 * gi;
    const float vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float pi = p[i] - lr * ((mi * ib1) / (sqrtf(vi * ib2) + eps) + wd * p[i]);
    p[i] = pi;
    if (p16) p16[i] = __float2bfloat16_rn(pi);
  }
}

extern "C" void gpu_adamw_update_bf16(const GpuCtx *cx, float *p, bf16_t *p_bf16, const float *g, float *m, float *v,
                                      int64_t n, float lr, float beta1, float beta2, float eps, float wd, int step) {
  if (n <= 0) return;
  const float ib1 = (float)(1.0 / (1.0 - pow((double)beta1, step)));
  const float ib2 = (float)(1.0 / (1.0 - pow((double)beta2, step)));
  adamw_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(p, (__nv_bfloat16 *)p_bf16, g, m, v, n, lr, beta1,
                                                              beta2, 1.0f - beta1, 1.0f - beta2, ib1, ib2, eps, wd);
  KERNEL_CHECK();
}

extern "C" void gpu_adamw_update(const GpuCtx *cx, float *p, const float *g, float *m, float *v, int64_t n, float lr,
                                 float beta1, float beta2, float eps, float wd, int step) {
  gpu_adamw_update_bf16(cx, p, NULL, g, m, v, n, lr, beta1, beta2, eps, wd, step);
}
