// adaLN modulate and gated residual (kernels/cpu/modulate.c) on the GPU.
// Token (b,n) uses variant v = sel[b*N+n] != 0 (sel NULL: 0) whose D-vector
// starts at shift/scale/gate + (b*2+v)*mod_stride. Elementwise kernels for
// out/x/din/dy; the per-(b,v) sums through colreduce, which leaves a variant
// no token uses untouched (as the CPU op).
#include "kernels/cuda/common.cuh"

__device__ __forceinline__ int64_t mod_offset(const uint8_t *sel, int64_t token, int N, int mod_stride) {
  return ((token / N) * 2 + variant_of(sel, token)) * (int64_t)mod_stride;
}

// out[B,N,D] = in·(1+scale)+shift
__global__ void modulate_fwd_kernel(float *out, const float *in, const float *shift, const float *scale,
                                    const uint8_t *sel, int mod_stride, int N, int D, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t tok = i / D, o = mod_offset(sel, tok, N, mod_stride) + i % D;
    out[i] = in[i] * (1.0f + scale[o]) + shift[o];
  }
}
// din += dout·(1+scale)
__global__ void modulate_bwd_din_kernel(float *din, const float *dout, const float *scale, const uint8_t *sel,
                                        int mod_stride, int N, int D, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t tok = i / D, o = mod_offset(sel, tok, N, mod_stride) + i % D;
    din[i] += dout[i] * (1.0f + scale[o]);
  }
}
// x += gate·y  (gate NULL: x += y)
__global__ void gate_fwd_kernel(float *x, const float *y, const float *gate, const uint8_t *sel, int mod_stride,
                                int N, int D, int64_t total) {
  GRID_STRIDE(i, total) {
    if (gate) {
      const int64_t tok = i / D, o = mod_offset(sel, tok, N, mod_stride) + i % D;
      x[i] += gate[o] * y[i];
    } else {
      x[i] += y[i];
    }
  }
}
// dy += dx·gate  (gate NULL: dy += dx)
__global__ void gate_bwd_dy_kernel(float *dy, const float *dx, const float *gate, const uint8_t *sel,
                                   int mod_stride, int N, int D, int64_t total) {
  GRID_STRIDE(i, total) {
    if (gate) {
      const int64_t tok = i / D, o = mod_offset(sel, tok, N, mod_stride) + i % D;
      dy[i] += dx[i] * gate[o];
    } else {
      dy[i] += dx[i];
    }
  }
}

// dshift += Σ dout; dscale += Σ dout·in, per (b, variant)
struct ModulateGrad {
  const float *dout, *in;
  float *dshift, *dscale;
  int mod_stride, D;
  __device__ void load(int64_t r, int c, double q[2]) const {
    const float dy = dout[r * D + c];
    q[0] = dy;
    q[1] = (double)dy * in[r * D + c];
  }
  __device__ void store(int b, int v, int c, const double q[2]) const {
    const int64_t o = ((int64_t)b * 2 + v) * mod_stride + c;
    if (dshift) dshift[o] += (float)q[0];
    if (dscale) dscale[o] += (float)q[1];
  }
};
// dgate += Σ dx·y, per (b, variant)
struct GateGrad {
  const float *dx, *y;
  float *dgate;
  int mod_stride, D;
  __device__ void load(int64_t r, int c, double q[1]) const { q[0] = (double)dx[r * D + c] * y[r * D + c]; }
  __device__ void store(int b, int v, int c, const double q[1]) const {
    dgate[((int64_t)b * 2 + v) * mod_stride + c] += (float)q[0];
  }
};

extern "C" void gpu_modulate_forward(const GpuCtx *cx, float *out, const float *in, const float *shift,
                                     const float *scale, const uint8_t *sel, int mod_stride, int B, int N, int D) {
  const int64_t total = (int64_t)B * N * D;
  if (total <= 0) return;
  modulate_fwd_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(out, in, shift, scale, sel, mod_stride, N,
                                                                         D, total);
  KERNEL_CHECK();
}

extern "C" void gpu_modulate_backward(const GpuCtx *cx, float *din, float *dshift, float *dscale, const float *dout,
                                      const float *in, const float *scale, const uint8_t *sel, int mod_stride, int B,
                                      int N, int D) {
  const int64_t total = (int64_t)B * N * D;
  if (total <= 0) return;
  if (din) {
    modulate_bwd_din_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(din, dout, scale, sel, mod_stride, N,
                                                                               D, total);
    KERNEL_CHECK();
  }
  if (dshift || dscale)
    colreduce<ModulateGrad, 2>(cx, ModulateGrad{dout, in, dshift, dscale, mod_stride, D}, sel, B, N, D);
}

extern "C" void gpu_gate_residual_forward(const GpuCtx *cx, float *x, const float *y, const float *gate,
                                          const uint8_t *sel, int mod_stride, int B, int N, int D) {
  const int64_t total = (int64_t)B * N * D;
  if (total <= 0) return;
  gate_fwd_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(x, y, gate, sel, mod_stride, N, D, total);
  KERNEL_CHECK();
}

extern "C" void gpu_gate_residual_backward(const GpuCtx *cx, float *dy, float *dgate, const float *dx,
                                           const float *y, const float *gate, const uint8_t *sel, int mod_stride,
                                           int B, int N, int D) {
  const int64_t total = (int64_t)B * N * D;
  if (total <= 0) return;
  if (dy) {
    gate_bwd_dy_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(dy, dx, gate, sel, mod_stride, N, D,
                                                                          total);
    KERNEL_CHECK();
  }
  if (gate && dgate) colreduce<GateGrad, 1>(cx, GateGrad{dx, y, dgate, mod_stride, D}, sel, B, N, D);
}
