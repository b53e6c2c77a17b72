// 3D rotary position embedding (kernels/cpu/rope.c) on the GPU. Head dim C
// split (rope[0], rope[1], rope[2]) for the (t,h,w) coordinates of token
// n0+n: t = n/(gh·gw), h = (n/gw) mod gh, w = n mod gw. Pair i of axis a
// rotates by pos_a·10000^(−2i/rope[a]): (x0,x1) -> (x0 c − x1 s, x0 s + x1 c).
// The table is computed in double on the device and rounded once, like
// rope3d_table; backward applies the inverse rotation.
#include "kernels/cuda/common.cuh"

// cos_tab, sin_tab [N, half]
__global__ void rope_table_kernel(float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw, int r0, int r1,
                                  int r2) {
  const int half = (r0 + r1 + r2) / 2;
  GRID_STRIDE(i, (int64_t)N * half) {
    const int n = (int)(i / half), p = (int)(i % half), g = n0 + n;
    int a = 0, j = p;
    const int h0 = r0 / 2, h1 = r1 / 2;
    if (j >= h0) { j -= h0; a = 1; if (j >= h1) { j -= h1; a = 2; } }
    const int ra = a == 0 ? r0 : (a == 1 ? r1 : r2);
    const int pos = a == 0 ? g / (gh * gw) : (a == 1 ? (g / gw) % gh : g % gw);
    const double ang = (double)pos * pow(10000.0, -2.0 * j / (double)ra);
    cos_tab[i] = (float)cos(ang);
    sin_tab[i] = (float)sin(ang);
  }
}

// x[B,N,H,C] rows at stride ld; one thread per (row, head, pair); dir ±1
__global__ void rope_rotate_kernel(float *x, int ld, const float *cos_tab, const float *sin_tab, int N, int H,
                                   int C, float dir, int64_t total) {
  const int half = C / 2;
  GRID_STRIDE(i, total) {
    const int p = (int)(i % half);
    const int64_t rh = i / half, h = rh % H, r = rh / H, n = r % N;
    float *xp = x + r * ld + h * C + 2 * p;
    const float c = cos_tab[n * half + p], s = dir * sin_tab[n * half + p];
    const float x0 = xp[0], x1 = xp[1];
    xp[0] = x0 * c - x1 * s;
    xp[1] = x0 * s + x1 * c;
  }
}

extern "C" void gpu_rope3d_table(const GpuCtx *cx, float *cos_tab, float *sin_tab, int n0, int N, int gh, int gw,
                                 const int rope[3]) {
  for (int a = 0; a < 3; a++)
    TSR_CUDA_ASSERT(rope[a] >= 0 && rope[a] % 2 == 0, "rope3d: rope[%d] = %d must be even and >= 0", a, rope[a]);
  const int64_t total = (int64_t)N * ((rope[0] + rope[1] + rope[2]) / 2);
  if (total <= 0) return;
  rope_table_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(cos_tab, sin_tab, n0, N, gh, gw, rope[0],
                                                                       rope[1], rope[2]);
  KERNEL_CHECK();
}

static void rotate(const GpuCtx *cx, float *x, int ld, const float *cos_tab, const float *sin_tab, int B, int N,
                   int H, int C, float dir) {
  const int64_t total = (int64_t)B * N * H * (C / 2);
  if (total <= 0) return;
  rope_rotate_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(x, ld, cos_tab, sin_tab, N, H, C, dir,
                                                                        total);
  KERNEL_CHECK();
}

extern "C" void gpu_rope3d_forward(const GpuCtx *cx, float *x, int ld, const float *cos_tab, const float *sin_tab,
                                   int B, int N, int H, int C) {
  rotate(cx, x, ld, cos_tab, sin_tab, B, N, H, C, 1.0f);
}

extern "C" void gpu_rope3d_backward(const GpuCtx *cx, float *dx, int ld, const float *cos_tab,
                                    const float *sin_tab, int B, int N, int H, int C) {
  rotate(cx, dx, ld, cos_tab, sin_tab, B, N, H, C, -1.0f);
}
