// The video autoencoder's ops on the GPU (kernels/cuda_ops.h): 3D
// convolution (forward, backward data, backward weights + bias), GroupNorm,
// causal nearest upsampling and the Gaussian latent, with the math of
// kernels/cpu/{conv3d_ref,groupnorm,upsample,gauss}.c. Straightforward
// kernels, not tuned (cuDNN would be the fast path): gathers with one thread
// per output element, and one block per reduced value summing in double in a
// fixed order (deterministic, no atomics).
#include "kernels/cuda/common.cuh"

#define TSR_NORM_EPS 1e-6f     // as kernels/ops.h
#define TSR_LOGVAR_MIN -30.0f  // as kernels/ops.h
#define TSR_LOGVAR_MAX 20.0f

enum { RED_THREADS = 256 };

// Sum of v over the block (blockDim.x == RED_THREADS), valid in thread 0, fixed order.
__device__ double block_sum(double v) {
  __shared__ double part[RED_THREADS];
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = RED_THREADS / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  double r = part[0];
  __syncthreads();
  return r;
}

// The geometry by value, with the output sizes.
struct Geom {
  int n, c, d, h, w, o, kd, kh, kw, sd, sh, sw, pd, ph, pw, od, oh, ow;
};
static Geom geom(const Conv3dGeom *g) {
  return Geom{g->n,  g->c,  g->d,  g->h,     g->w,     g->o,     g->kd,          g->kh,          g->kw,
              g->sd, g->sh, g->sw, g->pd[0], g->ph[0], g->pw[0], conv3d_od(g), conv3d_oh(g), conv3d_ow(g)};
}

__global__ void conv_fwd_kernel(float *out, const float *in, const float *w, const float *b, Geom g) {
  const int64_t total = (int64_t)g.n * g.o * g.od * g.oh * g.ow;
  GRID_STRIDE(i, total) {
    int64_t r = i;
    const int x = r % g.ow; r /= g.ow;
    const int y = r % g.oh; r /= g.oh;
    const int t = r % g.od; r /= g.od;
    const int o = r % g.o;
    const int n = (int)(r / g.o);
    float s = b ? b[o] : 0.0f;
    for (int c = 0; c < g.c; c++)
      for (int a = 0; a < g.kd; a++) {
        const int it = t * g.sd + a - g.pd;
        if (it < 0 || it >= g.d) continue;
        for (int bb = 0; bb < g.kh; bb++) {
          const int iy = y * g.sh + bb - g.ph;
          if (iy < 0 || iy >= g.h) continue;
          for (int cc = 0; cc < g.kw; cc++) {
            const int ix = x * g.sw + cc - g.pw;
            if (ix < 0 || ix >= g.w) continue;
            s += w[((((int64_t)o * g.c + c) * g.kd + a) * g.kh + bb) * g.kw + cc] *
                 in[(((int64_t)n * g.c + c) * g.d + it) * g.h * g.w + (int64_t)iy * g.w + ix];
          }
        }
      }
    out[i] = s;
  }
}

// Output index along one axis that reads input index i through tap k, or -1.
__device__ __forceinline__ int out_of(int i, int k, int stride, int pad, int olen) {
  const int v = i + pad - k;
  if (v < 0 || v % stride) return -1;
  const int o = v / stride;
  return o < olen ? o : -1;
}

__global__ void conv_bwd_data_kernel(float *din, const float *dout, const float *w, Geom g) {
  const int64_t total = (int64_t)g.n * g.c * g.d * g.h * g.w;
  GRID_STRIDE(i, total) {
    int64_t r = i;
    const int x = r % g.w; r /= g.w;
    const int y = r % g.h; r /= g.h;
    const int t = r % g.d; r /= g.d;
    const int c = r % g.c;
    const int n = (int)(r / g.c);
    float s = 0.0f;
    for (int o = 0; o < g.o; o++)
      for (int a = 0; a < g.kd; a++) {
        const int ot = out_of(t, a, g.sd, g.pd, g.od);
        if (ot < 0) continue;
        for (int bb = 0; bb < g.kh; bb++) {
          const int oy = out_of(y, bb, g.sh, g.ph, g.oh);
          if (oy < 0) continue;
          for (int cc = 0; cc < g.kw; cc++) {
            const int ox = out_of(x, cc, g.sw, g.pw, g.ow);
            if (ox < 0) continue;
            s += w[((((int64_t)o * g.c + c) * g.kd + a) * g.kh + bb) * g.kw + cc] *
                 dout[(((int64_t)n * g.o + o) * g.od + ot) * g.oh * g.ow + (int64_t)oy * g.ow + ox];
          }
        }
      }
    din[i] += s;
  }
}

// One block per weight element (o, c, a, bb, cc): sum over samples and output sites.
__global__ void conv_bwd_weights_kernel(float *dw, const float *dout, const float *in, Geom g) {
  int64_t r = blockIdx.x;
  const int cc = r % g.kw; r /= g.kw;
  const int bb = r % g.kh; r /= g.kh;
  const int a = r % g.kd; r /= g.kd;
  const int c = r % g.c;
  const int o = (int)(r / g.c);
  const int64_t sites = (int64_t)g.od * g.oh * g.ow;
  double s = 0;
  for (int64_t j = threadIdx.x; j < (int64_t)g.n * sites; j += blockDim.x) {
    const int n = (int)(j / sites);
    const int64_t q = j % sites;
    const int t = (int)(q / ((int64_t)g.oh * g.ow)), y = (int)(q / g.ow % g.oh), x = (int)(q % g.ow);
    const int it = t * g.sd + a - g.pd, iy = y * g.sh + bb - g.ph, ix = x * g.sw + cc - g.pw;
    if (it < 0 || it >= g.d || iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
    s += (double)dout[((int64_t)n * g.o + o) * sites + q] *
         in[(((int64_t)n * g.c + c) * g.d + it) * g.h * g.w + (int64_t)iy * g.w + ix];
  }
  s = block_sum(s);
  if (threadIdx.x == 0) dw[blockIdx.x] += (float)s;
}

// One block per output channel: db[o] += sum dout.
__global__ void conv_bwd_bias_kernel(float *db, const float *dout, Geom g) {
  const int o = blockIdx.x;
  const int64_t sites = (int64_t)g.od * g.oh * g.ow;
  double s = 0;
  for (int64_t j = threadIdx.x; j < (int64_t)g.n * sites; j += blockDim.x)
    s += dout[((int64_t)(j / sites) * g.o + o) * sites + j % sites];
  s = block_sum(s);
  if (threadIdx.x == 0) db[o] += (float)s;
}

extern "C" void gpu_conv3d_forward(const GpuCtx *cx, float *out, const float *in, const float *w, const float *b,
                                   const Conv3dGeom *g) {
  const Geom G = geom(g);
  const int64_t n = (int64_t)G.n * G.o * G.od * G.oh * G.ow;
  conv_fwd_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(out, in, w, b, G);
  KERNEL_CHECK();
}

extern "C" void gpu_conv3d_backward_data(const GpuCtx *cx, float *din, const float *dout, const float *w,
                                         const Conv3dGeom *g) {
  if (!din) return;
  const Geom G = geom(g);
  const int64_t n = (int64_t)G.n * G.c * G.d * G.h * G.w;
  conv_bwd_data_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(din, dout, w, G);
  KERNEL_CHECK();
}

extern "C" void gpu_conv3d_backward_weights(const GpuCtx *cx, float *dw, float *db, const float *dout,
                                            const float *in, const Conv3dGeom *g) {
  const Geom G = geom(g);
  if (dw) {
    const int64_t nw = (int64_t)G.o * G.c * G.kd * G.kh * G.kw;
    conv_bwd_weights_kernel<<<(unsigned)nw, RED_THREADS, 0, stream_of(cx)>>>(dw, dout, in, G);
    KERNEL_CHECK();
  }
  if (db) {
    conv_bwd_bias_kernel<<<G.o, RED_THREADS, 0, stream_of(cx)>>>(db, dout, G);
    KERNEL_CHECK();
  }
}

// ---------------------------------------------------------------- GroupNorm (frame-wise)
// Element i < (C/G) S of the block (n, g, t): channel g*cg + i/S, site i%S.
__device__ __forceinline__ int64_t gn_at(int n, int c, int t, int64_t s, int C, int T, int S) {
  return (((int64_t)n * C + c) * T + t) * S + s;
}

// One block per (n, g, t).
__global__ void gn_fwd_kernel(float *out, float *mean, float *rstd, const float *in, const float *w, const float *b,
                              int C, int T, int S, int G) {
  const int ngt = blockIdx.x, t = ngt % T, g = ngt / T % G, n = ngt / (T * G), cg = C / G;
  const int64_t m = (int64_t)cg * S;
  double s = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) s += in[gn_at(n, g * cg + (int)(i / S), t, i % S, C, T, S)];
  const double mu = block_sum(s) / (double)m;
  double q = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const double d = in[gn_at(n, g * cg + (int)(i / S), t, i % S, C, T, S)] - mu;
    q += d * d;
  }
  const float r = (float)(1.0 / sqrt(block_sum(q) / (double)m + TSR_NORM_EPS)), muf = (float)mu;
  if (threadIdx.x == 0) {
    if (mean) mean[ngt] = muf;
    if (rstd) rstd[ngt] = r;
  }
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int c = g * cg + (int)(i / S);
    const int64_t k = gn_at(n, c, t, i % S, C, T, S);
    out[k] = (in[k] - muf) * r * w[c] + b[c];
  }
}

__global__ void gn_bwd_data_kernel(float *din, const float *dout, const float *in, const float *w, const float *mean,
                                   const float *rstd, int C, int T, int S, int G) {
  const int ngt = blockIdx.x, t = ngt % T, g = ngt / T % G, n = ngt / (T * G), cg = C / G;
  const int64_t m = (int64_t)cg * S;
  const float mu = mean[ngt], r = rstd[ngt];
  double sg = 0, sgx = 0;
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int c = g * cg + (int)(i / S);
    const int64_t k = gn_at(n, c, t, i % S, C, T, S);
    const double gr = (double)dout[k] * w[c];
    sg += gr;
    sgx += gr * (in[k] - mu) * r;
  }
  const float a = (float)(block_sum(sg) / (double)m), bb = (float)(block_sum(sgx) / (double)m);
  for (int64_t i = threadIdx.x; i < m; i += blockDim.x) {
    const int c = g * cg + (int)(i / S);
    const int64_t k = gn_at(n, c, t, i % S, C, T, S);
    din[k] += r * (dout[k] * w[c] - a - (in[k] - mu) * r * bb);
  }
}

// One block per channel c: dw[c] += sum dout xhat, db[c] += sum dout over samples, frames and sites.
__global__ void gn_bwd_param_kernel(float *dw, float *db, const float *dout, const float *in, const float *mean,
                                    const float *rstd, int N, int C, int T, int S, int G) {
  const int c = blockIdx.x, cg = C / G;
  const int64_t per = (int64_t)T * S;
  double aw = 0, ab = 0;
  for (int64_t j = threadIdx.x; j < (int64_t)N * per; j += blockDim.x) {
    const int n = (int)(j / per), t = (int)(j % per / S);
    const int64_t k = gn_at(n, c, t, j % S, C, T, S);
    const int ngt = (n * G + c / cg) * T + t;
    aw += (double)dout[k] * (in[k] - mean[ngt]) * rstd[ngt];
    ab += dout[k];
  }
  aw = block_sum(aw);
  ab = block_sum(ab);
  if (threadIdx.x == 0) {
    if (dw) dw[c] += (float)aw;
    if (db) db[c] += (float)ab;
  }
}

extern "C" void gpu_groupnorm_forward(const GpuCtx *cx, float *out, float *mean, float *rstd, const float *in,
                                      const float *w, const float *b, int N, int C, int T, int S, int G) {
  gn_fwd_kernel<<<N * G * T, RED_THREADS, 0, stream_of(cx)>>>(out, mean, rstd, in, w, b, C, T, S, G);
  KERNEL_CHECK();
}

extern "C" void gpu_groupnorm_backward(const GpuCtx *cx, float *din, float *dw, float *db, const float *dout,
                                       const float *in, const float *w, const float *mean, const float *rstd, int N,
                                       int C, int T, int S, int G) {
  if (din) {
    gn_bwd_data_kernel<<<N * G * T, RED_THREADS, 0, stream_of(cx)>>>(din, dout, in, w, mean, rstd, C, T, S, G);
    KERNEL_CHECK();
  }
  if (dw || db) {
    gn_bwd_param_kernel<<<C, RED_THREADS, 0, stream_of(cx)>>>(dw, db, dout, in, mean, rstd, N, C, T, S, G);
    KERNEL_CHECK();
  }
}

// ---------------------------------------------------------------- causal nearest upsampling
__global__ void up_fwd_kernel(float *out, const float *in, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = 1 + (D - 1) * sd, OH = H * sh, OW = W * sw;
  GRID_STRIDE(i, (int64_t)NC * OD * OH * OW) {
    int64_t r = i;
    const int x = r % OW; r /= OW;
    const int y = r % OH; r /= OH;
    const int t = r % OD;
    const int64_t c = r / OD;
    out[i] = in[((c * D + (t + sd - 1) / sd) * H + y / sh) * W + x / sw];
  }
}

__global__ void up_bwd_kernel(float *din, const float *dout, int NC, int D, int H, int W, int sd, int sh, int sw) {
  const int OD = 1 + (D - 1) * sd, OH = H * sh, OW = W * sw;
  GRID_STRIDE(i, (int64_t)NC * D * H * W) {
    int64_t r = i;
    const int x = r % W; r /= W;
    const int y = r % H; r /= H;
    const int d = r % D;
    const int64_t c = r / D;
    const int t0 = d == 0 ? 0 : (d - 1) * sd + 1, t1 = d * sd;
    float s = 0.0f;
    for (int t = t0; t <= t1; t++)
      for (int a = 0; a < sh; a++)
        for (int k = 0; k < sw; k++) s += dout[((c * OD + t) * OH + (int64_t)y * sh + a) * OW + (int64_t)x * sw + k];
    din[i] += s;
  }
}

extern "C" void gpu_upsample3d_forward(const GpuCtx *cx, float *out, const float *in, int NC, int D, int H, int W,
                                       int sd, int sh, int sw) {
  const int64_t n = (int64_t)NC * (1 + (D - 1) * sd) * H * sh * W * sw;
  up_fwd_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(out, in, NC, D, H, W, sd, sh, sw);
  KERNEL_CHECK();
}

extern "C" void gpu_upsample3d_backward(const GpuCtx *cx, float *din, const float *dout, int NC, int D, int H, int W,
                                        int sd, int sh, int sw) {
  const int64_t n = (int64_t)NC * D * H * W;
  up_bwd_kernel<<<blocks_for(n, 256), 256, 0, stream_of(cx)>>>(din, dout, NC, D, H, W, sd, sh, sw);
  KERNEL_CHECK();
}

// ---------------------------------------------------------------- Gaussian latent
__device__ __forceinline__ float clamp_lv(float lv) { return fminf(fmaxf(lv, TSR_LOGVAR_MIN), TSR_LOGVAR_MAX); }

__global__ void gauss_z_kernel(float *z, const float *moments, const float *eps, int N, int64_t cs) {
  GRID_STRIDE(i, (int64_t)N * cs) {
    const int64_t n = i / cs, j = i % cs;
    const float mu = moments[n * 2 * cs + j], lv = clamp_lv(moments[n * 2 * cs + cs + j]);
    z[i] = eps ? mu + expf(0.5f * lv) * eps[i] : mu;
  }
}

__global__ void gauss_kl_kernel(float *kl, const float *moments, int N, int64_t cs) {
  double s = 0;
  for (int64_t i = threadIdx.x; i < (int64_t)N * cs; i += blockDim.x) {
    const int64_t n = i / cs, j = i % cs;
    const double mu = moments[n * 2 * cs + j], lv = clamp_lv(moments[n * 2 * cs + cs + j]);
    s += 0.5 * (mu * mu + exp(lv) - 1.0 - lv);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) *kl = (float)(s / ((double)N * cs));
}

__global__ void gauss_bwd_kernel(float *dmoments, const float *dz, float k, const float *moments, const float *eps,
                                 int N, int64_t cs) {
  GRID_STRIDE(i, (int64_t)N * cs) {
    const int64_t n = i / cs, j = i % cs, im = n * 2 * cs + j, il = im + cs;
    const float mu = moments[im], lvr = moments[il], lv = clamp_lv(lvr);
    float gm = k * mu, gl = 0.5f * k * (expf(lv) - 1.0f);
    if (dz) {
      gm += dz[i];
      if (eps) gl += dz[i] * 0.5f * expf(0.5f * lv) * eps[i];
    }
    dmoments[im] += gm;
    if (lvr >= TSR_LOGVAR_MIN && lvr <= TSR_LOGVAR_MAX) dmoments[il] += gl;
  }
}

extern "C" void gpu_gauss_sample_forward(const GpuCtx *cx, float *z, float *kl, const float *moments,
                                         const float *eps, int N, int C, int S) {
  const int64_t cs = (int64_t)C * S;
  if (z) {
    gauss_z_kernel<<<blocks_for(N * cs, 256), 256, 0, stream_of(cx)>>>(z, moments, eps, N, cs);
    KERNEL_CHECK();
  }
  if (kl) {
    gauss_kl_kernel<<<1, RED_THREADS, 0, stream_of(cx)>>>(kl, moments, N, cs);
    KERNEL_CHECK();
  }
}

extern "C" void gpu_gauss_sample_backward(const GpuCtx *cx, float *dmoments, const float *dz, float kl_weight,
                                          const float *moments, const float *eps, int N, int C, int S) {
  const int64_t cs = (int64_t)C * S;
  const float k = (float)(kl_weight / ((double)N * cs));
  gauss_bwd_kernel<<<blocks_for(N * cs, 256), 256, 0, stream_of(cx)>>>(dmoments, dz, k, moments, eps, N, cs);
  KERNEL_CHECK();
}
