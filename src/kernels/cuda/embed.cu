// Embeddings (kernels/cpu/embed.c) on the GPU: sinusoidal timestep embedding,
// token + learned position embedding, masked mean over the valid rows.
// The backward sums run in the CPU op's order (one thread per column walking
// the rows), so repeated tokens add up without atomics and the results match
// the CPU bit for bit where no multiply is fused.
#include <math.h>

#include "kernels/cuda/common.cuh"

// out[B,F]: cos(1000 t f_i) | sin(1000 t f_i), f_i = exp(-ln(10000) i/(F/2)), in double
__global__ void timestep_kernel(float *out, const float *t, int B, int F) {
  const int half = F / 2;
  GRID_STRIDE(e, (int64_t)B * (half > 0 ? half : 1)) {
    if (half == 0) break;
    const int b = (int)(e / half), i = (int)(e % half);
    const double arg = 1000.0 * (double)t[b] * exp(-log(10000.0) * i / half);
    out[(int64_t)b * F + i] = (float)cos(arg);
    out[(int64_t)b * F + half + i] = (float)sin(arg);
    if (F % 2 && i == 0) out[(int64_t)b * F + F - 1] = 0.0f;
  }
}

// out[B,L,D] = table[tokens[b,l]] + pos[l]
__global__ void embedding_fwd_kernel(float *out, const int32_t *tokens, const float *table, const float *pos, int L,
                                     int D, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t r = i / D, d = i % D;
    const float e = table[(int64_t)tokens[r] * D + d];
    out[i] = pos ? e + pos[(r % L) * D + d] : e;
  }
}

// dtable[tokens[r]] += dout[r]; dpos[r % L] += dout[r]; one thread per column, rows in order
__global__ void embedding_bwd_kernel(float *dtable, float *dpos, const float *dout, const int32_t *tokens, int64_t R,
                                     int L, int D) {
  const int d = blockIdx.x * blockDim.x + threadIdx.x;
  if (d >= D) return;
  for (int64_t r = 0; r < R; r++) {
    const float g = dout[r * D + d];
    if (dtable) dtable[(int64_t)tokens[r] * D + d] += g;
    if (dpos) dpos[(r % L) * D + d] += g;
  }
}

// out[B,D] = mean over l < nvalid[b] of in[b,l,:]
__global__ void masked_mean_fwd_kernel(float *out, const float *in, const int *nvalid, int B, int L, int D) {
  GRID_STRIDE(e, (int64_t)B * D) {
    const int64_t b = e / D, d = e % D;
    const int nv = nvalid ? nvalid[b] : L;
    float s = 0.0f;
    for (int l = 0; l < nv; l++) s += in[(b * L + l) * D + d];
    out[e] = s * (1.0f / (float)nv);
  }
}

// din[b,l,:] += dout[b,:] / nvalid[b] for l < nvalid[b]
__global__ void masked_mean_bwd_kernel(float *din, const float *dout, const int *nvalid, int L, int D, int64_t total) {
  GRID_STRIDE(i, total) {
    const int64_t d = i % D, bl = i / D, l = bl % L, b = bl / L;
    const int nv = nvalid ? nvalid[b] : L;
    if (l < nv) din[i] += dout[b * D + d] * (1.0f / (float)nv);
  }
}

extern "C" void gpu_timestep_embedding(const GpuCtx *cx, float *out, const float *t, int B, int F) {
  if (B <= 0 || F <= 0) return;
  if (F == 1) {
    gpu_fill_f32(cx, out, 0.0f, B);
    return;
  }
  timestep_kernel<<<blocks_for((int64_t)B * (F / 2), 256), 256, 0, stream_of(cx)>>>(out, t, B, F);
  KERNEL_CHECK();
}

extern "C" void gpu_embedding_forward(const GpuCtx *cx, float *out, const int32_t *tokens, const float *table,
                                      const float *pos, int B, int L, int D) {
  const int64_t total = (int64_t)B * L * D;
  if (total <= 0) return;
  embedding_fwd_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(out, tokens, table, pos, L, D, total);
  KERNEL_CHECK();
}

extern "C" void gpu_embedding_backward(const GpuCtx *cx, float *dtable, float *dpos, const float *dout,
                                       const int32_t *tokens, int B, int L, int D) {
  if ((int64_t)B * L * D <= 0 || (!dtable && !dpos)) return;
  embedding_bwd_kernel<<<(D + 127) / 128, 128, 0, stream_of(cx)>>>(dtable, dpos, dout, tokens, (int64_t)B * L, L, D);
  KERNEL_CHECK();
}

extern "C" void gpu_masked_mean_forward(const GpuCtx *cx, float *out, const float *in, const int *nvalid, int B,
                                        int L, int D) {
  if ((int64_t)B * D <= 0) return;
  masked_mean_fwd_kernel<<<blocks_for((int64_t)B * D, 256), 256, 0, stream_of(cx)>>>(out, in, nvalid, B, L, D);
  KERNEL_CHECK();
}

extern "C" void gpu_masked_mean_backward(const GpuCtx *cx, float *din, const float *dout, const int *nvalid, int B,
                                         int L, int D) {
  const int64_t total = (int64_t)B * L * D;
  if (total <= 0) return;
  masked_mean_bwd_kernel<<<blocks_for(total, 256), 256, 0, stream_of(cx)>>>(din, dout, nvalid, L, D, total);
  KERNEL_CHECK();
}
