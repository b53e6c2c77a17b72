// Spacetime patches (kernels/cpu/patch.c): video[B,T,H,W,C] <-> patches[B,N,P],
// tokens (t,h,w) row-major, patch vector (pt,ph,pw,C) row-major. One thread
// per patch element; consecutive threads walk the C-contiguous runs.
#include "kernels/cuda/common.cuh"

// Index in video of patch element i = ((b*N + n)*P + e).
__device__ __forceinline__ int64_t video_index(int64_t i, int T, int H, int W, int C, int pt, int ph, int pw) {
  const int gh = H / ph, gw = W / pw;
  const int64_t P = (int64_t)pt * ph * pw * C, N = (int64_t)(T / pt) * gh * gw;
  const int64_t e = i % P, bn = i / P, n = bn % N, b = bn / N;
  const int c = (int)(e % C), x = (int)(e / C % pw), y = (int)(e / ((int64_t)C * pw) % ph),
            a = (int)(e / ((int64_t)C * pw * ph));
  const int64_t it = n / ((int64_t)gh * gw), ih = n / gw % gh, iw = n % gw;
  const int64_t t = it * pt + a, yy = ih * ph + y, xx = iw * pw + x;
  return (((b * T + t) * H + yy) * W + xx) * C + c;
}

__global__ void patchify_kernel(float *patches, const float *video, int T, int H, int W, int C, int pt, int ph,
                                int pw, int64_t total) {
  GRID_STRIDE(i, total) patches[i] = video[video_index(i, T, H, W, C, pt, ph, pw)];
}
__global__ void unpatchify_kernel(float *video, const float *patches, int T, int H, int W, int C, int pt, int ph,
                                  int pw, int64_t total) {
  GRID_STRIDE(i, total) video[video_index(i, T, H, W, C, pt, ph, pw)] = patches[i];
}

static int64_t checked_total(int B, int T, int H, int W, int C, int pt, int ph, int pw) {
  TSR_CUDA_ASSERT(pt >= 1 && ph >= 1 && pw >= 1 && T % pt == 0 && H % ph == 0 && W % pw == 0,
                  "patch: video %dx%dx%d not divisible by patch %dx%dx%d", T, H, W, pt, ph, pw);
  return (int64_t)B * T * H * W * C;
}

extern "C" void gpu_patchify(const GpuCtx *cx, float *patches, const float *video, int B, int T, int H, int W, int C,
                             int pt, int ph, int pw) {
  const int64_t total = checked_total(B, T, H, W, C, pt, ph, pw);
  if (total <= 0) return;
  patchify_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(patches, video, T, H, W, C, pt, ph, pw, total);
  KERNEL_CHECK();
}

extern "C" void gpu_unpatchify(const GpuCtx *cx, float *video, const float *patches, int B, int T, int H, int W,
                               int C, int pt, int ph, int pw) {
  const int64_t total = checked_total(B, T, H, W, C, pt, ph, pw);
  if (total <= 0) return;
  unpatchify_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(video, patches, T, H, W, C, pt, ph, pw,
                                                                       total);
  KERNEL_CHECK();
}
